/**
 * Stable codes for errors raised before execution: a query that does not parse gets
 * `GRAPHQL_PARSE_FAILED`, one that does not validate (unknown field, bad argument type, too
 * deep, ...) `GRAPHQL_VALIDATION_FAILED`. Errors from execution get theirs in src/errors.ts.
 */
import "postgraphile";
import { GraphQLError } from "postgraphile/graphql";

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code },
  });
}

export const ErrorCodesPlugin: GraphileConfig.Plugin = {
  name: "MkingErrorCodesPlugin",
  version: "1.0.0",
  grafserv: {
    middleware: {
      setPreset(next, event) {
        const getExecutionConfig = event.getExecutionConfig;
        event.getExecutionConfig = async function (ctx) {
          const config = await getExecutionConfig.call(this, ctx);
          const parseAndValidate: typeof config.parseAndValidate = (query) => {
            const result = config.parseAndValidate(query);
            if (!result.errors) return result;
            // graphql-js names its parse errors "Syntax Error: ..."; everything else is validation.
            const codeFor = (e: GraphQLError): string =>
              e.message.startsWith("Syntax Error")
                ? "GRAPHQL_PARSE_FAILED"
                : "GRAPHQL_VALIDATION_FAILED";
            return { ...result, errors: result.errors.map((e) => withCode(e, codeFor(e))) };
          };
          return { ...config, parseAndValidate };
        };
        return next();
      },
    },
  },
};
