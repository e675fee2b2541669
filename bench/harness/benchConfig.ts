/**
 * The configuration a benchmark script runs with (every script of bench/, and db:seed): read once from the environment like the service's, a problem
 * reported through the script's own `fail`; never in production, and, when `embeddedOnly` says
 * why, never against DATABASE_URL (the script needs the embedded server of DATA_DIR).
 */
import { ConfigError, loadConfig, type Config } from "../../src/config.ts";

export function loadBenchConfig(fail: (message: string) => never, embeddedOnly?: string): Config {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.problems.join("; "));
    throw error;
  }
  if (config.isProduction) fail("refuses to run with NODE_ENV=production");
  if (embeddedOnly !== undefined && config.database.url)
    fail(`${embeddedOnly}: unset DATABASE_URL`);
  return config;
}
