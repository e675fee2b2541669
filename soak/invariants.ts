/**
 * The soak's invariants, checked at the end (after the queue drained), in SQL as the owner
 * against what the ledger says happened:
 *
 * 1. every acknowledged write is in the database, nothing refused is;
 * 2. every counter equals its recount; no event has more attendees than places;
 * 3. every notification the rules call for exists exactly once, none crosses a block, coalesced
 *    ones count what they say;
 * 4. no job is lost or stuck;
 * 5. every message sent while a subscriber was connected and entitled reached it, or it was told;
 * 6. each API instance answered throughout except during its own restarts.
 */
import pg from "pg";

import type { Ledger } from "./ledger.ts";
import { unexcusedMs, type InstanceAvailability } from "./probe.ts";

export interface InvariantResult {
  id: number;
  name: string;
  ok: boolean;
  /** What was checked (counts). */
  checked: Record<string, number>;
  /** The first few violations, in words. */
  violations: string[];
}

/** How long after its acknowledgement a message must have reached a connected subscriber. */
export const DELIVERY_GRACE_MS = 10_000;
/**
 * When a subscription is live — the rule invariant 5 holds sessions to. graphql-ws has no
 * "subscribed" acknowledgement: the client cannot see when the server's LISTEN is in place
 * (src/realtime/hub.ts confirms it with a probe notification before the subscription counts).
 * So a session is live from the first proof it has, whichever comes first:
 *
 * - the acknowledgement of a message it received (the LISTEN was in place when that message
 *   committed, before its acknowledgement: every message sent after that commits later and must
 *   come), or the moment its first event arrived;
 * - at the latest SUBSCRIBE_DEADLINE_MS after it subscribed: the server confirms its LISTEN or
 *   ends the subscription with an error within PROBE_DEADLINE_MS (10 s) of the subscription
 *   reaching it; the rest is for the subscribe message to get there on a loaded machine. One
 *   that never receives anything while its conversation gets messages is not excused.
 *
 * (It was 5 s: on a machine at load 20, or while an instance re-opened its LISTEN connection
 * after a PostgreSQL restart, confirming took longer, and a message sent between 5 s and the
 * confirmation was counted as missed though the subscription was not live yet.)
 */
export const SUBSCRIBE_DEADLINE_MS = 15_000;
/** The longest time an instance may go unanswered outside its own restarts. */
export const MAX_UNEXCUSED_GAP_MS = 5_000;

class Check {
  readonly checked: Record<string, number> = {};
  readonly violations: string[] = [];
  private count = 0;
  readonly id: number;
  readonly name: string;
  constructor(id: number, name: string) {
    this.id = id;
    this.name = name;
  }
  saw(what: string, n: number): void {
    this.checked[what] = (this.checked[what] ?? 0) + n;
  }
  fail(message: string): void {
    this.count += 1;
    if (this.violations.length < 20) this.violations.push(message);
  }
  result(): InvariantResult {
    const violations =
      this.count > this.violations.length
        ? [...this.violations, `… and ${this.count - this.violations.length} more`]
        : this.violations;
    return {
      id: this.id,
      name: this.name,
      ok: this.count === 0,
      checked: this.checked,
      violations,
    };
  }
}

type Q = <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<R[]>;

function pairKey(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

async function blockedPairs(q: Q, ledger: Ledger): Promise<Set<string>> {
  const rows = await q<{ a: string; b: string }>(
    `select requester_id as a, addressee_id as b from app_public.friendships where status = 'blocked'`,
  );
  const set = new Set(rows.map((r) => pairKey(r.a, r.b)));
  for (const b of ledger.blocks) set.add(pairKey(b.blocker, b.blocked));
  return set;
}

async function missingIds(q: Q, table: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q<{ id: string }>(
    `select i.id from unnest($1::uuid[]) i(id)
      where not exists (select 1 from app_public.${table} t where t.id = i.id)`,
    [ids],
  );
  return rows.map((r) => r.id);
}

async function writes(q: Q, ledger: Ledger, blocked: Set<string>): Promise<InvariantResult> {
  const c = new Check(1, "acknowledged writes are stored, refused ones are not");
  const tables: [string, string[]][] = [
    ["posts", [...ledger.posts.keys()]],
    ["comments", ledger.comments.map((x) => x.id)],
    ["messages", ledger.messages.map((x) => x.id)],
  ];
  for (const [table, ids] of tables) {
    c.saw(table, ids.length);
    for (const id of await missingIds(q, table, ids))
      c.fail(`acknowledged ${table} row ${id} is missing`);
  }
  for (const table of ["posts", "comments", "messages"] as const) {
    const markers = ledger.refusedMarkers.filter((m) => m.table === table).map((m) => m.marker);
    c.saw(`refused ${table}`, markers.length);
    if (markers.length === 0) continue;
    const rows = await q<{ content: string }>(
      `select content from app_public.${table} where content = any ($1)`,
      [markers],
    );
    for (const r of rows) c.fail(`refused ${table} write "${r.content}" is in the database`);
  }
  const pairs = async (
    name: string,
    states: Map<string, { value: boolean; uncertain: boolean }>,
    sql: string,
  ): Promise<void> => {
    const certain = [...states.entries()].filter(([, s]) => !s.uncertain);
    c.saw(name, certain.length);
    if (certain.length === 0) return;
    const a = certain.map(([k]) => k.split(":")[0]!);
    const b = certain.map(([k]) => k.split(":")[1]!);
    const rows = await q<{ a: string; b: string; present: boolean }>(sql, [a, b]);
    const present = new Map(rows.map((r) => [`${r.a}:${r.b}`, r.present]));
    for (const [key, s] of certain) {
      if ((present.get(key) ?? false) !== s.value) {
        c.fail(
          `${name} ${key}: acknowledged ${s.value ? "present" : "absent"}, database says ${s.value ? "absent" : "present"}`,
        );
      }
    }
  };
  await pairs(
    "likes",
    ledger.likes,
    `select p.a, p.b, exists (select 1 from app_public.likes l where l.user_id = p.a
        and l.target_type = 'post' and l.target_id = p.b) as present
       from unnest($1::uuid[], $2::uuid[]) p(a, b)`,
  );
  await pairs(
    "rsvps",
    ledger.rsvps,
    `select p.a, p.b, exists (select 1 from app_public.event_attendees x where x.user_id = p.a
        and x.event_id = p.b and x.status = 'going') as present
       from unnest($1::uuid[], $2::uuid[]) p(a, b)`,
  );
  const friendships = new Map(
    (
      await q<{ id: string; status: string }>(
        `select id, status from app_public.friendships where id = any ($1)`,
        [ledger.friendRequests.map((r) => r.friendshipId)],
      )
    ).map((r) => [r.id, r.status]),
  );
  const unblocked = <T extends { requester: string; addressee: string }>(xs: T[]): T[] =>
    xs.filter((x) => !blocked.has(pairKey(x.requester, x.addressee)));
  c.saw("friend requests", ledger.friendRequests.length);
  for (const r of unblocked(ledger.friendRequests)) {
    if (!friendships.has(r.friendshipId))
      c.fail(`acknowledged friend request ${r.friendshipId} is missing`);
  }
  c.saw("accepted friend requests", ledger.accepts.length);
  for (const r of unblocked(ledger.accepts)) {
    const status = friendships.get(r.friendshipId);
    if (status !== "accepted")
      c.fail(`acknowledged accept of ${r.friendshipId}: status is ${status ?? "missing"}`);
  }
  const follows = ledger.follows.filter((f) => !blocked.has(pairKey(f.follower, f.following)));
  c.saw("follows", ledger.follows.length);
  if (follows.length > 0) {
    const rows = await q<{ a: string; b: string }>(
      `select p.a, p.b from unnest($1::uuid[], $2::uuid[]) p(a, b)
        where not exists (select 1 from app_public.followers f where f.follower_id = p.a and f.following_id = p.b)`,
      [follows.map((f) => f.follower), follows.map((f) => f.following)],
    );
    for (const r of rows) c.fail(`acknowledged follow ${r.a} → ${r.b} is missing`);
  }
  c.saw("blocks", ledger.blocks.length);
  if (ledger.blocks.length > 0) {
    const rows = await q<{ a: string; b: string }>(
      `select p.a, p.b from unnest($1::uuid[], $2::uuid[]) p(a, b)
        where not exists (select 1 from app_public.friendships f where f.requester_id = p.a
                            and f.addressee_id = p.b and f.status = 'blocked')`,
      [ledger.blocks.map((b) => b.blocker), ledger.blocks.map((b) => b.blocked)],
    );
    for (const r of rows) c.fail(`acknowledged block ${r.a} → ${r.b} is missing`);
  }
  return c.result();
}

async function counters(q: Q): Promise<InvariantResult> {
  const c = new Check(2, "counters equal their recount; no event overbooked");
  const drift: [string, string][] = [
    [
      "posts",
      `select p.id, format('likes %s/%s comments %s/%s shares %s/%s', p.likes_count, r.likes, p.comments_count, r.comments, p.shares_count, r.shares) as detail
         from app_public.posts p,
         lateral (select
           (select count(*) from app_public.likes l where l.target_type = 'post' and l.target_id = p.id)::int as likes,
           (select count(*) from app_public.comments m where m.post_id = p.id)::int as comments,
           (select count(*) from app_public.posts s where s.shared_post_id = p.id and s.deleted_at is null)::int as shares) r
        where (p.likes_count, p.comments_count, p.shares_count) is distinct from (r.likes, r.comments, r.shares)`,
    ],
    [
      "comments",
      `select m.id, format('likes %s/%s replies %s/%s', m.likes_count, r.likes, m.replies_count, r.replies) as detail
         from app_public.comments m,
         lateral (select
           (select count(*) from app_public.likes l where l.target_type = 'comment' and l.target_id = m.id)::int as likes,
           (select count(*) from app_public.comments x where x.parent_comment_id = m.id)::int as replies) r
        where (m.likes_count, m.replies_count) is distinct from (r.likes, r.replies)`,
    ],
    [
      "groups",
      `select g.id, format('members %s/%s posts %s/%s', g.member_count, r.members, g.post_count, r.posts) as detail
         from app_public.groups g,
         lateral (select
           (select count(*) from app_public.group_members gm where gm.group_id = g.id and gm.status = 'active')::int as members,
           (select count(*) from app_public.posts p where p.group_id = g.id and p.deleted_at is null)::int as posts) r
        where (g.member_count, g.post_count) is distinct from (r.members, r.posts)`,
    ],
    [
      "events",
      `select e.id, format('attendees %s/%s', e.current_attendees, r.going) as detail
         from app_public.events e,
         lateral (select count(*)::int as going from app_public.event_attendees a
                   where a.event_id = e.id and a.status = 'going') r
        where e.current_attendees is distinct from r.going`,
    ],
  ];
  for (const [table, sql] of drift) {
    const [row] = await q<{ n: number }>(`select count(*)::int as n from app_public.${table}`);
    c.saw(table, row?.n ?? 0);
    for (const r of await q<{ id: string; detail: string }>(sql)) {
      c.fail(`${table} ${r.id}: stored/recounted ${r.detail}`);
    }
  }
  const overbooked = await q<{ id: string; going: number; places: number }>(
    `select e.id, count(*)::int as going, e.max_attendees as places
       from app_public.events e join app_public.event_attendees a on a.event_id = e.id and a.status = 'going'
      where e.max_attendees is not null
      group by e.id having count(*) > e.max_attendees`,
  );
  for (const r of overbooked) c.fail(`event ${r.id}: ${r.going} going for ${r.places} places`);
  return c.result();
}

async function notifications(
  q: Q,
  ledger: Ledger,
  blocked: Set<string>,
  initial: Before,
  startedAt: Date,
): Promise<InvariantResult> {
  const c = new Check(
    3,
    "notifications exactly once, none across a block, coalesced ones count right",
  );
  const exactlyOnce = async (
    what: string,
    items: { key: string; recipient: string; sender: string; exact: boolean }[],
    sql: string,
  ): Promise<void> => {
    const wanted = items.filter(
      (i) => i.recipient !== i.sender && !blocked.has(pairKey(i.recipient, i.sender)),
    );
    c.saw(what, wanted.length);
    if (wanted.length === 0) return;
    const rows = await q<{ key: string; n: number }>(sql, [
      wanted.map((w) => w.key),
      wanted.map((w) => w.recipient),
      wanted.map((w) => w.sender),
      startedAt,
    ]);
    const n = new Map(rows.map((r) => [r.key, r.n]));
    for (const w of wanted) {
      const found = n.get(w.key) ?? 0;
      if (found > 1 || (w.exact && found !== 1))
        c.fail(`${what} ${w.key}: ${found} notifications (want ${w.exact ? "1" : "at most 1"})`);
    }
  };
  const byData = (type: string, field: string): string =>
    `select k.key, (select count(*)::int from app_public.notifications n
       where n.notification_type = '${type}' and n.recipient_id = k.r and n.data->>'${field}' = k.key
         and n.created_at >= $4) as n
       from unnest($1::text[], $2::uuid[], $3::uuid[]) k(key, r, s)`;

  const authorOf = new Map(
    (
      await q<{ id: string; author: string }>(
        `select id, author_id as author from app_public.posts where id = any ($1)`,
        [[...new Set(ledger.comments.map((x) => x.postId))]],
      )
    ).map((r) => [r.id, r.author]),
  );
  await exactlyOnce(
    "post_comment",
    ledger.comments.map((x) => ({
      key: x.id,
      recipient: authorOf.get(x.postId) ?? x.authorId,
      sender: x.authorId,
      exact: true,
    })),
    byData("post_comment", "comment_id"),
  );
  // friendships of the run, as they ended: pending ones were announced to the addressee, each
  // that became accepted during the run to the other side (a request accepted before its job
  // ran is no longer news: at most one friend_request then)
  const friendshipIds = [
    ...new Set([...ledger.friendRequests, ...ledger.accepts].map((f) => f.friendshipId)),
  ];
  const finalFriendships = await q<{
    id: string;
    requester: string;
    addressee: string;
    status: string;
  }>(
    `select id, requester_id as requester, addressee_id as addressee, status
       from app_public.friendships where id = any ($1)`,
    [friendshipIds],
  );
  const before = initial.friendships;
  await exactlyOnce(
    "friend_request",
    finalFriendships
      .filter((f) => !before.has(f.id))
      .map((f) => ({
        key: f.id,
        recipient: f.addressee,
        sender: f.requester,
        exact: f.status === "pending",
      })),
    byData("friend_request", "friendship_id"),
  );
  await exactlyOnce(
    "friend_accepted",
    finalFriendships
      .filter((f) => f.status === "accepted" && before.get(f.id) !== "accepted")
      .map((f) => ({ key: f.id, recipient: f.requester, sender: f.addressee, exact: true })),
    `select k.key, (select count(*)::int from app_public.notifications n
       where n.notification_type = 'friend_accepted' and n.data->>'friendship_id' = k.key
         and n.created_at >= $4) as n
       from unnest($1::text[], $2::uuid[], $3::uuid[]) k(key, r, s)`,
  );
  const follows = new Map(ledger.follows.map((f) => [`${f.follower}:${f.following}`, f]));
  await exactlyOnce(
    "new_follower",
    [...follows.values()].map((f) => ({
      key: `${f.follower}:${f.following}`,
      recipient: f.following,
      sender: f.follower,
      exact: !initial.follows.has(`${f.follower}:${f.following}`),
    })),
    `select k.key, (select count(*)::int from app_public.notifications n
       where n.notification_type = 'new_follower' and n.recipient_id = k.r and n.sender_id = k.s
         and n.created_at >= $4) as n
       from unnest($1::text[], $2::uuid[], $3::uuid[]) k(key, r, s)`,
  );

  // likes of the run that are still there: handled once for the author, the liker among the actors
  const liked = [...ledger.likes.entries()]
    .filter(([, s]) => s.value && !s.uncertain)
    .map(([k]) => k.split(":"));
  const likeRows = await q<{
    user_id: string;
    post_id: string;
    author: string;
    handled: boolean;
    listed: boolean;
  }>(
    `select l.user_id, l.target_id as post_id, p.author_id as author,
            exists (select 1 from app_private.handled_notification_events h
                     where h.recipient_id = p.author_id and h.event_key = 'like:' || l.id) as handled,
            exists (select 1 from app_public.notifications n
                     where n.recipient_id = p.author_id and n.notification_type = 'post_like'
                       and n.data->>'group_key' = p.id::text and n.data->'actors' ? l.user_id::text) as listed
       from unnest($1::uuid[], $2::uuid[]) k(u, p)
       join app_public.likes l on l.user_id = k.u and l.target_type = 'post' and l.target_id = k.p
       join app_public.posts p on p.id = l.target_id
      where l.created_at >= $3 and p.author_id <> l.user_id`,
    [liked.map((x) => x[0]), liked.map((x) => x[1]), startedAt],
  );
  const likesWanted = likeRows.filter((r) => !blocked.has(pairKey(r.user_id, r.author)));
  c.saw("post_like events", likesWanted.length);
  for (const r of likesWanted) {
    if (!r.handled || !r.listed)
      c.fail(
        `like of ${r.post_id} by ${r.user_id}: handled ${r.handled}, among the actors ${r.listed}`,
      );
  }

  // every message of the run: handled once for each participant who should hear of it
  const messageRows = await q<{ id: string; recipient: string; sender: string; handled: boolean }>(
    `select m.id, cp.user_id as recipient, m.sender_id as sender,
            exists (select 1 from app_private.handled_notification_events h
                     where h.recipient_id = cp.user_id and h.event_key = 'message:' || m.id) as handled
       from app_public.messages m
       join app_public.conversation_participants cp on cp.conversation_id = m.conversation_id
      where m.id = any ($1) and cp.user_id <> m.sender_id and cp.left_at is null
        and not coalesce(cp.is_muted, false)`,
    [ledger.messages.map((m) => m.id)],
  );
  const messagesWanted = messageRows.filter((r) => !blocked.has(pairKey(r.recipient, r.sender)));
  c.saw("message events", messagesWanted.length);
  for (const r of messagesWanted)
    if (!r.handled) c.fail(`message ${r.id} never notified ${r.recipient}`);

  const coalesced = await q<{ id: string; count: string; actors: number }>(
    `select id, data->>'count' as count, jsonb_array_length(coalesce(data->'actors', '[]')) as actors
       from app_public.notifications
      where notification_type in ('post_like', 'comment_like', 'message') and created_at >= $1
        and (data->>'count')::int is distinct from jsonb_array_length(coalesce(data->'actors', '[]'))`,
    [startedAt],
  );
  for (const r of coalesced)
    c.fail(`notification ${r.id} says ${r.count} but lists ${r.actors} actors`);
  const doubled = await q<{ recipient_id: string; type: string; group_key: string; n: number }>(
    `select recipient_id, notification_type as type, data->>'group_key' as group_key, count(*)::int as n
       from app_public.notifications
      where notification_type in ('post_like', 'comment_like', 'message') and created_at >= $1 and not is_read
      group by 1, 2, 3 having count(*) > 1`,
    [startedAt],
  );
  for (const r of doubled)
    c.fail(`${r.n} unread ${r.type} notifications for ${r.recipient_id} about ${r.group_key}`);

  const crossing = await q<{ id: string; type: string }>(
    `select n.id, n.notification_type as type
       from app_public.notifications n
       join unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) b(a, z, at)
         on ((n.sender_id = b.a and n.recipient_id = b.z) or (n.sender_id = b.z and n.recipient_id = b.a))
      where n.created_at > b.at`,
    [
      ledger.blocks.map((b) => b.blocker),
      ledger.blocks.map((b) => b.blocked),
      ledger.blocks.map((b) => new Date(b.ackAt)),
    ],
  );
  c.saw("blocks", ledger.blocks.length);
  for (const r of crossing) c.fail(`${r.type} notification ${r.id} crosses a block`);
  return c.result();
}

export async function jobs(q: Q): Promise<InvariantResult> {
  const c = new Check(4, "no job lost or stuck; failed jobs explained");
  const due = await q<{ task: string; n: number; locked: number }>(
    `select task_identifier as task, count(*)::int as n, count(locked_at)::int as locked
       from graphile_worker.jobs where attempts < max_attempts and run_at <= now() group by 1`,
  );
  for (const r of due) c.fail(`${r.n} ${r.task} jobs due but not done (${r.locked} locked)`);
  // who holds what is still locked, and whether that pool's heartbeat is on record: a stuck
  // lock is otherwise hard to trace back after the run
  const holders = await q<{ pool: string; jobs: number; oldest_s: number; beat_s: number | null }>(
    `select j.locked_by as pool, count(*)::int as jobs,
            round(extract(epoch from now() - min(j.locked_at)))::int as oldest_s,
            round(extract(epoch from now() - max(w.heartbeat_at)))::int as beat_s
       from graphile_worker.jobs j
       left join app_private.worker_instances w on w.id = j.locked_by
      where j.locked_by is not null and j.attempts < j.max_attempts and j.run_at <= now()
      group by 1`,
  );
  for (const h of holders) {
    c.fail(
      `pool ${h.pool} holds ${h.jobs} of them, locked ${h.oldest_s} s ago; ` +
        (h.beat_s === null ? "no heartbeat on record" : `last heartbeat ${h.beat_s} s ago`),
    );
  }
  const later = await q<{ n: number }>(
    `select count(*)::int as n from graphile_worker.jobs where attempts < max_attempts and run_at > now()`,
  );
  c.saw("scheduled for later", later[0]?.n ?? 0);
  const failed = await q<{ task: string; error: string | null; n: number }>(
    `select task_identifier as task, last_error as error, count(*)::int as n
       from graphile_worker.jobs where attempts >= max_attempts group by 1, 2`,
  );
  c.saw(
    "failed",
    failed.reduce((n, r) => n + r.n, 0),
  );
  for (const r of failed) {
    c.fail(
      `${r.n} ${r.task} jobs failed for good: ${(r.error ?? "no error recorded").split("\n")[0]}`,
    );
  }
  return c.result();
}

function delivery(ledger: Ledger, blocked: Set<string>): InvariantResult {
  const c = new Check(5, "messages reached connected subscribers, or they were told");
  const byConversation = new Map<string, typeof ledger.messages>();
  for (const m of ledger.messages) {
    const list = byConversation.get(m.conversationId) ?? [];
    list.push(m);
    byConversation.set(m.conversationId, list);
  }
  const ackAt = new Map(ledger.messages.map((m) => [m.id, m.ackAt]));
  let expected = 0;
  let excused = 0;
  const iso = (t: number | null): string =>
    t === null ? "-" : new Date(t).toISOString().slice(11, 23);
  for (const s of ledger.sessions) {
    const liveFrom = Math.min(
      s.liveFrom ?? Number.POSITIVE_INFINITY,
      ...[...s.received].map((id) => ackAt.get(id) ?? Number.POSITIVE_INFINITY),
      s.openedAt + SUBSCRIBE_DEADLINE_MS,
    );
    const missed: typeof ledger.messages = [];
    let wanted = 0;
    for (const m of byConversation.get(s.conversationId) ?? []) {
      if (m.sentAt < liveFrom || blocked.has(pairKey(m.senderId, s.userId))) continue;
      // a plain `complete` from the server tells nothing (the subscriber is still entitled and
      // connected): the session is held to every message until the end of the run
      const ended =
        s.endReason === "complete"
          ? Number.POSITIVE_INFINITY
          : (s.endedAt ?? Number.POSITIVE_INFINITY);
      if (m.sentAt >= ended) continue; // sent after this session ended: another session's business
      if (
        m.ackAt + DELIVERY_GRACE_MS > ended &&
        s.endReason !== "end" &&
        s.endReason !== "complete"
      ) {
        if (!s.received.has(m.id)) excused += 1; // told: the socket closed or an error ended it
        continue;
      }
      wanted += 1;
      if (!s.received.has(m.id)) missed.push(m);
    }
    expected += wanted;
    if (missed.length > 0) {
      c.fail(
        `session ${s.id} (${s.instance}, live from ${iso(liveFrom)}, ended ${s.endReason} at ${iso(s.endedAt)}) ` +
          `missed ${missed.length} of ${wanted} messages, sent ${iso(missed[0]!.sentAt)}–${iso(missed[missed.length - 1]!.sentAt)}`,
      );
    }
  }
  c.saw("sessions", ledger.sessions.length);
  c.saw("deliveries expected", expected);
  c.saw("not delivered but told", excused);
  return c.result();
}

function availability(instances: InstanceAvailability[]): InvariantResult {
  const c = new Check(6, "the API answered throughout, except during its own restarts");
  for (const i of instances) {
    c.saw(`${i.instance} probes`, i.probes);
    const longest = i.gaps.reduce((m, g) => Math.max(m, unexcusedMs(g, i.restarts)), 0);
    c.saw(`${i.instance} longest unexcused gap ms`, longest);
    if (longest > MAX_UNEXCUSED_GAP_MS) {
      c.fail(`${i.instance} did not answer for ${longest} ms outside its own restarts`);
    }
  }
  return c.result();
}

export interface Before {
  follows: ReadonlySet<string>;
  friendships: ReadonlyMap<string, string>;
}

export interface InvariantInput {
  ownerUrl: string;
  ledger: Ledger;
  availability: InstanceAvailability[];
  /** What the users had before the run (their follows and friendships are no news). */
  initial: Before;
  startedAt: Date;
}

export async function checkInvariants(o: InvariantInput): Promise<InvariantResult[]> {
  const client = new pg.Client({ connectionString: o.ownerUrl });
  await client.connect();
  const q: Q = async (sql, params) => (await client.query(sql, params)).rows;
  try {
    const blocked = await blockedPairs(q, o.ledger);
    return [
      await writes(q, o.ledger, blocked),
      await counters(q),
      await notifications(q, o.ledger, blocked, o.initial, o.startedAt),
      await jobs(q),
      delivery(o.ledger, blocked),
      availability(o.availability),
    ];
  } finally {
    await client.end();
  }
}

/** Waits until no job is due (or `timeoutMs` passed); returns how long it took. */
export async function drainQueue(ownerUrl: string, timeoutMs: number): Promise<number> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  const started = Date.now();
  try {
    while (Date.now() - started < timeoutMs) {
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from graphile_worker.jobs
          where attempts < max_attempts and run_at <= now() + interval '5 seconds'`,
      );
      if ((rows[0]?.n ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return Date.now() - started;
  } finally {
    await client.end();
  }
}
