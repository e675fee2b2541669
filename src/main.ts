/**
 * Entry point of `npm start` / `npm run server` / `npm run worker`.
 *
 * Reads the configuration first (a bad value stops here with one line per variable), sets
 * GRAPHILE_ENV from NODE_ENV before Grafast loads (it reads it once, at import), then starts
 * the service.
 */
import { ConfigError, loadConfig, type Config } from "./config.ts";

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
  process.exit(1);
}
process.env.GRAPHILE_ENV ??= config.isProduction ? "production" : "development";

const { MODES, runService } = await import("./service.ts");
const mode = process.argv[2] ?? "all";
const known = MODES.find((m) => m === mode);
if (!known) {
  process.stderr.write(`usage: node src/main.ts [${MODES.join("|")}]\n`);
  process.exit(2);
}
await runService(known, config);
