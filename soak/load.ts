/**
 * The soak's mixed load: one loop per user of the world (so each user's requests are in order),
 * each picking an action by weight, sending it to an API instance (the other one when the
 * connection is refused, as a client behind a load balancer would) and writing the outcome in
 * the ledger: acknowledged writes with their ids, refused ones with their content marker,
 * unknown outcomes as tainted pairs.
 */
import { graphql, type Outcome } from "./client.ts";
import type { FriendshipAck, Ledger } from "./ledger.ts";
import type { Random } from "./random.ts";
import type { Stats } from "./stats.ts";
import type { World } from "./world.ts";

export interface LoadContext {
  world: World;
  ledger: Ledger;
  stats: Stats;
  /** The API instances' base URLs. */
  apis: readonly string[];
  token: (userId: string) => string;
  /** Milliseconds between two actions of one user (random up to twice this). */
  thinkMs: number;
  /** The load stops when this returns true. */
  stopped: () => boolean;
}

const Q = {
  createPost: `mutation ($a: UUID!, $c: String!) { createPost(input: { post: { authorId: $a, content: $c, privacyLevel: "public" } }) { post { id } } }`,
  addComment: `mutation ($p: UUID!, $c: String!) { addComment(input: { postId: $p, content: $c }) { comment { id } } }`,
  likePost: `mutation ($p: UUID!) { likePost(input: { postId: $p }) { clientMutationId } }`,
  unlikePost: `mutation ($p: UUID!) { unlikePost(input: { postId: $p }) { clientMutationId } }`,
  sendFriendRequest: `mutation ($u: UUID!) { sendFriendRequest(input: { userId: $u }) { friendship { id status requester { id } addressee { id } } } }`,
  acceptFriendRequest: `mutation ($u: UUID!) { acceptFriendRequest(input: { userId: $u }) { friendship { id status requester { id } addressee { id } } } }`,
  followUser: `mutation ($u: UUID!) { followUser(input: { userId: $u }) { clientMutationId } }`,
  blockUser: `mutation ($u: UUID!) { blockUser(input: { userId: $u }) { success } }`,
  sendMessage: `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`,
  rsvpEvent: `mutation ($e: UUID!, $s: RsvpStatus!) { rsvpEvent(input: { eventId: $e, status: $s }) { event { id } } }`,
  feed: `query { homeFeed(first: 10) { edges { node { id content likesCount } } } }`,
  unread: `query { unreadNotificationCount }`,
} as const;

const WEIGHTS = {
  post: 8,
  comment: 12,
  like: 18,
  unlike: 6,
  friendRequest: 4,
  accept: 4,
  follow: 4,
  block: 0.4,
  message: 20,
  rsvp: 5,
  feed: 10,
  unread: 5,
} as const;
type Action = keyof typeof WEIGHTS;

let markerCounter = 0;
function marker(kind: string): string {
  markerCounter += 1;
  return `soak-${kind}-${process.pid}-${markerCounter}-${Date.now().toString(36)}`;
}

function dig(data: Record<string, unknown>, ...path: string[]): string | null {
  let value: unknown = data;
  for (const key of path) {
    if (!value || typeof value !== "object") return null;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : null;
}

function friendshipOf(data: Record<string, unknown>, field: string): FriendshipAck | null {
  const friendshipId = dig(data, field, "friendship", "id");
  const requester = dig(data, field, "friendship", "requester", "id");
  const addressee = dig(data, field, "friendship", "addressee", "id");
  const status = dig(data, field, "friendship", "status");
  return friendshipId && requester && addressee && status
    ? { friendshipId, requester, addressee, status }
    : null;
}

/** Sends to a random instance; a refused connection goes to the next one (nothing was sent). */
export async function send(
  ctx: LoadContext,
  random: Random,
  userId: string,
  kind: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<Outcome> {
  const first = random.int(0, ctx.apis.length - 1);
  let outcome: Outcome = { kind: "unsent", code: "ECONNREFUSED" };
  for (let i = 0; i < ctx.apis.length && outcome.kind === "unsent"; i += 1) {
    const url = ctx.apis[(first + i) % ctx.apis.length]!;
    outcome = await graphql(url, ctx.token(userId), query, variables, ctx.stats, kind);
  }
  return outcome;
}

/** Sends one message as `userId` and records it (also used by the slow-client fault's flood). */
export async function sendMessage(
  ctx: LoadContext,
  random: Random,
  userId: string,
  conversationId: string,
): Promise<Outcome> {
  const content = marker("m");
  const sentAt = Date.now();
  const o = await send(ctx, random, userId, "sendMessage", Q.sendMessage, {
    c: conversationId,
    t: content,
  });
  if (o.kind === "ok") {
    const id = dig(o.data, "sendMessage", "message", "id");
    if (id) {
      ctx.ledger.messages.push({ id, conversationId, senderId: userId, sentAt, ackAt: Date.now() });
    }
  } else if (o.kind === "refused" || o.kind === "unsent") {
    ctx.ledger.refusedMarkers.push({ table: "messages", marker: content });
  }
  return o;
}

async function act(ctx: LoadContext, random: Random, me: string, action: Action): Promise<void> {
  const { world, ledger } = ctx;
  const others = world.users.filter((u) => u !== me);
  const refusedOrUnsent = (o: Outcome): boolean => o.kind === "refused" || o.kind === "unsent";
  switch (action) {
    case "post": {
      const content = marker("p");
      const o = await send(ctx, random, me, "createPost", Q.createPost, { a: me, c: content });
      if (o.kind === "ok") {
        const id = dig(o.data, "createPost", "post", "id");
        if (id) {
          ledger.posts.set(id, me);
          world.posts.push({ id, authorId: me });
        }
      } else if (refusedOrUnsent(o))
        ledger.refusedMarkers.push({ table: "posts", marker: content });
      return;
    }
    case "comment": {
      const post = random.pick(world.posts);
      const content = marker("c");
      const o = await send(ctx, random, me, "addComment", Q.addComment, { p: post.id, c: content });
      if (o.kind === "ok") {
        const id = dig(o.data, "addComment", "comment", "id");
        if (id) ledger.comments.push({ id, postId: post.id, authorId: me });
      } else if (refusedOrUnsent(o)) {
        ledger.refusedMarkers.push({ table: "comments", marker: content });
      }
      return;
    }
    case "like":
    case "unlike": {
      const liked = [...ledger.likes.entries()].filter(
        ([k, s]) => k.startsWith(`${me}:`) && s.value && !s.uncertain,
      );
      const key =
        action === "unlike" && liked.length > 0
          ? random.pick(liked)[0]
          : `${me}:${random.pick(world.posts).id}`;
      const postId = key.slice(me.length + 1);
      const unlike = action === "unlike" && liked.length > 0;
      const o = await send(
        ctx,
        random,
        me,
        unlike ? "unlikePost" : "likePost",
        unlike ? Q.unlikePost : Q.likePost,
        {
          p: postId,
        },
      );
      if (o.kind === "ok") ledger.setPair(ledger.likes, key, !unlike);
      else if (o.kind === "unknown") ledger.taintPair(ledger.likes, key);
      return;
    }
    case "friendRequest": {
      const to = random.pick(others);
      const o = await send(ctx, random, me, "sendFriendRequest", Q.sendFriendRequest, { u: to });
      // the row returned may be theirs (a request they sent, now accepted): record it as it is
      const f = o.kind === "ok" ? friendshipOf(o.data, "sendFriendRequest") : null;
      if (f) ledger.friendRequests.push(f);
      return;
    }
    case "accept": {
      const pending = ledger.friendRequests.filter(
        (r) => r.addressee === me && r.status === "pending",
      );
      if (pending.length === 0) return act(ctx, random, me, "unread");
      const request = random.pick(pending);
      const o = await send(ctx, random, me, "acceptFriendRequest", Q.acceptFriendRequest, {
        u: request.requester,
      });
      const f = o.kind === "ok" ? friendshipOf(o.data, "acceptFriendRequest") : null;
      if (f) {
        ledger.accepts.push(f);
        request.status = f.status;
      }
      return;
    }
    case "follow": {
      const whom = random.pick(others);
      const o = await send(ctx, random, me, "followUser", Q.followUser, { u: whom });
      if (o.kind === "ok") ledger.follows.push({ follower: me, following: whom });
      return;
    }
    case "block": {
      // a few blocks make the rules about them testable; many would leave little else to check
      if (ledger.blocks.length >= world.users.length / 3) return act(ctx, random, me, "feed");
      const whom = random.pick(others);
      const o = await send(ctx, random, me, "blockUser", Q.blockUser, { u: whom });
      if (o.kind === "ok") ledger.blocks.push({ blocker: me, blocked: whom, ackAt: Date.now() });
      return;
    }
    case "message": {
      const mine = world.conversationsOf.get(me) ?? [];
      if (mine.length > 0) await sendMessage(ctx, random, me, random.pick(mine));
      return;
    }
    case "rsvp": {
      const event = random.pick(world.events);
      const key = `${me}:${event.id}`;
      const going = ledger.rsvps.get(key)?.value ?? false;
      // mostly GOING (the events are nearly full); sometimes a place is given back
      const status = going ? (random.next() < 0.5 ? "NOT_GOING" : "GOING") : "GOING";
      const o = await send(ctx, random, me, "rsvpEvent", Q.rsvpEvent, { e: event.id, s: status });
      if (o.kind === "ok") ledger.setPair(ledger.rsvps, key, status === "GOING");
      else if (o.kind === "unknown") ledger.taintPair(ledger.rsvps, key);
      return;
    }
    case "feed":
      await send(ctx, random, me, "homeFeed", Q.feed, {});
      return;
    case "unread":
      await send(ctx, random, me, "unreadNotificationCount", Q.unread, {});
      return;
  }
}

/** Runs every user's loop until `ctx.stopped()`. */
export async function runLoad(
  ctx: LoadContext,
  randomFor: (userId: string) => Random,
): Promise<void> {
  await Promise.all(
    ctx.world.users.map(async (me) => {
      const random = randomFor(me);
      while (!ctx.stopped()) {
        await act(ctx, random, me, random.weighted(WEIGHTS));
        const pause = random.int(0, ctx.thinkMs * 2);
        if (pause > 0 && !ctx.stopped()) await new Promise((r) => setTimeout(r, pause));
      }
    }),
  );
}
