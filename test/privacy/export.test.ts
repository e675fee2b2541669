/**
 * "Download my data" (issue #13): requestDataExport → the worker builds the archive and e-mails
 * a single-use link → the owner downloads it with the link's token and their access token. The
 * archive holds exactly the person's rows (compared with the database, file by file) and nothing
 * of anyone else's private data; the link works once, expires, and is refused to anyone else.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { strFromU8, unzipSync } from "fflate";

import { EXPORT_FILES } from "../../src/exports/files.ts";
import { tokenServiceFor } from "../../src/server.ts";
import { codeOf, openSessions } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

const PEOPLE = ["ana", "olaf", "carl"] as const;
type Who = (typeof PEOPLE)[number];

let db: TestDatabase;
let server: TestServer;
let worker: TestWorker;
let dataDir: string;
const user = {} as Record<Who, string>;
const tokenOf = {} as Record<Who, string>;
const row: Record<string, string> = {};

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);
const one = async (text: string, values: unknown[]): Promise<string> =>
  (await sql<{ id: string }>(`${text} returning id::text`, values))[0]!.id;

/** ana has rows of every kind; olaf talks to her, likes her post and keeps secrets; carl blocks. */
async function buildPeople(): Promise<void> {
  for (const name of PEOPLE) {
    user[name] = await one(`insert into app_public.users (email) values ($1)`, [
      `${name}@export.test`,
    ]);
    row[`profile.${name}`] = await one(
      `insert into app_public.user_profiles (user_id, username, display_name, bio) values ($1, $2, $3, $4)`,
      [user[name], name, name.toUpperCase(), `${name.toUpperCase()}-BIO`],
    );
  }
  const { ana, olaf, carl } = user;
  await sql(`update app_public.users set password_hash = 'ANA-PASSWORD-HASH' where id = $1`, [ana]);
  await sql(
    `insert into app_private.user_authentications (user_id, service, identifier) values ($1, 'github', 'ana-gh')`,
    [ana],
  );
  row["post.ana"] = await one(
    `insert into app_public.posts (author_id, content) values ($1, 'ANA-POST')`,
    [ana],
  );
  row["post.ana_deleted"] = await one(
    `insert into app_public.posts (author_id, content, deleted_at) values ($1, 'ANA-DELETED-POST', now())`,
    [ana],
  );
  row["media.ana"] = await one(
    `insert into app_public.post_media (post_id, media_type, media_url) values ($1, 'image', 'https://cdn.test/ana.jpg')`,
    [row["post.ana"]],
  );
  row["post.olaf_public"] = await one(
    `insert into app_public.posts (author_id, content) values ($1, 'olaf public')`,
    [olaf],
  );
  row["post.olaf_private"] = await one(
    `insert into app_public.posts (author_id, content, privacy_level) values ($1, 'OLAF-PRIVATE-POST', 'private')`,
    [olaf],
  );
  row["comment.ana"] = await one(
    `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'ANA-COMMENT')`,
    [row["post.olaf_public"], ana],
  );
  row["comment.olaf_on_ana"] = await one(
    `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'OLAF-COMMENT')`,
    [row["post.ana"], olaf],
  );
  await sql(
    `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
    [ana, row["post.olaf_public"]],
  );
  await sql(
    `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
    [olaf, row["post.ana"]],
  );
  await sql(
    `insert into app_public.followers (follower_id, following_id) values ($1, $2), ($2, $1)`,
    [ana, olaf],
  );
  await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
    olaf,
    carl,
  ]);
  await sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
    [ana, olaf],
  );
  row["block.ana_carl"] = await one(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
    [ana, carl],
  );
  row["block.carl_ana"] = await one(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
    [carl, ana],
  );
  row["group.ana"] = await one(
    `insert into app_public.groups (name, created_by) values ('ANA-GROUP', $1)`,
    [ana],
  );
  // ana becomes its admin (trigger); olaf joins
  await sql(`insert into app_public.group_members (group_id, user_id) values ($1, $2)`, [
    row["group.ana"],
    olaf,
  ]);
  row["event.ana"] = await one(
    `insert into app_public.events (title, start_date, created_by) values ('ANA-EVENT', now() + interval '7 days', $1)`,
    [ana],
  );
  row["event.olaf"] = await one(
    `insert into app_public.events (title, start_date, created_by, privacy_level) values ('OLAF-PRIVATE-EVENT', now() + interval '7 days', $1, 'private')`,
    [olaf],
  );
  await sql(
    `insert into app_public.event_attendees (event_id, user_id) values ($1, $2), ($3, $4)`,
    [row["event.olaf"], ana, row["event.ana"], olaf],
  );
  await sql(`insert into app_public.event_waitlist (event_id, user_id) values ($1, $2)`, [
    row["event.ana"],
    ana,
  ]);
  row["conversation.ana_olaf"] = await one(
    `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
    [ana],
  );
  row["conversation.olaf_carl"] = await one(
    `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
    [olaf],
  );
  // their creators take part already (trigger)
  await sql(
    `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2), ($3, $4)`,
    [row["conversation.ana_olaf"], olaf, row["conversation.olaf_carl"], carl],
  );
  row["message.ana"] = await one(
    `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'ANA-MESSAGE')`,
    [row["conversation.ana_olaf"], ana],
  );
  await sql(
    `insert into app_public.messages (conversation_id, sender_id, content, reply_to_message_id) values ($1, $2, 'OLAF-SECRET-MESSAGE', $3)`,
    [row["conversation.ana_olaf"], olaf, row["message.ana"]],
  );
  await sql(
    `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'OLAF-TO-CARL')`,
    [row["conversation.olaf_carl"], olaf],
  );
  await sql(
    `insert into app_public.notifications (recipient_id, sender_id, notification_type, title) values ($1, $2, 'new_follower', 'ANA-NOTIFICATION'), ($2, $1, 'new_follower', 'OLAF-NOTIFICATION')`,
    [ana, olaf],
  );
  await sql(
    `insert into app_private.audit_log (user_id, action, ip, user_agent) values ($1, 'login_success', '192.0.2.1', 'ana-browser'), ($2, 'login_success', '192.0.2.2', 'OLAF-BROWSER')`,
    [ana, olaf],
  );
  // the worker's own counters and notification jobs for the rows above must not race the export
  await worker.idle();
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(path.join(tmpdir(), "mking-exports-"));
  server = await startTestServer(db, { DATA_DIR: dataDir });
  worker = await startTestWorker(db, { dataExport: { dataDir, ttlHours: 48 } });
  await buildPeople();
  const sessions = await openSessions(
    db.ownerUrl,
    PEOPLE.map((p) => user[p]),
  );
  const tokens = tokenServiceFor(server.config);
  PEOPLE.forEach((p, i) => (tokenOf[p] = tokens.sign(user[p], sessions[i]!).token));
});
afterAll(async () => {
  await worker.close();
  await server.close();
  await db.drop();
  await rm(dataDir, { recursive: true, force: true });
});

const REQUEST = `mutation { requestDataExport(input: {}) { dataExport { id status requestedAt } } }`;
const MINE = `{ myDataExports { nodes { id status requestedAt readyAt expiresAt bytes } } }`;

interface Link {
  id: string;
  token: string;
}

let mailsToAna = 0;
/** Asks for an export as ana and waits for the e-mail with its link. */
async function exportAndWaitForLink(): Promise<Link> {
  const { body } = await server.graphql(REQUEST, {}, { token: tokenOf.ana });
  expect(body.errors).toBeUndefined();
  const requested = (body.data!.requestDataExport as { dataExport: { id: string; status: string } })
    .dataExport;
  expect(requested.status).toBe("requested");
  const mail = await worker.message("ana@export.test", mailsToAna++);
  expect(mail.subject).toBe("Your data export is ready");
  const m = /https:\/\/app\.test\/exports\/([0-9a-f-]{36})\?token=([A-Za-z0-9_-]+)/.exec(mail.text);
  expect(m?.[1]).toBe(requested.id);
  return { id: m![1]!, token: m![2]! };
}

function download(link: Link, who: Who | null, method: "GET" | "POST" = "GET"): Promise<Response> {
  const headers: Record<string, string> = who ? { authorization: `Bearer ${tokenOf[who]}` } : {};
  if (method === "GET") {
    return fetch(`${server.url}/exports/${link.id}?token=${encodeURIComponent(link.token)}`, {
      headers,
    });
  }
  return fetch(`${server.url}/exports/${link.id}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ token: link.token }),
  });
}

async function errorCode(response: Response): Promise<unknown> {
  const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
  return body.errors[0]?.extensions.code;
}

const ids = (rows: readonly { id: unknown }[]): string[] => rows.map((r) => String(r.id)).sort();
const dbIds = async (text: string): Promise<string[]> =>
  ids(await sql<{ id: string }>(text, [user.ana]));

describe("an export of everything about ana", () => {
  let link: Link;
  let files: Record<string, string>;

  it("signed out, requestDataExport answers UNAUTHENTICATED", async () => {
    expect(codeOf((await server.graphql(REQUEST)).body)).toBe("UNAUTHENTICATED");
  });

  it("is built by the worker and a single-use link is e-mailed; myDataExports shows it ready", async () => {
    link = await exportAndWaitForLink();
    const { body } = await server.graphql(MINE, {}, { token: tokenOf.ana });
    const [mine] = (body.data!.myDataExports as { nodes: Record<string, unknown>[] }).nodes;
    expect(mine).toMatchObject({ id: link.id, status: "ready" });
    expect(Number(mine!.bytes)).toBeGreaterThan(0);
    const hours =
      (Date.parse(String(mine!.expiresAt)) - Date.parse(String(mine!.readyAt))) / 3_600_000;
    expect(hours).toBeCloseTo(48, 5);
    // nobody else sees it
    const other = await server.graphql(MINE, {}, { token: tokenOf.olaf });
    expect((other.body.data!.myDataExports as { nodes: unknown[] }).nodes).toEqual([]);
    // the archive is readable by the service only; the database keeps only the token's hash
    const info = await stat(path.join(dataDir, "exports", `${link.id}.zip`));
    expect(info.mode & 0o777).toBe(0o600);
    const [stored] = await sql<{ token_hash: string }>(
      `select token_hash from app_private.data_export_files where export_id = $1`,
      [link.id],
    );
    expect(stored!.token_hash).not.toContain(link.token);
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("while one export waits, another is refused (RATE_LIMITED)", async () => {
    expect(codeOf((await server.graphql(REQUEST, {}, { token: tokenOf.ana })).body)).toBe(
      "RATE_LIMITED",
    );
  });

  it("is refused without ana's access token, with olaf's, or with a wrong token", async () => {
    const signedOut = await download(link, null);
    expect(signedOut.status).toBe(401);
    expect(await errorCode(signedOut)).toBe("UNAUTHENTICATED");
    const olaf = await download(link, "olaf");
    expect(olaf.status).toBe(404);
    expect(await errorCode(olaf)).toBe("NOT_FOUND");
    const wrong = await download({ id: link.id, token: link.token.slice(1) + "x" }, "ana");
    expect(wrong.status).toBe(404);
    expect(await errorCode(wrong)).toBe("NOT_FOUND");
  });

  it("refuses a POSTed body that is not JSON, or too large, with the transport's codes", async () => {
    const post = (body: string) =>
      fetch(`${server.url}/exports/${link.id}`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokenOf.ana}`, "content-type": "application/json" },
        body,
      });
    const malformed = await post(`{"token": `);
    expect([malformed.status, await errorCode(malformed)]).toEqual([400, "MALFORMED_JSON"]);
    const large = await post(JSON.stringify({ token: "x".repeat(5000) }));
    expect([large.status, await errorCode(large)]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
  });

  it("is served to ana, with her token, as a zip of JSON files with a README and a manifest", async () => {
    const response = await download(link, "ana");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename=".+\.zip"$/);
    const zip = unzipSync(new Uint8Array(await response.arrayBuffer()));
    files = Object.fromEntries(
      Object.entries(zip).map(([name, bytes]) => [name, strFromU8(bytes)]),
    );
    expect(Object.keys(files).sort()).toEqual(
      [...EXPORT_FILES.map((f) => f.name), "manifest.json", "README.md"].sort(),
    );
    for (const file of EXPORT_FILES) expect(files["README.md"]).toContain(`## ${file.name}`);
    const [status] = await sql<{ status: string }>(
      `select status from app_public.data_exports where id = $1`,
      [link.id],
    );
    expect(status!.status).toBe("downloaded");
  });

  it("every file holds exactly ana's rows, with the documented fields", async () => {
    const json = (name: string): unknown => JSON.parse(files[name]!);
    const list = (name: string) => json(name) as Record<string, unknown>[];

    const account = json("account.json") as Record<string, unknown>;
    expect(account).toMatchObject({ id: user.ana, email: "ana@export.test" });
    expect(account).not.toHaveProperty("password_hash");
    expect((json("profile.json") as Record<string, unknown>).id).toBe(row["profile.ana"]);

    const expected: Record<string, string> = {
      "external_identities.json": `select id from app_private.user_authentications where user_id = $1`,
      "posts.json": `select id from app_public.posts where author_id = $1`,
      "comments.json": `select id from app_public.comments where author_id = $1`,
      "likes.json": `select id from app_public.likes where user_id = $1`,
      "followers.json": `select id from app_public.followers where following_id = $1`,
      "following.json": `select id from app_public.followers where follower_id = $1`,
      "friendships.json": `select id from app_public.friendships where $1 in (requester_id, addressee_id) and status <> 'blocked'`,
      "blocks.json": `select id from app_public.friendships where requester_id = $1 and status = 'blocked'`,
      "group_memberships.json": `select id from app_public.group_members where user_id = $1`,
      "groups_created.json": `select id from app_public.groups where created_by = $1`,
      "events_organised.json": `select id from app_public.events where created_by = $1`,
      "event_rsvps.json": `select id from app_public.event_attendees where user_id = $1`,
      "event_waitlist.json": `select id from app_public.event_waitlist where user_id = $1`,
      "conversations.json": `select conversation_id as id from app_public.conversation_participants where user_id = $1`,
      "notifications.json": `select id from app_public.notifications where recipient_id = $1`,
      "audit_log.json": `select id from app_private.audit_log where user_id = $1`,
    };
    for (const [name, query] of Object.entries(expected)) {
      const want = await dbIds(query);
      expect(want.length).toBeGreaterThan(0); // ana has rows of every kind
      if (name === "external_identities.json") {
        expect(list(name).map((r) => r.identifier)).toEqual(["ana-gh"]);
        continue;
      }
      expect([name, ids(list(name) as { id: unknown }[])]).toEqual([name, want]);
    }

    // the messages in her conversations are hers only; posts carry their media
    const sent = list("conversations.json").flatMap(
      (c) => c.messages_sent as { id: string; content: string }[],
    );
    expect(ids(sent)).toEqual(
      await dbIds(`select id from app_public.messages where sender_id = $1`),
    );
    expect(sent.map((m) => m.content)).toEqual(["ANA-MESSAGE"]);
    const [conversation] = list("conversations.json");
    expect(
      (conversation!.participants as { username: string }[]).map((p) => p.username).sort(),
    ).toEqual(["ana", "olaf"]);
    const post = list("posts.json").find((p) => p.id === row["post.ana"])!;
    expect((post.media as { id: string }[]).map((m) => m.id)).toEqual([row["media.ana"]]);

    // every row has exactly the fields the README documents
    for (const file of EXPORT_FILES) {
      const content = json(file.name) as Record<string, unknown> | Record<string, unknown>[];
      for (const r of Array.isArray(content) ? content : [content]) {
        expect([file.name, Object.keys(r)]).toEqual([file.name, Object.keys(file.fields)]);
      }
    }
    const manifest = json("manifest.json") as { files: Record<string, number>; user_id: string };
    expect(manifest.user_id).toBe(user.ana);
    expect(manifest.files["posts.json"]).toBe(list("posts.json").length);
  });

  it("holds nothing of anyone else's private data", () => {
    const everything = Object.values(files).join("\n");
    for (const secret of [
      "olaf@export.test",
      "carl@export.test",
      "OLAF-SECRET-MESSAGE",
      "OLAF-TO-CARL",
      "OLAF-PRIVATE-POST",
      "OLAF-PRIVATE-EVENT",
      "OLAF-COMMENT",
      "OLAF-NOTIFICATION",
      "OLAF-BROWSER",
      "OLAF-BIO",
      "ANA-PASSWORD-HASH",
      row["post.olaf_private"]!,
      row["conversation.olaf_carl"]!,
      row["block.carl_ana"]!,
    ]) {
      expect([secret, everything.includes(secret)]).toEqual([secret, false]);
    }
  });

  it("works once: a second download is refused (EXPORT_ALREADY_DOWNLOADED)", async () => {
    const again = await download(link, "ana");
    expect(again.status).toBe(410);
    expect(await errorCode(again)).toBe("EXPORT_ALREADY_DOWNLOADED");
  });
});

describe("the link", () => {
  it("of two concurrent downloads, serves exactly one (POST with the token works too)", async () => {
    const link = await exportAndWaitForLink();
    const responses = await Promise.all([
      download(link, "ana", "POST"),
      download(link, "ana", "GET"),
    ]);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 410]);
    const refused = responses.find((r) => r.status === 410)!;
    expect(await errorCode(refused)).toBe("EXPORT_ALREADY_DOWNLOADED");
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.arrayBuffer()));
  });

  it("expires: refused with EXPORT_EXPIRED, then the purge deletes the archive; the daily limit holds", async () => {
    const link = await exportAndWaitForLink();
    const archive = path.join(dataDir, "exports", `${link.id}.zip`);
    await sql(
      `update app_public.data_exports set expires_at = now() - interval '1 minute' where id = $1`,
      [link.id],
    );
    const expired = await download(link, "ana");
    expect(expired.status).toBe(410);
    expect(await errorCode(expired)).toBe("EXPORT_EXPIRED");
    await expect(stat(archive)).resolves.toBeDefined();

    const completed = worker.listen();
    const [job] = await sql<{ id: string }>(
      `select id::text from graphile_worker.add_job('data_export__purge')`,
    );
    expect((await completed(job!.id)).error).toBeUndefined();
    await expect(stat(archive)).rejects.toMatchObject({ code: "ENOENT" });
    expect(
      await sql(`select e.status, f.export_id from app_public.data_exports e
                   left join app_private.data_export_files f on f.export_id = e.id
                  order by e.requested_at`),
    ).toEqual([
      { status: "downloaded", export_id: null },
      { status: "downloaded", export_id: null },
      { status: "expired", export_id: null },
    ]);

    // three exports today: a fourth is refused although none is waiting
    const fourth = await server.graphql(REQUEST, {}, { token: tokenOf.ana });
    expect(codeOf(fourth.body)).toBe("RATE_LIMITED");
  });
});
