/**
 * Stable codes for errors raised before execution: a query that does not parse gets
 * `GRAPHQL_PARSE_FAILED`, one that does not validate (unknown field, bad argument type, too
 * deep, ...) `GRAPHQL_VALIDATION_FAILED`. Errors from execution get theirs in src/errors.ts.
 * A document that exhausts the stack while it is parsed or validated (graphql-js recurses; the
 * request guards refuse deep nesting before this, plugins/requestGuards.ts) is refused as
 * `QUERY_TOO_COMPLEX` rather than left to grafserv's uncoded 500; any other exception goes on
 * to the net of plugins/unexpectedErrors.ts.
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

/** The refusal of a document whose checking ran out of stack. */
export function tooDeepToCheck(): GraphQLError {
  return new GraphQLError("The query is nested too deeply to be checked.", {
    extensions: { code: "QUERY_TOO_COMPLEX", limit: "nesting" },
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
            let result: ReturnType<typeof config.parseAndValidate>;
            try {
              result = config.parseAndValidate(query);
            } catch (error) {
              if (!(error instanceof RangeError)) throw error;
              return { errors: [tooDeepToCheck()] };
            }
            if (!result.errors) return result;
            // graphql-js names its parse errors "Syntax Error: ..."; everything else is validation;
            // grafserv hands back what its parser threw, a stack overflow included
            const coded = (e: GraphQLError): GraphQLError =>
              (e as unknown) instanceof RangeError || e.originalError instanceof RangeError
                ? tooDeepToCheck()
                : withCode(
                    e,
                    e.message.startsWith("Syntax Error")
                      ? "GRAPHQL_PARSE_FAILED"
                      : "GRAPHQL_VALIDATION_FAILED",
                  );
            return { ...result, errors: result.errors.map(coded) };
          };
          return { ...config, parseAndValidate };
        };
        return next();
      },
    },
  },
};
