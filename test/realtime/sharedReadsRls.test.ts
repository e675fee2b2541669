/**
 * app_hidden.read_as_each (the shared payload read of src/realtime/sharedReads.ts) plans the
 * event's statement once and runs it for each subscriber: row-level security must still judge
 * every run under that subscriber's own claims, with each list of settings holding only what
 * differs from the previous subscriber's, exactly as the API sends them.
 */
import { randomUUID } from "node:crypto";

import type pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";
import { settingsInTurn } from "../../src/realtime/sharedReads.ts";

let api: Api;
let ana: TestAccount;
let ben: TestAccount;
let cat: TestAccount;
let dan: TestAccount;
let message: string;

beforeAll(async () => {
  api = await startApi();
  [ana, ben, cat, dan] = (await Promise.all(Array.from({ length: 4 }, () => api.register()))) as [
    TestAccount,
    TestAccount,
    TestAccount,
    TestAccount,
  ];
  const chat = ok<{ createGroupConversation: { conversation: { id: string } } }>(
    await api.as(ana)(
      `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
      { t: `rls ${randomUUID().slice(0, 6)}`, p: [ben.id, cat.id, dan.id] },
    ),
  ).createGroupConversation.conversation.id;
  // ben leaves before the message; ana blocks dan (dan still reads it, without her card)
  ok(
    await api.as(ben)(
      `mutation ($c: UUID!) { leaveConversation(input: { conversationId: $c }) { clientMutationId } }`,
      { c: chat },
    ),
  );
  ok(
    await api.as(ana)(
      `mutation ($u: UUID!) { blockUser(input: { userId: $u }) { clientMutationId } }`,
      { u: dan.id },
    ),
  );
  [{ id: message }] = (await api.sql<{ id: string }>(
    `insert into app_public.messages (conversation_id, sender_id, content)
     values ($1, $2, 'after ben left') returning id`,
    [chat, ana.id],
  )) as [{ id: string }];
});
afterAll(() => api.close());

/** A subscriber's settings as the API applies them (sorted by name). */
const settingsOf = (a: TestAccount): [string, string][] => [
  ["jwt.claims.session_id", randomUUID()],
  ["jwt.claims.user_id", a.id],
  ["mking.client_ip", "127.0.0.1"],
  ["role", "authenticated"],
  ["statement_timeout", "5000"],
];

/** read_as_each for these subscribers, as the API calls it; each one's rows (id, sender name). */
async function readAsEach(client: pg.Client, viewers: TestAccount[]): Promise<string[][]> {
  const all = viewers.map(settingsOf);
  await client.query(
    `select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el`,
    [JSON.stringify(all[0])],
  );
  const { rows } = await client.query<{ viewer: number; rows: string[] }>(
    `select viewer, rows from app_hidden.read_as_each($1::json, $2::text)`,
    [
      JSON.stringify(settingsInTurn(all)),
      `select m.id, s.username from app_public.messages m
         left join app_public.user_cards s on s.id = m.sender_id
        where m.id = '${message}'::uuid`,
    ],
  );
  return rows.sort((a, b) => a.viewer - b.viewer).map((r) => r.rows);
}

describe("one shared read for subscribers whose rules differ", () => {
  it("gives each the rows their own row-level security allows", async () => {
    await withClient(api.db.authUrl, async (client) => {
      await client.query("begin");
      // the one who left sits between two who see it: their claims, not the plan, decide
      const seen = await readAsEach(client, [cat, ben, ana, dan, cat]);
      await client.query("rollback");
      const username = async (a: TestAccount) =>
        (
          await api.sql<{ username: string }>(
            `select username from app_public.user_profiles where user_id = $1`,
            [a.id],
          )
        )[0]!.username;
      const full = `(${message},${await username(ana)})`;
      expect(seen).toEqual([[full], [], [full], [`(${message},)`], [full]]);
    });
  });

  it("plans the statement once for all of them", async () => {
    await withClient(api.db.superuserUrl, async (client) => {
      await client.query(`create extension if not exists pg_stat_statements`);
      await client.query(`set pg_stat_statements.track = 'all'`);
      await client.query(`set pg_stat_statements.track_planning = on`);
      await client.query(`select pg_stat_statements_reset()`);
      await client.query("begin");
      const seen = await readAsEach(client, [ana, cat, dan, ben, ana, cat]);
      await client.query("commit");
      expect(seen.map((rows) => rows.length)).toEqual([1, 1, 1, 0, 1, 1]);
      const { rows } = await client.query<{ plans: string; calls: string }>(
        `select sum(plans)::text as plans, sum(calls)::text as calls from pg_stat_statements
          where dbid = (select oid from pg_database where datname = current_database())
            and query ilike '%shared_read::text%' and query not ilike '%execute%'`,
      );
      expect(Number(rows[0]!.plans)).toBe(1);
    });
  });

  it("recovers from a call that failed half way on the same connection", async () => {
    await withClient(api.db.authUrl, async (client) => {
      await client.query("begin");
      await client.query(`select set_config('role', 'authenticated', true)`);
      // a statement that fails for a subscriber: the prepared one stays behind (not transactional)
      await expect(
        client.query(`select * from app_hidden.read_as_each($1::json, $2::text)`, [
          JSON.stringify(settingsInTurn([settingsOf(ana), settingsOf(cat)])),
          `select 1 / (case when app_public.current_user_id() = '${cat.id}'::uuid then 0 else 1 end)`,
        ]),
      ).rejects.toThrow(/division by zero/);
      await client.query("rollback");
      await client.query("begin");
      expect(await readAsEach(client, [ana, ben])).toEqual([
        [expect.stringContaining(message)],
        [],
      ]);
      await client.query("rollback");
    });
  });
});
