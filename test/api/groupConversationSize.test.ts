/**
 * A group conversation holds at most 1,024 current participants (issue #15 asks for a group of
 * 1,000), however they join: createGroupConversation (the creator and up to 1,023 others),
 * addConversationParticipants, and the generated createConversationParticipant. The 1,024th is
 * accepted, the 1,025th refused with INVALID_INPUT naming the argument.
 */
import { randomUUID } from "node:crypto";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
let ana: TestAccount;
beforeAll(async () => {
  api = await startApi();
  ana = await api.register();
});
afterAll(() => api.close());

const GROUP = `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`;
const ADD = `mutation ($c: UUID!, $u: [UUID]!) { addConversationParticipants(input: { conversationId: $c, userIds: $u }) { conversation { id } } }`;
const GENERATED = `mutation ($c: UUID!, $u: UUID!) { createConversationParticipant(input: { conversationParticipant: { conversationId: $c, userId: $u } }) { clientMutationId } }`;

/** `n` new people with a profile (made in SQL: registering a thousand through the API would take minutes). */
async function users(n: number): Promise<string[]> {
  const tag = randomUUID().slice(0, 8);
  const rows = await api.sql<{ id: string }>(
    `with u as (insert into app_public.users (email)
                select 'size_' || g || '_' || $2 || '@example.com' from generate_series(1, $1::int) g
                returning id, email)
     insert into app_public.user_profiles (user_id, username, display_name)
     select id, split_part(email, '@', 1), 'Size' from u
     returning user_id as id`,
    [n, tag],
  );
  return rows.map((r) => r.id);
}

const current = async (conversation: string): Promise<number> =>
  Number(
    (
      await api.sql<{ n: string }>(
        `select count(*)::text as n from app_public.conversation_participants
          where conversation_id = $1 and left_at is null`,
        [conversation],
      )
    )[0]!.n,
  );

const create = (title: string, participants: string[]) =>
  api.as(ana)(GROUP, { t: title, p: participants });

describe("createGroupConversation", () => {
  it("starts a group of 1,024 (you and 1,023 others) and refuses 1,025", async () => {
    const others = await users(1024);
    const made = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await create("a thousand and more", others.slice(0, 1023)),
    ).createGroupConversation.conversation.id;
    expect(await current(made)).toBe(1024);

    expect(refusal(await create("one too many", others))).toMatchObject({
      code: "INVALID_INPUT",
      field: "participant_ids",
    });
  });
});

describe("adding to a group", () => {
  let group: string;
  let waiting: string[];
  beforeAll(async () => {
    const crowd = await users(1022);
    waiting = await users(2);
    group = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await create("nearly full", crowd),
    ).createGroupConversation.conversation.id;
    expect(await current(group)).toBe(1023);
  });

  it("takes the 1,024th participant and refuses the 1,025th, by either mutation", async () => {
    ok(await api.as(ana)(ADD, { c: group, u: [waiting[0]] }));
    expect(await current(group)).toBe(1024);

    expect(refusal(await api.as(ana)(ADD, { c: group, u: [waiting[1]] }))).toMatchObject({
      code: "INVALID_INPUT",
      field: "user_ids",
    });
    expect(refusal(await api.as(ana)(GENERATED, { c: group, u: waiting[1] }))).toMatchObject({
      code: "INVALID_INPUT",
      field: "user_ids",
    });
    expect(await current(group)).toBe(1024);
  });
});
