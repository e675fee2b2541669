/**
 * Request guards on every GraphQL operation (HTTP and websockets):
 *
 * - before validation: limits on the document's tokens, aliases, selections and directives
 *   (src/graphql/shape.ts), wrapped around grafserv's `parseAndValidate`, which both the HTTP
 *   handler and the websocket server (makeGraphQLWSConfig) call;
 * - during validation: a depth limit and, unless enabled, no introspection;
 * - before execution: input values PostgreSQL can never accept — a NUL character, a negative
 *   offset (src/graphql/inputs.ts) — then default and maximum page sizes and a cost limit
 *   (src/graphql/limits.ts), checked with the request's variables.
 *
 * The request body size limit is grafserv's `maxRequestLength` and the statement timeout a
 * per-request `pgSettings` entry (graphile.config.ts).
 */
import "postgraphile";
import { NoSchemaIntrospectionCustomRule } from "postgraphile/graphql";

import { refuseImpossibleInputs } from "../src/graphql/inputs.ts";
import { depthLimitRule, limitOperation, type OperationLimits } from "../src/graphql/limits.ts";
import { makeShapeGuard, type ShapeLimits } from "../src/graphql/shape.ts";

export interface RequestGuardOptions extends OperationLimits, ShapeLimits {
  introspection: boolean;
}

export function makeRequestGuardsPlugin(options: RequestGuardOptions): GraphileConfig.Plugin {
  return {
    name: "MkingRequestGuardsPlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        setPreset(next, event) {
          const shapeGuard = makeShapeGuard(options);
          event.validationRules.push(depthLimitRule(options.maxDepth));
          if (!options.introspection) event.validationRules.push(NoSchemaIntrospectionCustomRule);

          const getExecutionConfig = event.getExecutionConfig;
          event.getExecutionConfig = async function (ctx) {
            const config = await getExecutionConfig.call(this, ctx);
            const parseAndValidate: typeof config.parseAndValidate = (query) => {
              const refused = shapeGuard(query);
              return refused ? { errors: [refused] } : config.parseAndValidate(query);
            };
            const guard = <T extends Parameters<typeof config.execute>[0]>(args: T) =>
              refuseImpossibleInputs(args.document, args.operationName, args.variableValues) ??
              limitOperation(
                args.schema,
                args.document,
                args.operationName,
                args.variableValues,
                options,
              );
            const execute: typeof config.execute = (args) => {
              const limited = guard(args);
              if (!limited.ok) return { errors: [limited.error] };
              return config.execute({
                ...args,
                document: limited.document,
                variableValues: limited.variableValues,
              });
            };
            const subscribe: typeof config.subscribe = (args) => {
              const limited = guard(args);
              if (!limited.ok) return { errors: [limited.error] };
              return config.subscribe({
                ...args,
                document: limited.document,
                variableValues: limited.variableValues,
              });
            };
            return { ...config, parseAndValidate, execute, subscribe };
          };
          return next();
        },
      },
    },
  };
}
