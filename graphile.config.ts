/**
 * The PostGraphile preset: which database schema becomes the API, with which plugins and
 * options. One function, so the server, the tests and the schema export build the same API.
 */
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

import { ErrorCodesPlugin } from "./plugins/errorCodes.ts";
import { InflectionPlugin } from "./plugins/inflection.ts";
import { ANONYMOUS_ROLE } from "./src/db/roles.ts";
import { createMaskError } from "./src/errors.ts";
import type { Logger } from "./src/log.ts";

export interface PresetOptions {
  /** A pool of authenticator connections: PostGraphile never connects as the owner. */
  authPool: pg.Pool;
  isProduction: boolean;
  graphiql: boolean;
  /** Include the plan and SQL in responses (`extensions.explain`); never in production. */
  explain: boolean;
  log: Logger;
}

export function makePreset(options: PresetOptions): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    // Rows are addressed by their UUID `id`; no Relay global ids to translate.
    disablePlugins: ["NodePlugin"],
    plugins: [InflectionPlugin, ErrorCodesPlugin],
    pgServices: [
      makePgService({
        pool: options.authPool,
        schemas: ["app_public"],
        pubsub: true,
      }),
    ],
    grafast: {
      explain: options.explain && !options.isProduction,
      context: () => ({ pgSettings: { role: ANONYMOUS_ROLE } }),
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: options.graphiql,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      websockets: true,
      maxRequestLength: 100_000,
      maskError: createMaskError({ exposeInternalErrors: !options.isProduction, log: options.log }),
    },
    schema: {
      // The committed schema.graphql is written by `npm run schema:export`, not at start-up.
      pgForbidSetofFunctionsToReturnNull: true,
    },
  };
}
