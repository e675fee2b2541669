/**
 * Deleting an account (issue #13): requestAccountDeletion with the password ends every session
 * at once and hides the account; signing in or cancelAccountDeletion within the grace period
 * brings it back; afterwards account__erase hands over what others need (groups), cancels the
 * person's events with an audience, keeps others' posts, shares and messages, and leaves no row
 * anywhere holding the person's e-mail, phone, name, username or client address.
 */
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api, type Call } from "../helpers/api.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let api: Api;
let worker: TestWorker;
beforeAll(async () => {
  // the person's requests come from an address of their own (X-Forwarded-For), so the scan can
  // look for it; everyone else's come from 127.0.0.1
  api = await startApi({ TRUST_PROXY: "true" });
  worker = await startTestWorker(api.db);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

const REQUEST_DELETION = `mutation ($p: String!) { requestAccountDeletion(input: { password: $p }) { success erasureScheduledFor } }`;
const CANCEL_DELETION = `mutation ($e: String!, $p: String!) { cancelAccountDeletion(input: { email: $e, password: $p }) { success } }`;
const LOGIN = `mutation ($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken accountRestored } }`;

/** Calls as `account` from `ip` (X-Forwarded-For; TRUST_PROXY is on). */
function from(account: TestAccount, ip: string): Call {
  return async (query, variables = {}) =>
    (
      await api.server.graphql(query, variables, {
        token: account.accessToken,
        headers: { "x-forwarded-for": ip },
      })
    ).body;
}

/** The tasks queued to run at once (the earlier tests' erasures wait for their 14 days). */
const NOW_TASKS = ["notifications__create", "send_email", "counters__recount"];

function tag(): string {
  return Math.random().toString(36).slice(2, 8);
}

describe("requestAccountDeletion", () => {
  it("needs the password, and ends every session at once", async () => {
    const ana = await api.register();
    expect(refusal(await api.as(ana)(REQUEST_DELETION, { p: "not the password" }))).toMatchObject({
      code: "INVALID_INPUT",
      field: "password",
    });
    expect(ok(await api.as(ana)(`{ currentUser { id } }`))).toEqual({
      currentUser: { id: ana.id },
    });

    // the API instance hears of the end (NOTIFY at commit), then refuses the token
    const sid = (
      JSON.parse(Buffer.from(ana.accessToken.split(".")[1]!, "base64url").toString()) as {
        sid: string;
      }
    ).sid;
    const ended = new Promise<void>((resolve) => {
      const stop = api.server.sessions.onEnded((id) => {
        if (id !== sid) return;
        stop();
        resolve();
      });
    });
    const before = Date.now();
    const asked = ok<{ requestAccountDeletion: { success: boolean; erasureScheduledFor: string } }>(
      await api.as(ana)(REQUEST_DELETION, { p: ana.password }),
    ).requestAccountDeletion;
    expect(asked.success).toBe(true);
    const days = (Date.parse(asked.erasureScheduledFor) - before) / 86_400_000;
    expect(days).toBeGreaterThan(13.99);
    expect(days).toBeLessThan(14.01);

    await ended;
    const after = await api.server.graphql(
      `{ currentUser { id } }`,
      {},
      { token: ana.accessToken },
    );
    expect(after.status).toBe(401);
    const refreshed = await api.server.graphql(
      `mutation ($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }`,
      { t: ana.refreshToken },
    );
    expect(refreshed.body.errors?.[0]?.extensions?.code).toBeDefined();
    expect(
      await api.sql(
        `select run_at > now() + interval '13 days' as later from graphile_worker.jobs
          where task_identifier = 'account__erase' and key = $1`,
        [`account__erase:${ana.id}`],
      ),
    ).toEqual([{ later: true }]);
  });

  it("hides the account from others during the grace period; signing in brings it back", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const post = ok<{ publishPost: { post: { id: string } } }>(
      await api.as(ana)(
        `mutation { publishPost(input: { content: "still here?", privacyLevel: "public" }) { post { id } } }`,
      ),
    ).publishPost.post.id;
    const seen = async (): Promise<unknown> =>
      ok(
        await api.as(ben)(
          `query ($id: UUID!, $p: UUID!) { user(id: $id) { id } post(id: $p) { id } }`,
          {
            id: ana.id,
            p: post,
          },
        ),
      );
    expect(await seen()).toEqual({ user: { id: ana.id }, post: { id: post } });

    ok(await api.as(ana)(REQUEST_DELETION, { p: ana.password }));
    expect(await seen()).toEqual({ user: null, post: null });

    const login = ok<{ login: { accessToken: string; accountRestored: boolean } }>(
      await api.as(null)(LOGIN, { e: ana.email, p: ana.password }),
    ).login;
    expect(login.accountRestored).toBe(true);
    expect(await seen()).toEqual({ user: { id: ana.id }, post: { id: post } });
    expect(
      await api.sql(`select 1 from graphile_worker.jobs where key = $1`, [
        `account__erase:${ana.id}`,
      ]),
    ).toEqual([]);
    expect(
      await api.sql<{ stage: string }>(
        `select details->>'stage' as stage from app_private.audit_log
          where user_id = $1 and action = 'account_deletion' order by id`,
        [ana.id],
      ),
    ).toEqual([{ stage: "requested" }, { stage: "cancelled" }]);
    // an ordinary sign-in restores nothing
    expect(
      ok<{ login: { accountRestored: boolean } }>(
        await api.as(null)(LOGIN, { e: ana.email, p: ana.password }),
      ).login.accountRestored,
    ).toBe(false);
  });

  it("is cancelled by cancelAccountDeletion with e-mail and password, without a session", async () => {
    const ana = await api.register();
    ok(await api.as(ana)(REQUEST_DELETION, { p: ana.password }));
    expect(
      refusal(await api.as(null)(CANCEL_DELETION, { e: ana.email, p: "wrong password" })),
    ).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(ok(await api.as(null)(CANCEL_DELETION, { e: ana.email, p: ana.password }))).toEqual({
      cancelAccountDeletion: { success: true },
    });
    expect(
      await api.sql(`select status, deletion_requested_at from app_public.users where id = $1`, [
        ana.id,
      ]),
    ).toEqual([{ status: "active", deletion_requested_at: null }]);
    expect(ok(await api.as(null)(CANCEL_DELETION, { e: ana.email, p: ana.password }))).toEqual({
      cancelAccountDeletion: { success: false },
    });
    expect(
      await api.sql(`select 1 from graphile_worker.jobs where key = $1`, [
        `account__erase:${ana.id}`,
      ]),
    ).toEqual([]);
  });

  it("replaces the generated deleteAccount, which is no longer in the API", async () => {
    const ana = await api.register();
    const body = await api.as(ana)(
      `mutation ($id: UUID!) { deleteAccount(input: { id: $id }) { account { id } } }`,
      { id: ana.id },
    );
    expect(body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(await api.sql(`select 1 from app_public.users where id = $1`, [ana.id])).toHaveLength(1);
  });
});

describe("account__erase", () => {
  it("keeps what is others', and leaves none of the person's identifiers anywhere", async () => {
    const t = tag();
    const ip = "203.0.113.77";
    const dora = await registerAccount(api.server, {
      email: `dora.erasable.${t}@example.com`,
      username: `dora_erasable_${t}`,
      displayName: `Dorothea Erasable ${t}`,
    });
    const phone = `+1555${Math.floor(1_000_000 + Math.random() * 8_999_999)}`;
    await api.sql(`update app_public.users set phone = $2 where id = $1`, [dora.id, phone]);
    const [ben, cara] = [await api.register(), await api.register()];
    const asDora = from(dora, ip);

    // a group Dora created, Ben joined first (member), Cara later (made admin: the heir)
    const group = ok<{ createGroup: { group: { id: string } } }>(
      await asDora(`mutation { createGroup(input: { name: "Walkers ${t}" }) { group { id } } }`),
    ).createGroup.group.id;
    for (const member of [ben, cara]) {
      ok(
        await api.as(member)(
          `mutation ($g: UUID!) { joinGroup(input: { groupId: $g }) { groupMember { status } } }`,
          { g: group },
        ),
      );
    }
    ok(
      await asDora(
        `mutation ($g: UUID!, $u: UUID!) { setGroupMemberRole(input: { groupId: $g, userId: $u, role: "admin" }) { groupMember { role } } }`,
        { g: group, u: cara.id },
      ),
    );
    const publish = async (call: Call, input: Record<string, unknown>): Promise<string> =>
      ok<{ publishPost: { post: { id: string } } }>(
        await call(
          `mutation ($input: PublishPostInput!) { publishPost(input: $input) { post { id } } }`,
          {
            input,
          },
        ),
      ).publishPost.post.id;
    const bensGroupPost = await publish(api.as(ben), {
      content: "group walk on Sunday",
      groupId: group,
    });
    const dorasGroupPost = await publish(asDora, { content: "my group post", groupId: group });

    // an event Dora organises, Ben is going to
    const event = ok<{ createEvent: { event: { id: string } } }>(
      await asDora(
        `mutation ($s: Datetime!) { createEvent(input: { title: "Picnic ${t}", startDate: $s, privacyLevel: "public" }) { event { id } } }`,
        { s: new Date(Date.now() + 7 * 86_400_000).toISOString() },
      ),
    ).createEvent.event.id;
    ok(
      await api.as(ben)(
        `mutation ($e: UUID!) { rsvpEvent(input: { eventId: $e, status: GOING }) { clientMutationId } }`,
        { e: event },
      ),
    );

    // posts, a share of Dora's post by Ben, comments and likes both ways, a follow
    const dorasPost = await publish(asDora, { content: "hello from Dora", privacyLevel: "public" });
    const bensPost = await publish(api.as(ben), {
      content: "Ben's own post",
      privacyLevel: "public",
    });
    const share = ok<{ sharePost: { post: { id: string } } }>(
      await api.as(ben)(
        `mutation ($id: UUID!) { sharePost(input: { postId: $id, content: "worth reading" }) { post { id } } }`,
        { id: dorasPost },
      ),
    ).sharePost.post.id;
    const comment = `mutation ($p: UUID!, $c: String!) { addComment(input: { postId: $p, content: $c }) { comment { id } } }`;
    ok(await asDora(comment, { p: bensPost, c: "nice one" }));
    ok(await api.as(ben)(comment, { p: dorasPost, c: `thanks @${dora.username}` }));
    ok(await api.as(cara)(comment, { p: bensPost, c: `@${dora.username} agrees` }));
    ok(
      await asDora(
        `mutation ($id: UUID!) { likePost(input: { postId: $id }) { clientMutationId } }`,
        { id: bensPost },
      ),
    );
    ok(
      await asDora(
        `mutation ($id: UUID!) { followUser(input: { userId: $id }) { clientMutationId } }`,
        { id: ben.id },
      ),
    );

    // a conversation: both write, Ben answers Dora's message
    const conversation = ok<{ startDirectConversation: { conversation: { id: string } } }>(
      await asDora(
        `mutation ($id: UUID!) { startDirectConversation(input: { userId: $id }) { conversation { id } } }`,
        { id: ben.id },
      ),
    ).startDirectConversation.conversation.id;
    const send = `mutation ($c: UUID!, $t: String, $r: UUID) { sendMessage(input: { conversationId: $c, content: $t, replyToMessageId: $r }) { message { id } } }`;
    const dorasMessage = ok<{ sendMessage: { message: { id: string } } }>(
      await asDora(send, { c: conversation, t: "hi Ben" }),
    ).sendMessage.message.id;
    const bensMessage = ok<{ sendMessage: { message: { id: string } } }>(
      await api.as(ben)(send, { c: conversation, t: "hi! see you at the picnic", r: dorasMessage }),
    ).sendMessage.message.id;
    await worker.idle(NOW_TASKS);
    // Ben was told about Dora by name (like, follow, comment, message)
    expect(
      (
        await api.sql<{ n: number }>(
          `select count(*)::int as n from app_public.notifications where recipient_id = $1 and message like '%' || $2 || '%'`,
          [ben.id, `Dorothea Erasable ${t}`],
        )
      )[0]!.n,
    ).toBeGreaterThan(0);

    ok(await asDora(REQUEST_DELETION, { p: dora.password }));
    // the scan finds them during the grace period (it is not blind): bookkeeping, others' notifications and words
    const needles = [dora.email, phone, dora.username, `Dorothea Erasable ${t}`, ip];
    expect(await holders(needles)).toEqual(
      expect.arrayContaining([
        "app_private.audit_log.ip",
        "app_public.user_profiles.username",
        "app_private.email_deliveries.recipient",
        "app_public.comments.content",
        "app_public.notifications.message",
        "app_public.users.email",
      ]),
    );

    // the grace period ends: the job and the schedule are moved to now (no waiting 14 days)
    const erased = worker.nextCompletion("account__erase");
    await api.sql(
      `with u as (update app_public.users set deletion_scheduled_for = now() where id = $1)
       update graphile_worker._private_jobs set run_at = now() where key = $2`,
      [dora.id, `account__erase:${dora.id}`],
    );
    expect((await erased).error).toBeUndefined();
    await worker.idle(NOW_TASKS);

    expect(await api.sql(`select 1 from app_public.users where id = $1`, [dora.id])).toEqual([]);
    // the group passed to Cara, the admin, with Ben's post in it; Dora's posts are gone
    expect(
      await api.sql(`select created_by from app_public.groups where id = $1`, [group]),
    ).toEqual([{ created_by: cara.id }]);
    expect(
      await api.sql(
        `select user_id, role from app_public.group_members where group_id = $1 order by role, user_id`,
        [group],
      ),
    ).toEqual([
      { user_id: cara.id, role: "admin" },
      { user_id: ben.id, role: "member" },
    ]);
    expect(
      (
        await api.sql<{ id: string }>(
          `select id from app_public.posts where id = any($1::uuid[]) order by id`,
          [[bensGroupPost, dorasGroupPost, dorasPost, bensPost, share]],
        )
      ).map((r) => r.id),
    ).toEqual([bensGroupPost, bensPost, share].sort());
    expect(
      await api.sql(`select shared_post_id from app_public.posts where id = $1`, [share]),
    ).toEqual([{ shared_post_id: null }]);
    // Ben's message stays (its reply link is gone); Dora's is erased
    expect(
      await api.sql(
        `select id, content, reply_to_message_id from app_public.messages where conversation_id = $1`,
        [conversation],
      ),
    ).toEqual([
      { id: bensMessage, content: "hi! see you at the picnic", reply_to_message_id: null },
    ]);
    // the event was cancelled and Ben told, without Dora's name
    expect(
      await api.sql(
        `select title, message from app_public.notifications
          where recipient_id = $1 and notification_type = 'event_cancelled' and data->>'event_id' = $2`,
        [ben.id, event],
      ),
    ).toEqual([{ title: `Picnic ${t} is cancelled`, message: `Someone cancelled Picnic ${t}` }]);
    // Cara's mention no longer names her
    expect(
      await api.sql(`select content from app_public.comments where author_id = $1`, [cara.id]),
    ).toEqual([{ content: "someone agrees" }]);
    // audit entries remain, without address or user agent
    expect(
      await api.sql(
        `select count(*)::int as n, count(ip)::int as ips, count(user_agent)::int as agents
           from app_private.audit_log where user_id = $1`,
        [dora.id],
      ),
    ).toEqual([{ n: expect.any(Number), ips: 0, agents: 0 }]);

    expect(await holders(needles)).toEqual([]);
  });
});

/** Every column (schema.table.column) of every table, in every schema, holding any of `needles`. */
async function holders(needles: string[]): Promise<string[]> {
  // every text, JSON and address column of every table, in every schema
  const columns = await api.sql<{ schema: string; table: string; column: string }>(
    `select c.table_schema as schema, c.table_name as table, c.column_name as column
       from information_schema.columns c
       join information_schema.tables t using (table_schema, table_name)
      where t.table_type = 'BASE TABLE'
        and c.table_schema not in ('pg_catalog', 'information_schema')
        and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'inet', 'cidr', 'ARRAY', 'USER-DEFINED')
      order by 1, 2, 3`,
  );
  expect(columns.length).toBeGreaterThan(50);
  expect(columns.map((c) => `${c.schema}.${c.table}`)).toEqual(
    expect.arrayContaining([
      "app_private.audit_log",
      "app_private.email_deliveries",
      "graphile_worker._private_jobs",
    ]),
  );
  const found: string[] = [];
  for (const { schema, table, column } of columns) {
    const rows = await api.sql<{ n: number }>(
      `select count(*)::int as n from ${quote(schema)}.${quote(table)}
        where exists (select 1 from unnest($1::text[]) needle
                       where strpos(lower(${quote(column)}::text), lower(needle)) > 0)`,
      [needles],
    );
    if (rows[0]!.n > 0) found.push(`${schema}.${table}.${column}`);
  }
  return found;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
