/**
 * Request guards on every GraphQL operation (HTTP and websockets): a depth limit and, unless
 * enabled, no introspection (validation rules); default and maximum page sizes and a cost
 * limit (src/graphql/limits.ts), checked with the request's variables before execution.
 * The request body size limit is grafserv's `maxRequestLength` and the statement timeout a
 * per-request `pgSettings` entry (graphile.config.ts).
 */
import "postgraphile";
import { NoSchemaIntrospectionCustomRule } from "postgraphile/graphql";

import { depthLimitRule, limitOperation, type OperationLimits } from "../src/graphql/limits.ts";

export interface RequestGuardOptions extends OperationLimits {
  introspection: boolean;
}

export function makeRequestGuardsPlugin(options: RequestGuardOptions): GraphileConfig.Plugin {
  return {
    name: "MkingRequestGuardsPlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        setPreset(next, event) {
          event.validationRules.push(depthLimitRule(options.maxDepth));
          if (!options.introspection) event.validationRules.push(NoSchemaIntrospectionCustomRule);

          const getExecutionConfig = event.getExecutionConfig;
          event.getExecutionConfig = async function (ctx) {
            const config = await getExecutionConfig.call(this, ctx);
            const guard = <T extends Parameters<typeof config.execute>[0]>(args: T) =>
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
            return { ...config, execute, subscribe };
          };
          return next();
        },
      },
    },
  };
}
