/**
 * Every refusal of a named mutation holds on its generated twin: the same wrong request sent
 * through the named mutation (sendMessage, rsvpEvent, …) and through the generated CRUD one
 * (createMessage, createEventAttendee, …) is refused with the same code. One table row per rule;
 * the rules live in the database (constraints, triggers, policies), so both paths meet them.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

type Input = Record<string, unknown>;

/** Calls `mutation { <name>(input: $input) }` as `who` and returns the first error's extensions. */
async function attempt(who: TestAccount, name: string, input: Input) {
  const type = `${name[0]!.toUpperCase()}${name.slice(1)}Input`;
  const body = await api.as(who)(
    `mutation ($input: ${type}!) { ${name}(input: $input) { clientMutationId } }`,
    { input },
  );
  return refusal(body);
}

/** Calls a mutation that must succeed; returns `id` of the one object in its one payload. */
async function must(who: TestAccount, query: string, variables: Input = {}): Promise<string> {
  const payload = Object.values(ok(await api.as(who)(query, variables)))[0] as Input;
  return (Object.values(payload)[0] as { id: string }).id;
}

const START_DIRECT = `mutation ($u: UUID!) { startDirectConversation(input: { userId: $u }) { conversation { id } } }`;
const START_GROUP = `mutation ($t: String!, $p: [UUID]) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`;
const SEND = `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`;
const DELETE_MESSAGE = `mutation ($id: UUID!) { deleteMessage(input: { messageId: $id }) { message { id } } }`;
const PUBLISH = `mutation ($t: String!, $p: String) { publishPost(input: { content: $t, privacyLevel: $p }) { post { id } } }`;
const COMMENT = `mutation ($p: UUID!, $t: String!) { addComment(input: { postId: $p, content: $t }) { comment { id } } }`;
const CREATE_GROUP = `mutation ($n: String!) { createGroup(input: { name: $n }) { group { id } } }`;
const CREATE_EVENT = `mutation ($t: String!, $s: Datetime!, $m: Int) { createEvent(input: { title: $t, startDate: $s, maxAttendees: $m }) { event { id } } }`;
const RSVP = `mutation ($e: UUID!, $s: RsvpStatus!) { rsvpEvent(input: { eventId: $e, status: $s }) { event { id } } }`;
const CANCEL = `mutation ($e: UUID!) { cancelEvent(input: { eventId: $e }) { event { id } } }`;
const BLOCK = `mutation ($u: UUID!) { blockUser(input: { userId: $u }) { clientMutationId } }`;

/** What a case's setup built: people and the ids of rows they made. */
interface Scene {
  ana: TestAccount;
  ben: TestAccount;
  id: Record<string, string>;
}

const people = async (): Promise<Pick<Scene, "ana" | "ben">> => {
  const [ana, ben] = await Promise.all([api.register(), api.register()]);
  return { ana, ben };
};
const nextWeek = () => new Date(Date.now() + 7 * 86_400_000).toISOString();

/** Two conversations of ana's (direct with ben, and a group), a message in the group one. */
async function conversations(): Promise<Scene> {
  const { ana, ben } = await people();
  const direct = await must(ana, START_DIRECT, { u: ben.id });
  const group = await must(ana, START_GROUP, { t: "Planning", p: [ben.id] });
  const groupMessage = await must(ana, SEND, { c: group, t: "in the group" });
  const directMessage = await must(ana, SEND, { c: direct, t: "just us" });
  return { ana, ben, id: { direct, group, groupMessage, directMessage } };
}

/** A group conversation of ana's already at 1,024 participants (the most), and ben outside it. */
async function fullConversation(): Promise<Scene> {
  const { ana, ben } = await people();
  const group = await must(ana, START_GROUP, { t: "Crowd", p: [] });
  await api.sql(
    `with u as (insert into app_public.users (email)
                select 'crowd_' || g || '_' || $2 || '@example.com' from generate_series(1, 1023) g
                returning id)
     insert into app_public.conversation_participants (conversation_id, user_id) select $1, id from u`,
    [group, group.slice(0, 8)],
  );
  return { ana, ben, id: { group } };
}

/** ana's post, visible to friends only, with a comment; another post of hers. */
async function posts(): Promise<Scene> {
  const { ana, ben } = await people();
  const post = await must(ana, PUBLISH, { t: "for friends", p: "friends" });
  const other = await must(ana, PUBLISH, { t: "another one", p: "public" });
  const comment = await must(ana, COMMENT, { p: post, t: "first" });
  return { ana, ben, id: { post, other, comment } };
}

/** ana's event, which ben answered MAYBE before she cancelled it. */
async function cancelledEvent(): Promise<Scene> {
  const { ana, ben } = await people();
  const event = await must(ana, CREATE_EVENT, { t: "Picnic", s: nextWeek() });
  ok(await api.as(ben)(RSVP, { e: event, s: "MAYBE" }));
  ok(await api.as(ana)(CANCEL, { e: event }));
  const [row] = await api.sql<{ id: string }>(
    `select id from app_public.event_attendees where event_id = $1 and user_id = $2`,
    [event, ben.id],
  );
  return { ana, ben, id: { event, benAnswer: row!.id } };
}

/** ana's event for one person, who is ana. */
async function fullEvent(): Promise<Scene> {
  const { ana, ben } = await people();
  const event = await must(ana, CREATE_EVENT, { t: "Dinner for one", s: nextWeek(), m: 1 });
  ok(await api.as(ana)(RSVP, { e: event, s: "GOING" }));
  return { ana, ben, id: { event } };
}

/** ana blocked ben. */
async function blocked(): Promise<Scene> {
  const { ana, ben } = await people();
  ok(await api.as(ana)(BLOCK, { u: ben.id }));
  return { ana, ben, id: {} };
}

/** A group ana is not in (ben's), and a post of ana's with 10 media files. */
async function groupAndMedia(): Promise<Scene> {
  const { ana, ben } = await people();
  const group = await must(ben, CREATE_GROUP, { n: "Ben's club" });
  const media = Array.from({ length: 10 }, (_, i) => ({
    mediaType: "image",
    mediaUrl: `https://cdn.test/${i}.jpg`,
  }));
  const post = await must(
    ana,
    `mutation ($m: [MediaItemInput]) { publishPost(input: { content: "album", media: $m }) { post { id } } }`,
    { m: media },
  );
  return { ana, ben, id: { group, post } };
}

interface Case {
  rule: string;
  setup: () => Promise<Scene>;
  named: [name: string, input: (s: Scene) => Input];
  generated: [name: string, input: (s: Scene) => Input];
  code: string;
  /** Who tries (default ana). */
  as?: (s: Scene) => TestAccount;
}

const tooLong = "x".repeat(10_001);
const media11 = Array.from({ length: 11 }, (_, i) => ({
  mediaType: "image",
  mediaUrl: `https://cdn.test/${i}.jpg`,
}));

const CASES: Case[] = [
  // messages
  {
    rule: "a reply answers a message of the same conversation",
    setup: conversations,
    named: ["sendMessage", (s) => ({ conversationId: s.id.direct, content: "re", replyToMessageId: s.id.groupMessage })],
    generated: [
      "createMessage",
      (s) => ({ message: { conversationId: s.id.direct, senderId: s.ana.id, content: "re", replyToMessageId: s.id.groupMessage } }),
    ],
    code: "INVALID_INPUT",
  },
  {
    rule: "a reply to a message that does not exist is refused the same way (no existence oracle)",
    setup: conversations,
    named: ["sendMessage", (s) => ({ conversationId: s.id.direct, content: "re", replyToMessageId: s.id.group })],
    generated: [
      "createMessage",
      (s) => ({ message: { conversationId: s.id.direct, senderId: s.ana.id, content: "re", replyToMessageId: s.id.group } }),
    ],
    code: "INVALID_INPUT",
  },
  {
    rule: "a message needs text or a file",
    setup: conversations,
    named: ["sendMessage", (s) => ({ conversationId: s.id.direct, content: "   " })],
    generated: ["createMessage", (s) => ({ message: { conversationId: s.id.direct, senderId: s.ana.id, content: "   " } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a deleted message stays deleted",
    setup: async () => {
      const s = await conversations();
      ok(await api.as(s.ana)(DELETE_MESSAGE, { id: s.id.directMessage }));
      return s;
    },
    named: ["editMessage", (s) => ({ messageId: s.id.directMessage, content: "back" })],
    generated: ["updateMessage", (s) => ({ id: s.id.directMessage, patch: { content: "back" } })],
    code: "CONFLICT",
  },
  // group conversations
  {
    rule: "a group conversation needs a title",
    setup: conversations,
    named: ["createGroupConversation", (s) => ({ title: "   ", participantIds: [s.ben.id] })],
    generated: ["createConversation", (s) => ({ conversation: { conversationType: "group", title: "   ", createdBy: s.ana.id } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a group conversation's title is at most 100 characters",
    setup: conversations,
    named: ["createGroupConversation", (s) => ({ title: "t".repeat(101), participantIds: [s.ben.id] })],
    generated: ["createConversation", (s) => ({ conversation: { conversationType: "group", title: "t".repeat(101), createdBy: s.ana.id } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a group conversation keeps a title when renamed",
    setup: conversations,
    named: ["createGroupConversation", (s) => ({ title: "", participantIds: [s.ben.id] })],
    generated: ["updateConversation", (s) => ({ id: s.id.group, patch: { title: "" } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a conversation has at most 1,024 participants",
    setup: fullConversation,
    named: ["addConversationParticipants", (s) => ({ conversationId: s.id.group, userIds: [s.ben.id] })],
    generated: ["createConversationParticipant", (s) => ({ conversationParticipant: { conversationId: s.id.group, userId: s.ben.id } })],
    code: "INVALID_INPUT",
  },
  // events
  {
    rule: "a cancelled event takes no answers",
    setup: cancelledEvent,
    named: ["rsvpEvent", (s) => ({ eventId: s.id.event, status: "GOING" })],
    generated: ["createEventAttendee", (s) => ({ eventAttendee: { eventId: s.id.event, userId: s.ana.id, status: "going" } })],
    code: "CONFLICT",
  },
  {
    rule: "a cancelled event takes no changed answers",
    setup: cancelledEvent,
    named: ["rsvpEvent", (s) => ({ eventId: s.id.event, status: "GOING" })],
    generated: ["updateEventAttendee", (s) => ({ id: s.id.benAnswer, patch: { status: "going" } })],
    code: "CONFLICT",
    as: (s) => s.ben,
  },
  {
    rule: "a cancelled event has no waitlist",
    setup: cancelledEvent,
    named: ["rsvpEvent", (s) => ({ eventId: s.id.event, status: "GOING", joinWaitlist: true })],
    generated: ["createEventWaitlist", (s) => ({ eventWaitlist: { eventId: s.id.event, userId: s.ben.id } })],
    code: "CONFLICT",
  },
  {
    rule: "nobody goes beyond an event's capacity",
    setup: fullEvent,
    named: ["rsvpEvent", (s) => ({ eventId: s.id.event, status: "GOING" })],
    generated: ["createEventAttendee", (s) => ({ eventAttendee: { eventId: s.id.event, userId: s.ben.id, status: "going" } })],
    code: "EVENT_FULL",
    as: (s) => s.ben,
  },
  // people
  {
    rule: "no friend request to yourself",
    setup: people as () => Promise<Scene>,
    named: ["sendFriendRequest", (s) => ({ userId: s.ana.id })],
    generated: ["createFriendship", (s) => ({ friendship: { requesterId: s.ana.id, addresseeId: s.ana.id, status: "pending" } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "no friend request to someone you blocked",
    setup: blocked,
    named: ["sendFriendRequest", (s) => ({ userId: s.ben.id })],
    generated: ["createFriendship", (s) => ({ friendship: { requesterId: s.ana.id, addresseeId: s.ben.id, status: "pending" } })],
    code: "FORBIDDEN",
  },
  {
    rule: "no following yourself",
    setup: people as () => Promise<Scene>,
    named: ["followUser", (s) => ({ userId: s.ana.id })],
    generated: ["createFollower", (s) => ({ follower: { followerId: s.ana.id, followingId: s.ana.id } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "no following someone you blocked",
    setup: blocked,
    named: ["followUser", (s) => ({ userId: s.ben.id })],
    generated: ["createFollower", (s) => ({ follower: { followerId: s.ana.id, followingId: s.ben.id } })],
    code: "FORBIDDEN",
  },
  // posts, media and comments
  {
    rule: "a post is at most 10000 characters",
    setup: posts,
    named: ["publishPost", () => ({ content: tooLong })],
    generated: ["createPost", (s) => ({ post: { authorId: s.ana.id, content: tooLong } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "posts go only into groups you are in",
    setup: groupAndMedia,
    named: ["publishPost", (s) => ({ content: "hello club", groupId: s.id.group })],
    generated: ["createPost", (s) => ({ post: { authorId: s.ana.id, content: "hello club", groupId: s.id.group } })],
    code: "FORBIDDEN",
  },
  {
    rule: "a post has at most 10 media files",
    setup: groupAndMedia,
    named: ["publishPost", () => ({ content: "too many", media: media11 })],
    generated: ["createPostMedia", (s) => ({ postMedia: { postId: s.id.post, mediaType: "image", mediaUrl: "https://cdn.test/11.jpg" } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a share is never more public than what it shares",
    setup: posts,
    named: ["sharePost", (s) => ({ postId: s.id.post, privacyLevel: "public" })],
    generated: ["createPost", (s) => ({ post: { authorId: s.ana.id, content: "", sharedPostId: s.id.post, privacyLevel: "public" } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a reply answers a comment on the same post",
    setup: posts,
    named: ["addComment", (s) => ({ postId: s.id.other, content: "re", parentCommentId: s.id.comment })],
    generated: ["createComment", (s) => ({ comment: { postId: s.id.other, authorId: s.ana.id, content: "re", parentCommentId: s.id.comment } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "a comment needs text",
    setup: posts,
    named: ["addComment", (s) => ({ postId: s.id.post, content: "  " })],
    generated: ["createComment", (s) => ({ comment: { postId: s.id.post, authorId: s.ana.id, content: "  " } })],
    code: "INVALID_INPUT",
  },
  {
    rule: "an edited comment keeps some text",
    setup: posts,
    named: ["editComment", (s) => ({ commentId: s.id.comment, content: "  " })],
    generated: ["updateComment", (s) => ({ id: s.id.comment, patch: { content: "  " } })],
    code: "INVALID_INPUT",
  },
];

describe.each(CASES)("$rule", ({ setup, named, generated, code, as = (s) => s.ana }) => {
  let scene: Scene;
  beforeAll(async () => {
    scene = await setup();
  });

  it(`${named[0]} refuses with ${code}`, async () => {
    expect(await attempt(as(scene), named[0], named[1](scene))).toMatchObject({ code });
  });
  it(`${generated[0]} refuses with ${code} too`, async () => {
    expect(await attempt(as(scene), generated[0], generated[1](scene))).toMatchObject({ code });
  });
});

describe("the reply rule tells nothing about other conversations", () => {
  it("answers a message elsewhere and no message at all with the same error", async () => {
    const s = await conversations();
    const send = (replyToMessageId: string) =>
      api.as(s.ana)(
        `mutation ($input: CreateMessageInput!) { createMessage(input: $input) { clientMutationId } }`,
        { input: { message: { conversationId: s.id.direct, senderId: s.ana.id, content: "re", replyToMessageId } } },
      );
    const elsewhere = (await send(s.id.groupMessage!)).errors;
    const nowhere = (await send(s.id.group!)).errors;
    expect(elsewhere).toEqual(nowhere);
    expect(elsewhere?.[0]).toMatchObject({
      message: "The message to reply to is not in this conversation",
      extensions: { code: "INVALID_INPUT", field: "reply_to_message_id" },
    });
  });
});
