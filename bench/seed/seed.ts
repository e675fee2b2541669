/**
 * Runs the seed plan (bench/seed/plan.ts) against a migrated database: triggers off while
 * writing (no jobs or notifications for made-up history), one statement per chunk of rows,
 * then VACUUM ANALYZE so the planner knows the data before anyone measures it.
 *
 * Bulk loading is quicker into fewer indexes: the non-unique ones are dropped first and built
 * again at the end (unique ones stay: they keep the data valid). With a superuser connection
 * the session runs as a replica (`session_replication_role`), which also skips foreign-key
 * checks — the plan only refers to rows it made; as the owner, only user triggers are off.
 */
import pg from "pg";

import { databaseNameOf, withUrlParts } from "../../src/db/urls.ts";

import { progressBar, type ProgressBar } from "./progress.ts";
import {
  CHUNK,
  countsFor,
  SEED_PASSWORD,
  SEEDED_TABLES,
  seedSteps,
  SESSION_SETUP,
  type Counts,
} from "./plan.ts";

export interface SeedOptions {
  ownerUrl: string;
  /** A superuser URL to the same server (any database), when there is one: faster loading. */
  rootUrl?: string | null;
  scale: number;
  /** Empty the seeded tables first; without it, a database that has users is refused. */
  reset?: boolean;
  /** Where the progress bar goes (default: stderr). */
  progress?: ProgressBar;
}

export interface SeedSummary {
  scale: number;
  counts: Counts;
  /** Rows per table after seeding. */
  rows: Record<string, number>;
  /** Seconds spent on each step of the plan. */
  steps: Record<string, number>;
  seconds: number;
}

export class SeedRefusedError extends Error {
  override name = "SeedRefusedError";
}

/** Chunks of [first, last] indexes covering 1..rows. */
function chunks(rows: number): [number, number][] {
  const out: [number, number][] = [];
  for (let first = 1; first <= rows; first += CHUNK) {
    out.push([first, Math.min(rows, first + CHUNK - 1)]);
  }
  return out;
}

async function setTriggers(client: pg.Client, enabled: boolean): Promise<void> {
  for (const table of SEEDED_TABLES) {
    await client.query(
      `alter table app_public.${pg.escapeIdentifier(table)} ${enabled ? "enable" : "disable"} trigger user`,
    );
  }
}

/** Drops the seeded tables' non-unique indexes; returns the statements that rebuild them. */
async function dropSecondaryIndexes(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
       from pg_index i
      where i.indrelid = any ($1::regclass[]) and not i.indisunique
        and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`,
    [SEEDED_TABLES.map((t) => `app_public.${t}`)],
  );
  for (const { name } of rows) await client.query(`drop index ${name}`);
  return rows.map((r) => r.definition);
}

export async function seedDatabase(options: SeedOptions): Promise<SeedSummary> {
  const started = Date.now();
  const counts = countsFor(options.scale);
  const steps = seedSteps(counts);
  const asRoot = options.rootUrl
    ? withUrlParts(options.rootUrl, { database: databaseNameOf(options.ownerUrl) })
    : null;
  const client = new pg.Client({ connectionString: asRoot ?? options.ownerUrl });
  await client.connect();
  try {
    const { rows: existing } = await client.query<{ n: string }>(
      "select count(*) as n from app_public.users",
    );
    if (Number(existing[0]?.n) > 0) {
      if (!options.reset) {
        throw new SeedRefusedError(
          `the database already has ${existing[0]?.n} users; pass --reset to empty it first`,
        );
      }
      await client.query(
        `truncate ${SEEDED_TABLES.map((t) => `app_public.${t}`).join(", ")} cascade`,
      );
      await client.query("delete from graphile_worker._private_jobs");
    }

    await client.query(SESSION_SETUP);
    const { rows: hash } = await client.query<{ hash: string }>(
      "select public.crypt($1, public.gen_salt('bf', 6)) as hash",
      [SEED_PASSWORD],
    );
    const work = steps.map((s) => s.rows ?? 1).reduce((a, b) => a + b, 0);
    const bar = options.progress ?? progressBar(work);
    const stepSeconds: Record<string, number> = {};
    const timed = async (label: string, run: () => Promise<unknown>): Promise<void> => {
      const t0 = performance.now();
      await run();
      stepSeconds[label] = (stepSeconds[label] ?? 0) + (performance.now() - t0) / 1000;
    };
    if (asRoot) await client.query("set session_replication_role = replica");
    else await setTriggers(client, false);
    const rebuild = await dropSecondaryIndexes(client);
    try {
      for (const step of steps) {
        if (step.rows === undefined) {
          bar.label(step.label);
          await timed(step.label, () => client.query(step.sql));
          bar.advance(1);
          continue;
        }
        const params = (step.params ?? []).map((p) =>
          p === "<password hash>" ? hash[0]?.hash : p,
        );
        for (const [first, last] of chunks(step.rows)) {
          bar.label(step.label);
          await timed(step.label, () => client.query(step.sql, [first, last, ...params]));
          bar.advance(last - first + 1);
        }
      }
    } finally {
      if (asRoot) await client.query("set session_replication_role = default");
      else await setTriggers(client, true);
      bar.label("indexes");
      await timed("indexes", async () => {
        for (const definition of rebuild) await client.query(definition);
      });
    }
    bar.label("vacuum analyze");
    await timed("vacuum analyze", async () => {
      for (const table of SEEDED_TABLES) {
        await client.query(`vacuum (analyze) app_public.${pg.escapeIdentifier(table)}`);
      }
      await client.query("vacuum (analyze) app_private.direct_conversations");
    });
    bar.done();

    const rows: Record<string, number> = {};
    for (const table of SEEDED_TABLES) {
      const { rows: r } = await client.query<{ n: string }>(
        `select count(*) as n from app_public.${pg.escapeIdentifier(table)}`,
      );
      rows[table] = Number(r[0]?.n ?? 0);
    }
    return {
      scale: options.scale,
      counts,
      rows,
      steps: stepSeconds,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await client.end();
  }
}
