/**
 * A mutation load in SQL, as the API runs it: each transaction sets the role and claims
 * PostGraphile would (src/auth/request.ts pgSettingsFor, a live bench session), then calls the
 * mutation's function — add_comment, or like_post then unlike_post — as a seeded author on one
 * of their own posts. `clients` connections, each as fast as it can, until `stop()`.
 */
import pg from "pg";

import { pgSettingsFor } from "../../src/auth/request.ts";
import { benchSessionId, ensureBenchSessions } from "./sessions.ts";

export interface WriteLoadResult {
  transactions: number;
  errors: number;
  /** The first error's message, if any. */
  firstError: string | null;
  seconds: number;
}

export interface WriteLoad {
  /** Stops the clients after their current transaction. */
  stop(): Promise<WriteLoadResult>;
}

interface Target {
  postId: string;
  authorId: string;
}

async function pickTargets(ownerUrl: string, count: number): Promise<Target[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ post_id: string; author_id: string }>(
      `select p.id as post_id, p.author_id
         from app_public.posts p join app_public.users u on u.id = p.author_id
        where u.status = 'active' and p.deleted_at is null and p.group_id is null
        order by random() limit $1`,
      [count],
    );
    if (rows.length === 0) throw new Error("the data set has no posts to comment on: seed it");
    return rows.map((r) => ({ postId: r.post_id, authorId: r.author_id }));
  } finally {
    await client.end();
  }
}

export async function startWriteLoad(o: {
  ownerUrl: string;
  authUrl: string;
  clients: number;
}): Promise<WriteLoad> {
  await ensureBenchSessions(o.ownerUrl);
  const targets = await pickTargets(o.ownerUrl, 500);
  const started = Date.now();
  let running = true;
  let transactions = 0;
  let errors = 0;
  let firstError: string | null = null;
  const connections = await Promise.all(
    Array.from({ length: o.clients }, async () => {
      const client = new pg.Client({
        connectionString: o.authUrl,
        application_name: "bench-backup-load",
      });
      client.on("error", () => undefined);
      await client.connect();
      return client;
    }),
  );
  const loop = async (client: pg.Client, n: number): Promise<void> => {
    for (let i = n; running; i += o.clients) {
      const t = targets[i % targets.length]!;
      const settings = pgSettingsFor(
        { userId: t.authorId, sessionId: benchSessionId(t.authorId), expiresAt: new Date() },
        { statementTimeoutMs: 10_000 },
      );
      try {
        await client.query("begin");
        await client.query(
          "select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el",
          [JSON.stringify(Object.entries(settings))],
        );
        if (i % 2 === 0) {
          await client.query("select id from app_public.add_comment($1, $2)", [
            t.postId,
            `backup benchmark comment ${i}`,
          ]);
        } else {
          await client.query("select id from app_public.like_post($1)", [t.postId]);
          await client.query("select id from app_public.unlike_post($1)", [t.postId]);
        }
        await client.query("commit");
        transactions++;
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  const loops = connections.map((client, n) => loop(client, n));
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
      return { transactions, errors, firstError, seconds: (Date.now() - started) / 1000 };
    },
  };
}
