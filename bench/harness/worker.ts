/**
 * The worker under load, read from its Prometheus endpoint (src/metrics.ts) and from the queue:
 *
 * - throughput: jobs completed per second per task while the mutation scenarios run, and how
 *   long the queue takes to drain after them;
 * - like → notification: a like through the API, timed until the author's notification is
 *   announced (`pg_notify` on `user:<author>:notifications`, which the notification insert or
 *   coalescing update sends), for distinct authors, a few at a time.
 */
import { performance } from "node:perf_hooks";

import pg from "pg";

import { LatencyHistogram, round, type Percentiles } from "./stats.ts";

/** Completed jobs per task, from the worker's /metrics. */
export async function completedJobs(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^mking_worker_jobs_completed_total\{task="([^"]+)"\} (\d+(?:\.\d+)?)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

export interface Throughput {
  seconds: number;
  /** Per task, while the load ran. */
  jobsPerSecond: Record<string, number>;
  /** Per task, from the start of the load until the queue was empty again. */
  jobsCompleted: Record<string, number>;
  /** Jobs left when the load stopped, and how long they took to run. */
  backlog: number;
  drainSeconds: number;
}

async function queued(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*) as n from graphile_worker.jobs where attempts < max_attempts`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Runs `load` and reports the worker's throughput during it and the drain after it. */
export async function measureThroughput(
  ownerUrl: string,
  metricsUrl: string,
  load: () => Promise<void>,
): Promise<Throughput> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const before = await completedJobs(metricsUrl);
    const t0 = performance.now();
    await load();
    const seconds = (performance.now() - t0) / 1000;
    const after = await completedJobs(metricsUrl);
    const backlog = await queued(client);
    const drainStarted = performance.now();
    const deadline = drainStarted + 300_000;
    // the queue has no "empty" event; look every 250 ms (this is a measurement, not a test)
    while ((await queued(client)) > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    const drained = await completedJobs(metricsUrl);
    const jobsPerSecond: Record<string, number> = {};
    const jobsCompleted: Record<string, number> = {};
    for (const [task, n] of Object.entries(drained)) {
      const during = (after[task] ?? 0) - (before[task] ?? 0);
      if (during > 0) jobsPerSecond[task] = round(during / seconds, 1);
      const total = n - (before[task] ?? 0);
      if (total > 0) jobsCompleted[task] = total;
    }
    return {
      seconds: round(seconds, 1),
      jobsPerSecond,
      jobsCompleted,
      backlog,
      drainSeconds: round((performance.now() - drainStarted) / 1000, 1),
    };
  } finally {
    await client.end();
  }
}

export interface LikeSample {
  likerId: string;
  postId: string;
  authorId: string;
}

/** Pairs of (liker, post) with distinct authors, where a like makes a notification. */
export async function likeSamples(ownerUrl: string, count: number): Promise<LikeSample[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<LikeSample>(
      `with authors as (
         select distinct on (p.author_id) p.author_id, p.id as post_id
           from app_public.posts p
           join app_public.users a on a.id = p.author_id and a.status = 'active'
          where p.privacy_level = 'public' and p.group_id is null and p.deleted_at is null
          order by p.author_id, p.created_at desc
          limit $1)
       select l.id as "likerId", a.post_id as "postId", a.author_id as "authorId"
         from authors a
         cross join lateral (
           select u.id from app_public.users u
            where u.status = 'active' and u.id <> a.author_id
              and not exists (select 1 from app_public.likes k
                               where k.user_id = u.id and k.target_type = 'post' and k.target_id = a.post_id)
              and not exists (select 1 from app_public.friendships f
                               where f.status = 'blocked'
                                 and ((f.requester_id = u.id and f.addressee_id = a.author_id)
                                   or (f.requester_id = a.author_id and f.addressee_id = u.id)))
            offset floor(random() * 50)::int limit 1) l`,
      [count],
    );
    return rows;
  } finally {
    await client.end();
  }
}

const LIKE = `mutation ($p: UUID!) { likePost(input: { postId: $p }) { post { id } } }`;

/** Times like → notification for each sample, `concurrency` at a time. */
export async function measureLikeToNotification(
  ownerUrl: string,
  apiUrl: string,
  sign: (userId: string) => string,
  samples: LikeSample[],
  concurrency: number,
): Promise<Percentiles & { missed: number }> {
  const listener = new pg.Client({ connectionString: ownerUrl });
  await listener.connect();
  const waiting = new Map<string, () => void>();
  listener.on("notification", (n) => waiting.get(n.channel)?.());
  // one client, several senders: its LISTEN and UNLISTEN commands go one at a time (pg queues
  // overlapping calls itself, deprecated since pg 8.16 and gone in pg 9)
  let commands: Promise<unknown> = Promise.resolve();
  const command = (text: string): Promise<unknown> => {
    const run = commands.then(() => listener.query(text));
    commands = run.catch(() => undefined);
    return run;
  };
  const histogram = new LatencyHistogram();
  let missed = 0;
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < samples.length) {
          const s = samples[next++]!;
          const channel = `user:${s.authorId}:notifications`;
          await command(`listen ${pg.escapeIdentifier(channel)}`);
          const arrived = new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), 30_000);
            waiting.set(channel, () => {
              clearTimeout(timer);
              resolve(true);
            });
          });
          const t0 = performance.now();
          const res = await fetch(`${apiUrl}/graphql`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              authorization: `Bearer ${sign(s.likerId)}`,
            },
            body: JSON.stringify({ query: LIKE, variables: { p: s.postId } }),
          });
          const body = (await res.json()) as { errors?: unknown[] };
          if (body.errors) throw new Error(`likePost failed: ${JSON.stringify(body.errors)}`);
          if (await arrived) histogram.record(performance.now() - t0);
          else missed += 1;
          waiting.delete(channel);
          await command(`unlisten ${pg.escapeIdentifier(channel)}`);
        }
      }),
    );
    return { ...histogram.percentiles(), missed };
  } finally {
    await listener.end();
  }
}
