/**
 * The raw-SQL baseline: a minimal HTTP server with `pg` that answers each benchmark scenario
 * with its hand-written SQL (bench/scenarios.ts). It does what our server must do and nothing
 * else: verify the same JWT (src/auth/tokens.ts), then in one transaction apply the same
 * settings PostGraphile applies (role, jwt.claims.*, statement_timeout: src/auth/request.ts)
 * and run the statement, on a pool of the same size, as the same authenticator role.
 *
 *   POST /<scenario>          body {"params": [...]}  →  {"data": ...}
 *   POST /<scenario>?explain  the same, answering EXPLAIN (ANALYZE, BUFFERS) of each statement
 *
 * Run as a child process by the benchmark: `node bench/raw/server.ts` with the service's
 * environment (AUTH_DATABASE_URL, the JWT settings) plus RAW_PORT.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

import pg from "pg";

import { pgSettingsFor } from "../../src/auth/request.ts";
import { InvalidTokenError } from "../../src/auth/tokens.ts";
import { loadConfig } from "../../src/config.ts";
import { tokenServiceFor } from "../../src/server.ts";
import { SCENARIOS } from "../scenarios.ts";

const config = loadConfig();
const tokens = tokenServiceFor(config);
if (!config.database.authUrl) throw new Error("AUTH_DATABASE_URL is required");
const pool = new pg.Pool({
  connectionString: config.database.authUrl,
  max: 10,
  application_name: "bench-raw",
});
pool.on("error", () => undefined);
const byName = new Map(SCENARIOS.map((s) => [s.name, s]));

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function runStatement(
  settings: Record<string, string>,
  sql: string,
  params: unknown[],
  explain: boolean,
): Promise<unknown> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(
      "select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el",
      [JSON.stringify(Object.entries(settings))],
    );
    const result = explain
      ? await client.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers) ${sql}`, params)
      : await client.query<{ data: unknown }>(sql, params);
    await client.query("commit");
    return explain
      ? result.rows.map((r) => (r as { "QUERY PLAN": string })["QUERY PLAN"]).join("\n")
      : (result.rows[0] as { data: unknown } | undefined)?.data;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://raw");
  const scenario = byName.get(url.pathname.slice(1));
  if (req.method !== "POST" || !scenario) return send(res, 404, { error: "no such scenario" });
  const header = req.headers.authorization;
  const token = header?.startsWith("Bearer ") ? header.slice(7) : null;
  let identity;
  try {
    identity = token ? tokens.verify(token) : undefined;
  } catch (error) {
    if (error instanceof InvalidTokenError) return send(res, 401, { error: error.message });
    throw error;
  }
  const { params } = JSON.parse(await readBody(req)) as { params: unknown[] };
  const settings = pgSettingsFor(identity, { statementTimeoutMs: config.api.statementTimeoutMs });
  const statements = Array.isArray(scenario.raw.sql) ? scenario.raw.sql : [scenario.raw.sql];
  const explain = url.searchParams.has("explain");
  const results: unknown[] = [];
  for (const sql of statements) {
    results.push(await runStatement(settings, sql, params, explain));
  }
  send(res, 200, explain ? { explain: results } : { data: results.at(-1) });
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    send(res, 500, { error: error instanceof Error ? error.message : String(error) });
  });
});
server.keepAliveTimeout = 60_000;
const port = Number(process.env.RAW_PORT ?? 0);
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  // The parent waits for this line to know the port.
  process.stdout.write(
    `raw server listening ${typeof address === "object" && address ? address.port : port}\n`,
  );
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
