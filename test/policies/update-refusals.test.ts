/**
 * A generated update mutation that changes no row — the row does not exist, row-level security
 * hides it, or it is visible but not yours to change — answers NOT_FOUND, as the generated
 * deletes do, never `{ post: null }` without an error (plugins/updateRefusals.ts). Signed-out
 * callers still get FORBIDDEN (anonymous holds no write privilege; test/policies/anonymous.test.ts).
 */
import { randomUUID } from "node:crypto";

import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from "postgraphile/graphql";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import type { GraphQLBody } from "../helpers/server.ts";
import { NOTHING_UPDATED_MESSAGE } from "../../plugins/updateRefusals.ts";

let api: Api;
let owner: TestAccount;
let stranger: TestAccount;
const row: Record<string, string> = {};

const insert = async (text: string, values: unknown[]): Promise<string> =>
  (await api.sql<{ id: string }>(`${text} returning id`, values))[0]!.id;

beforeAll(async () => {
  api = await startApi();
  owner = await api.register();
  stranger = await api.register();
  row.post = await insert(
    `insert into app_public.posts (author_id, content, privacy_level) values ($1, 'hello', 'public')`,
    [owner.id],
  );
  row.privatePost = await insert(
    `insert into app_public.posts (author_id, content, privacy_level) values ($1, 'mine', 'private')`,
    [owner.id],
  );
  row.comment = await insert(
    `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'first')`,
    [row.post, owner.id],
  );
  row.group = await insert(
    `insert into app_public.groups (name, group_type, created_by) values ('Climbers', 'public', $1)`,
    [owner.id],
  );
  row.event = await insert(
    `insert into app_public.events (title, start_date, privacy_level, created_by)
     values ('Party', now() + interval '7 days', 'public', $1)`,
    [owner.id],
  );
  row.attendee = await insert(
    `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going')`,
    [row.event, owner.id],
  );
  row.notification = await insert(
    `insert into app_public.notifications (recipient_id, sender_id, notification_type, title)
     values ($1, $2, 'friend_accepted', 'Accepted')`,
    [owner.id, stranger.id],
  );
  // a direct conversation both are in: the stranger sees the owner's message
  const started = ok<{ startDirectConversation: { conversation: { id: string } } }>(
    await api.as(owner)(
      `mutation ($id: UUID!) { startDirectConversation(input: { userId: $id }) { conversation { id } } }`,
      { id: stranger.id },
    ),
  );
  row.message = await insert(
    `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hi')`,
    [started.startDirectConversation.conversation.id, owner.id],
  );
});
afterAll(() => api.close());

interface Case {
  table: string;
  mutation: string;
  /** The input's key fields, for a row id. */
  key: (id: string) => Record<string, string>;
  rowOf: () => string;
  patchType: string;
  patch: Record<string, unknown>;
  /** The payload field and one of its columns, to read back. */
  payload: string;
  column: string;
}

const CASES: Case[] = [
  {
    table: "posts",
    mutation: "updatePost",
    key: (id) => ({ id }),
    rowOf: () => row.post!,
    patchType: "PostPatch",
    patch: { content: "edited" },
    payload: "post",
    column: "content",
  },
  {
    table: "user_profiles",
    mutation: "updateUserProfileByUserId",
    key: (userId) => ({ userId }),
    rowOf: () => owner.id,
    patchType: "UserProfilePatch",
    patch: { displayName: "Renamed" },
    payload: "userProfile",
    column: "displayName",
  },
  {
    table: "groups",
    mutation: "updateGroup",
    key: (id) => ({ id }),
    rowOf: () => row.group!,
    patchType: "GroupPatch",
    patch: { description: "We climb" },
    payload: "group",
    column: "description",
  },
  {
    table: "event_attendees",
    mutation: "updateEventAttendee",
    key: (id) => ({ id }),
    rowOf: () => row.attendee!,
    patchType: "EventAttendeePatch",
    patch: { status: "maybe" },
    payload: "eventAttendee",
    column: "status",
  },
  {
    table: "comments",
    mutation: "updateComment",
    key: (id) => ({ id }),
    rowOf: () => row.comment!,
    patchType: "CommentPatch",
    patch: { content: "second thoughts" },
    payload: "comment",
    column: "content",
  },
  {
    table: "messages",
    mutation: "updateMessage",
    key: (id) => ({ id }),
    rowOf: () => row.message!,
    patchType: "MessagePatch",
    patch: { content: "hi!" },
    payload: "message",
    column: "content",
  },
  {
    table: "notifications",
    mutation: "updateNotification",
    key: (id) => ({ id }),
    rowOf: () => row.notification!,
    patchType: "NotificationPatch",
    patch: { isRead: true },
    payload: "notification",
    column: "isRead",
  },
];

function call(c: Case, who: TestAccount | null, id: string): Promise<GraphQLBody> {
  const keys = Object.keys(c.key(id));
  const defs = keys.map((k) => `$${k}: ${k === "username" ? "String" : "UUID"}!`).join(", ");
  const args = keys.map((k) => `${k}: $${k}`).join(", ");
  return api.as(who)(
    `mutation (${defs}, $patch: ${c.patchType}!) {
      ${c.mutation}(input: { ${args}, patch: $patch }) { ${c.payload} { ${c.column} } }
    }`,
    { ...c.key(id), patch: c.patch },
  );
}

const outcome = (body: GraphQLBody) => ({
  data: body.data,
  error: body.errors?.[0] && { message: body.errors[0].message, ...body.errors[0].extensions },
});

describe.each(CASES)("$mutation ($table)", (c) => {
  it("answers NOT_FOUND to someone else and FORBIDDEN signed out, changing nothing; the owner's update succeeds", async () => {
    const table = () => api.sql(`select * from app_public.${c.table} order by id`);
    const before = await table();
    expect(outcome(await call(c, stranger, c.rowOf()))).toEqual({
      data: { [c.mutation]: null },
      error: { message: NOTHING_UPDATED_MESSAGE, code: "NOT_FOUND" },
    });
    // anonymous holds no write privilege at all (test/policies/anonymous.test.ts)
    expect(refusal(await call(c, null, c.rowOf()))).toMatchObject({ code: "FORBIDDEN" });
    expect(await table()).toEqual(before);

    expect(ok(await call(c, owner, c.rowOf()))).toEqual({
      [c.mutation]: { [c.payload]: { [c.column]: c.patch[c.column] } },
    });
  });

  it("answers NOT_FOUND for a row that does not exist", async () => {
    expect(outcome(await call(c, owner, randomUUID()))).toEqual({
      data: { [c.mutation]: null },
      error: { message: NOTHING_UPDATED_MESSAGE, code: "NOT_FOUND" },
    });
  });
});

it("answers NOT_FOUND for a post its author's own row-level security hides from others", async () => {
  const body = await call(CASES[0]!, stranger, row.privatePost!);
  expect(refusal(body)).toEqual({ code: "NOT_FOUND" });
  expect(
    await api.sql(`select content from app_public.posts where id = $1`, [row.privatePost]),
  ).toEqual([{ content: "mine" }]);
});

/** A value of the input type: key fields get fresh random values, a patch one settable field. */
function dummy(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return dummy(type.ofType);
  if (isListType(type)) return [];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((f) => f.name !== "clientMutationId");
    const required = fields.filter((f) => isNonNullType(f.type));
    const chosen = required.length > 0 ? required : fields.slice(0, 1);
    return Object.fromEntries(chosen.map((f) => [f.name, dummy(f.type)]));
  }
  if (isScalarType(type)) {
    const byScalar: Record<string, () => unknown> = {
      UUID: () => randomUUID(),
      String: () => "x", // short: some columns are varchar(n), and no row has "x" as a key
      Int: () => 1,
      Float: () => 1,
      Boolean: () => true,
      Datetime: () => "2030-01-01T00:00:00Z",
      Date: () => "2000-01-01",
      BigInt: () => "1",
      BigFloat: () => "1",
      JSON: () => ({}),
    };
    const make = byScalar[type.name];
    if (!make) throw new Error(`no dummy for scalar ${type.name}`);
    return make();
  }
  throw new Error(`no dummy for ${String(type)}`);
}

/** The generated update mutations: `update…` whose input carries a `patch`. */
function generatedUpdates(schema: GraphQLSchema): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getMutationType()!.getFields()).filter((field) => {
    const input = field.args.find((a) => a.name === "input");
    const type = input && getNamedType(input.type);
    return field.name.startsWith("update") && isInputObjectType(type) && "patch" in type.getFields();
  });
}

it("answers every generated update of a row that does not exist with an error code, never a silent null", async () => {
  const schema = await api.server.pgl.getSchema();
  const updates = generatedUpdates(schema);
  expect(updates.map((f) => f.name)).toEqual(
    expect.arrayContaining(CASES.map((c) => c.mutation).concat("updateAccount", "updateFriendship")),
  );
  const answers: Record<string, { data: unknown; code: unknown }> = {};
  for (const field of updates) {
    const input = field.args.find((a) => a.name === "input")!;
    const body = await api.as(stranger)(
      `mutation ($input: ${String(input.type)}) { ${field.name}(input: $input) { __typename } }`,
      { input: dummy(input.type) },
    );
    answers[field.name] = { data: body.data?.[field.name], code: body.errors?.[0]?.extensions?.code };
  }
  const notFound = Object.entries(answers).filter(
    ([, a]) => a.code === "NOT_FOUND" && a.data === null,
  );
  expect(Object.fromEntries(notFound)).toEqual(answers);
});
