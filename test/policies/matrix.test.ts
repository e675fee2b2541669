/**
 * The authorization matrix: table × operation × actor → allowed or refused, for every table of
 * app_public, against the world of test/helpers/world.ts. One row per rule, grouped by table,
 * readable by a DBA next to policies/<table>.sql: to pin a new rule, add a row.
 *
 * Each case runs as the actor (the role and JWT claims PostGraphile would set) in a transaction
 * that is rolled back. An allowed select finds the row; a refused one finds nothing. An allowed
 * write changes exactly one row; a refused one changes none or fails with a permission error
 * (42501: row-level security or a missing column grant) — or with the named error where a
 * constraint or trigger is what refuses.
 *
 * Besides the world of test/helpers/world.ts, this file adds (as the owner, in `extendWorld`)
 * two people — max, a moderator (not an admin) of the public and private groups, and zed, banned
 * from the public group — and the rows the rules below need: bob's own post, event, like and
 * memberships (olga blocked him), a direct and a group conversation with bob, posts of every
 * privacy in every kind of group, a post with ten media files and a deleted message.
 */
import pg from "pg";

import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { buildWorld, type Actor as WorldActor, type World } from "../helpers/world.ts";

/** The world's actors, and the two people this file adds. */
type Actor = WorldActor | "max" | "zed";

type Op = "select" | "insert" | "update" | "delete";
type Outcome = "allow" | "deny";

interface Case {
  table: string;
  op: Op;
  actor: Actor;
  /** Fixture row (`post.friends`) or person (`user.olga`) the select/update/delete targets. */
  target?: string;
  /** Columns to insert; `$olga` etc. stand for people's ids, `@post.public` for fixture rows. */
  values?: Record<string, unknown>;
  /** Columns to set on update. */
  set?: Record<string, unknown>;
  expect: Outcome;
  /** For a refusal that is not a permission error: the SQLSTATE that refuses it. */
  error?: string;
}

const A: Outcome = "allow";
const D: Outcome = "deny";

/** Who sees one row: one select case per listed actor. */
function sees(table: string, target: string, outcomes: Partial<Record<Actor, Outcome>>): Case[] {
  return Object.entries(outcomes).map(([actor, expect]) => ({ table, op: "select" as const, actor: actor as Actor, target, expect: expect! }));
}
const insert = (table: string, actor: Actor, values: Record<string, unknown>, expect: Outcome, error?: string): Case => ({
  table,
  op: "insert",
  actor,
  values,
  expect,
  ...(error ? { error } : {}),
});
const update = (table: string, actor: Actor, target: string, set: Record<string, unknown>, expect: Outcome, error?: string): Case => ({
  table,
  op: "update",
  actor,
  target,
  set,
  expect,
  ...(error ? { error } : {}),
});
const remove = (table: string, actor: Actor, target: string, expect: Outcome, error?: string): Case => ({
  table,
  op: "delete",
  actor,
  target,
  expect,
  ...(error ? { error } : {}),
});

const MATRIX: Case[] = [
  // users (`Account`): only its owner
  ...sees("users", "user.olga", { olga: A, fred: D, stan: D, bob: D, anonymous: D }),
  update("users", "olga", "user.olga", { phone: "+44 20 7946 0000" }, A),
  update("users", "fred", "user.olga", { phone: "+44 20 7946 0000" }, D),
  update("users", "olga", "user.olga", { email_verified: true }, D),
  update("users", "olga", "user.olga", { status: "active" }, D),
  insert("users", "olga", { email: "new@world.test" }, D),
  remove("users", "fred", "user.olga", D),
  remove("users", "anonymous", "user.olga", D),
  // not even its owner: requestAccountDeletion (grace period, then the erasure job)
  remove("users", "olga", "user.olga", D),

  // user_profiles: public / friends / private, never across a block; owner edits
  ...sees("user_profiles", "profile.olga", { olga: A, fred: A, stan: D, bob: D, anonymous: D, mia: D }),
  ...sees("user_profiles", "profile.stan", { anonymous: A, olga: A, bob: A }),
  ...sees("user_profiles", "profile.bob", { olga: D, stan: A, anonymous: A }),
  ...sees("user_profiles", "profile.mia", { mia: A, ada: D, fred: D, anonymous: D }),
  update("user_profiles", "olga", "profile.olga", { bio: "hello" }, A),
  update("user_profiles", "fred", "profile.olga", { bio: "hacked" }, D),
  update("user_profiles", "olga", "profile.olga", { is_verified: true }, D),
  insert("user_profiles", "olga", { user_id: "$fred", username: "not_fred" }, D),
  remove("user_profiles", "olga", "profile.olga", D),

  // user_cards (`User`): everyone signed in but those who blocked you (the blocker still sees the
  // card of whom she blocked, to manage blocks); anonymous only public profiles
  ...sees("user_cards", "user.olga", { olga: A, stan: A, mia: A, bob: D, anonymous: D }),
  ...sees("user_cards", "user.stan", { anonymous: A, olga: A }),
  ...sees("user_cards", "user.bob", { olga: A, fred: A }),

  // friendships: the two parties; a block is seen only by the blocker
  ...sees("friendships", "friendship.olga_fred", { olga: A, fred: A, stan: D, anonymous: D }),
  ...sees("friendships", "friendship.olga_blocks_bob", { olga: A, bob: D }),
  ...sees("friendships", "friendship.stan_asks_olga", { olga: A, stan: A, fred: D }),
  insert("friendships", "stan", { requester_id: "$stan", addressee_id: "$fred", status: "pending" }, A),
  insert("friendships", "stan", { requester_id: "$fred", addressee_id: "$stan", status: "pending" }, D),
  insert("friendships", "stan", { requester_id: "$stan", addressee_id: "$fred", status: "accepted" }, D),
  insert("friendships", "bob", { requester_id: "$bob", addressee_id: "$olga", status: "pending" }, D),
  insert("friendships", "stan", { requester_id: "$stan", addressee_id: "$stan", status: "pending" }, D, "23514"),
  insert("friendships", "fred", { requester_id: "$fred", addressee_id: "$stan", status: "blocked" }, A),
  insert("friendships", "anonymous", { requester_id: "$stan", addressee_id: "$fred", status: "pending" }, D),
  update("friendships", "olga", "friendship.stan_asks_olga", { status: "accepted" }, A),
  update("friendships", "stan", "friendship.stan_asks_olga", { status: "accepted" }, D),
  update("friendships", "bob", "friendship.olga_blocks_bob", { status: "accepted" }, D),
  remove("friendships", "fred", "friendship.olga_fred", A),
  remove("friendships", "stan", "friendship.olga_fred", D),
  remove("friendships", "bob", "friendship.olga_blocks_bob", D),
  remove("friendships", "olga", "friendship.olga_blocks_bob", A),

  // followers: signed-in users see, minus blocked pairs; you (un)follow only as yourself
  ...sees("followers", "follow.stan_olga", { fred: A, stan: A, olga: A, bob: D, anonymous: D }),
  ...sees("followers", "follow.bob_fred", { stan: A, olga: D }),
  insert("followers", "stan", { follower_id: "$stan", following_id: "$fred" }, A),
  insert("followers", "stan", { follower_id: "$fred", following_id: "$olga" }, D),
  insert("followers", "bob", { follower_id: "$bob", following_id: "$olga" }, D),
  insert("followers", "fred", { follower_id: "$fred", following_id: "$fred" }, D, "23514"),
  remove("followers", "stan", "follow.stan_olga", A),
  remove("followers", "olga", "follow.stan_olga", D),

  // posts: privacy, blocks, soft delete, groups
  ...sees("posts", "post.public", { anonymous: A, stan: A, fred: A, olga: A, bob: D }),
  ...sees("posts", "post.friends", { olga: A, fred: A, stan: D, anonymous: D, bob: D, mia: D }),
  ...sees("posts", "post.private", { olga: A, fred: D, stan: D }),
  ...sees("posts", "post.deleted", { olga: D, stan: D, anonymous: D }),
  ...sees("posts", "post.in_public_group", { anonymous: A, stan: A, mia: A }),
  ...sees("posts", "post.in_private_group", { mia: A, ada: A, stan: D, anonymous: D }),
  insert("posts", "fred", { author_id: "$fred", content: "hello" }, A),
  insert("posts", "fred", { author_id: "$olga", content: "as olga" }, D),
  insert("posts", "anonymous", { author_id: "$olga", content: "anon" }, D),
  insert("posts", "mia", { author_id: "$mia", content: "to my group", group_id: "@group.private" }, A),
  insert("posts", "stan", { author_id: "$stan", content: "not a member", group_id: "@group.private" }, D),
  insert("posts", "fred", { author_id: "$fred", content: "sharing", shared_post_id: "@post.friends", privacy_level: "friends" }, A),
  insert("posts", "stan", { author_id: "$stan", content: "sharing", shared_post_id: "@post.friends", privacy_level: "friends" }, D, "NTFND"),
  insert("posts", "fred", { author_id: "$fred", content: "sharing", shared_post_id: "@post.friends", privacy_level: "public" }, D, "INVAL"),
  update("posts", "olga", "post.public", { content: "edited" }, A),
  update("posts", "fred", "post.public", { content: "edited" }, D),
  update("posts", "olga", "post.public", { likes_count: 1000 }, D),
  update("posts", "olga", "post.public", { author_id: "$fred" }, D),
  remove("posts", "olga", "post.public", A),
  remove("posts", "fred", "post.public", D),
  remove("posts", "ada", "post.in_private_group", A),
  remove("posts", "stan", "post.in_private_group", D),

  // post_media: follow the post; written by its author
  ...sees("post_media", "media.friends_post", { olga: A, fred: A, stan: D, anonymous: D }),
  insert("post_media", "olga", { post_id: "@post.public", media_type: "image", media_url: "https://cdn.test/b.jpg" }, A),
  insert("post_media", "fred", { post_id: "@post.public", media_type: "image", media_url: "https://cdn.test/b.jpg" }, D),
  update("post_media", "olga", "media.friends_post", { alt_text: "a cat" }, A),
  update("post_media", "fred", "media.friends_post", { alt_text: "a dog" }, D),
  remove("post_media", "olga", "media.friends_post", A),
  remove("post_media", "fred", "media.friends_post", D),

  // comments: with their post; never from across a block
  ...sees("comments", "comment.fred_on_public", { stan: A, anonymous: A, olga: A, bob: D }),
  ...sees("comments", "comment.bob_on_stan", { stan: A, fred: A, olga: D }),
  insert("comments", "stan", { post_id: "@post.public", author_id: "$stan", content: "hi" }, A),
  insert("comments", "stan", { post_id: "@post.friends", author_id: "$stan", content: "hi" }, D),
  insert("comments", "fred", { post_id: "@post.public", author_id: "$stan", content: "as stan" }, D),
  insert("comments", "bob", { post_id: "@post.public", author_id: "$bob", content: "blocked" }, D),
  update("comments", "fred", "comment.fred_on_public", { content: "edited" }, A),
  update("comments", "olga", "comment.fred_on_public", { content: "edited by post author" }, D),
  remove("comments", "fred", "comment.fred_on_public", A),
  remove("comments", "olga", "comment.fred_on_public", A),
  remove("comments", "stan", "comment.fred_on_public", D),

  // likes: with their target; only your own; only of targets you can see
  ...sees("likes", "like.fred_public_post", { stan: A, anonymous: A, bob: D }),
  ...sees("likes", "like.stan_fred_comment", { fred: A, anonymous: A }),
  insert("likes", "stan", { user_id: "$stan", target_type: "post", target_id: "@post.public" }, A),
  insert("likes", "stan", { user_id: "$stan", target_type: "post", target_id: "@post.friends" }, D),
  insert("likes", "stan", { user_id: "$stan", target_type: "post", target_id: "00000000-0000-4000-8000-000000000000" }, D),
  insert("likes", "fred", { user_id: "$stan", target_type: "post", target_id: "@post.public" }, D),
  insert("likes", "fred", { user_id: "$fred", target_type: "post", target_id: "@post.public" }, D, "23505"),
  remove("likes", "fred", "like.fred_public_post", A),
  remove("likes", "olga", "like.fred_public_post", D),

  // conversations: participants only (a participant who left still sees it)
  ...sees("conversations", "conversation.direct_olga_fred", { olga: A, fred: A, stan: D, anonymous: D }),
  ...sees("conversations", "conversation.group", { ada: A, mia: A, stan: A, fred: D }),
  insert("conversations", "fred", { conversation_type: "group", title: "Mine", created_by: "$fred" }, A),
  insert("conversations", "fred", { conversation_type: "direct", created_by: "$fred" }, D),
  insert("conversations", "fred", { conversation_type: "group", created_by: "$olga" }, D),
  update("conversations", "ada", "conversation.group", { title: "Renamed" }, A),
  update("conversations", "mia", "conversation.group", { title: "Renamed" }, D),
  remove("conversations", "ada", "conversation.group", D),

  // conversation_participants: participants see; admins add/remove; own read/mute/leave
  ...sees("conversation_participants", "participant.fred_direct", { olga: A, fred: A, stan: D }),
  ...sees("conversation_participants", "participant.mia_group", { ada: A, stan: A, fred: D }),
  insert("conversation_participants", "ada", { conversation_id: "@conversation.group", user_id: "$fred" }, A),
  insert("conversation_participants", "mia", { conversation_id: "@conversation.group", user_id: "$fred" }, D),
  insert("conversation_participants", "ada", { conversation_id: "@conversation.group", user_id: "$fred", role: "admin" }, D),
  update("conversation_participants", "mia", "participant.mia_group", { is_muted: true }, A),
  update("conversation_participants", "ada", "participant.mia_group", { is_muted: true }, D),
  update("conversation_participants", "mia", "participant.mia_group", { role: "admin" }, D),
  remove("conversation_participants", "ada", "participant.mia_group", A),
  remove("conversation_participants", "olga", "participant.mia_group", D),

  // messages: participants; history up to leaving; send only as yourself, only while in it
  ...sees("messages", "message.olga_direct", { olga: A, fred: A, stan: D, anonymous: D }),
  ...sees("messages", "message.before_stan_left", { stan: A, mia: A, fred: D }),
  ...sees("messages", "message.after_stan_left", { stan: D, mia: A }),
  insert("messages", "fred", { conversation_id: "@conversation.direct_olga_fred", sender_id: "$fred", content: "hi" }, A),
  insert("messages", "stan", { conversation_id: "@conversation.direct_olga_fred", sender_id: "$stan", content: "hi" }, D),
  insert("messages", "stan", { conversation_id: "@conversation.group", sender_id: "$stan", content: "I left" }, D),
  insert("messages", "mia", { conversation_id: "@conversation.group", sender_id: "$mia", content: "hi all" }, A),
  insert("messages", "mia", { conversation_id: "@conversation.group", sender_id: "$ada", content: "as ada" }, D),
  update("messages", "olga", "message.olga_direct", { content: "edited" }, A),
  update("messages", "fred", "message.olga_direct", { content: "edited" }, D),
  remove("messages", "olga", "message.olga_direct", D),

  // groups: public/private listed to signed-in users, secret to members; admins edit
  ...sees("groups", "group.public", { stan: A, mia: A, anonymous: D }),
  ...sees("groups", "group.private", { stan: A }),
  ...sees("groups", "group.secret", { mia: A, ada: A, stan: D, fred: D }),
  insert("groups", "stan", { name: "Stan's", created_by: "$stan" }, A),
  insert("groups", "stan", { name: "As ada", created_by: "$ada" }, D),
  update("groups", "ada", "group.private", { name: "Renamed" }, A),
  update("groups", "mia", "group.private", { name: "Renamed" }, D),
  remove("groups", "ada", "group.public", A),
  remove("groups", "mia", "group.public", D),

  // group_members: lists, joining, invitations, moderation, roles, leaving
  ...sees("group_members", "member.mia.public", { anonymous: A, stan: A }),
  ...sees("group_members", "member.mia.private", { ada: A, stan: D, anonymous: D }),
  ...sees("group_members", "member.stan.private_request", { stan: A, ada: A, fred: D }),
  ...sees("group_members", "member.stan.secret_invitation", { stan: A, ada: A, fred: D }),
  insert("group_members", "stan", { group_id: "@group.public", user_id: "$stan", status: "active" }, A),
  insert("group_members", "fred", { group_id: "@group.private", user_id: "$fred", status: "active" }, D),
  insert("group_members", "fred", { group_id: "@group.private", user_id: "$fred", status: "pending" }, A),
  insert("group_members", "fred", { group_id: "@group.secret", user_id: "$fred", status: "pending" }, D),
  insert("group_members", "fred", { group_id: "@group.public", user_id: "$fred", status: "active", role: "admin" }, D),
  insert("group_members", "ada", { group_id: "@group.secret", user_id: "$fred", status: "pending", invited_by: "$ada" }, A),
  insert("group_members", "mia", { group_id: "@group.secret", user_id: "$fred", status: "pending", invited_by: "$mia" }, D),
  update("group_members", "stan", "member.stan.secret_invitation", { status: "active" }, A),
  update("group_members", "stan", "member.stan.private_request", { status: "active" }, D),
  update("group_members", "ada", "member.stan.private_request", { status: "active" }, A),
  update("group_members", "mia", "member.stan.private_request", { status: "active" }, D),
  update("group_members", "ada", "member.mia.private", { role: "moderator" }, A),
  update("group_members", "mia", "member.mia.private", { role: "admin" }, D),
  update("group_members", "ada", "member.ada.private", { role: "member" }, D),
  remove("group_members", "mia", "member.mia.public", A),
  remove("group_members", "stan", "member.stan.secret_invitation", A),
  remove("group_members", "ada", "member.mia.public", A),
  remove("group_members", "fred", "member.mia.public", D),

  // events: privacy, group membership, blocks; the organiser edits
  ...sees("events", "event.public", { anonymous: A, stan: A, bob: D }),
  ...sees("events", "event.friends", { fred: A, stan: D, anonymous: D }),
  ...sees("events", "event.private", { olga: A, fred: A, stan: D }),
  ...sees("events", "event.in_private_group", { mia: A, ada: A, stan: D }),
  insert("events", "stan", { title: "Stan's", start_date: "2030-01-01T00:00:00Z", created_by: "$stan" }, A),
  insert("events", "stan", { title: "Group", start_date: "2030-01-01T00:00:00Z", created_by: "$stan", group_id: "@group.private" }, D),
  insert("events", "mia", { title: "Group", start_date: "2030-01-01T00:00:00Z", created_by: "$mia", group_id: "@group.private" }, A),
  update("events", "olga", "event.public", { title: "Renamed" }, A),
  update("events", "fred", "event.public", { title: "Renamed" }, D),
  remove("events", "olga", "event.public", A),
  remove("events", "fred", "event.public", D),

  // event_attendees: with their event, minus blocks; your own answer only
  ...sees("event_attendees", "attendee.fred_private_event", { olga: A, fred: A, stan: D }),
  ...sees("event_attendees", "attendee.stan_public_event", { anonymous: A, olga: A, fred: A, bob: D }),
  insert("event_attendees", "fred", { event_id: "@event.public", user_id: "$fred", status: "going" }, A),
  insert("event_attendees", "stan", { event_id: "@event.friends", user_id: "$stan", status: "going" }, D),
  insert("event_attendees", "fred", { event_id: "@event.public", user_id: "$stan", status: "going" }, D),
  update("event_attendees", "stan", "attendee.stan_public_event", { status: "going" }, A),
  update("event_attendees", "fred", "attendee.stan_public_event", { status: "not_going" }, D),
  remove("event_attendees", "stan", "attendee.stan_public_event", A),
  remove("event_attendees", "olga", "attendee.stan_public_event", D),

  // event_waitlist: your own place, and the organiser's list; you wait and stop waiting yourself
  ...sees("event_waitlist", "waitlist.stan_public_event", { stan: A, olga: A, fred: D, anonymous: D }),
  insert("event_waitlist", "fred", { event_id: "@event.public", user_id: "$fred" }, A),
  insert("event_waitlist", "fred", { event_id: "@event.public", user_id: "$mia" }, D),
  insert("event_waitlist", "stan", { event_id: "@event.friends", user_id: "$stan" }, D),
  remove("event_waitlist", "stan", "waitlist.stan_public_event", A),
  remove("event_waitlist", "olga", "waitlist.stan_public_event", D),

  // notifications: the recipient reads, marks read and deletes; nobody inserts through the API
  ...sees("notifications", "notification.for_olga", { olga: A, fred: D, anonymous: D }),
  insert("notifications", "olga", { recipient_id: "$olga", notification_type: "mention", title: "fake" }, D),
  update("notifications", "olga", "notification.for_olga", { is_read: true }, A),
  update("notifications", "fred", "notification.for_olga", { is_read: true }, D),
  update("notifications", "olga", "notification.for_olga", { title: "changed" }, D),
  remove("notifications", "olga", "notification.for_olga", A),
  remove("notifications", "fred", "notification.for_olga", D),

  // ---- the rules the audit of issues #3/#4 pinned from both sides ----

  // blocks hide the blocked person from the blocker too, whatever the privacy
  ...sees("posts", "post.bob_public", { olga: D, stan: A, anonymous: A, bob: A }),
  ...sees("user_profiles", "profile.bob", { fred: A }),
  ...sees("likes", "like.bob_on_stan_post", { olga: D, stan: A, fred: A }),
  ...sees("comments", "comment.olga_on_stan", { bob: D, fred: A, anonymous: A }),
  ...sees("group_members", "member.bob.public", { olga: D, stan: A, anonymous: A }),
  ...sees("event_attendees", "attendee.bob_stan_event", { olga: D, fred: A, stan: A }),
  ...sees("events", "event.bob_public", { olga: D, stan: A, anonymous: A }),
  insert("friendships", "olga", { requester_id: "$olga", addressee_id: "$bob", status: "pending" }, D),
  insert("followers", "olga", { follower_id: "$olga", following_id: "$bob" }, D),
  // blocking ends the friendship (trigger); the blocker may always block
  insert("friendships", "olga", { requester_id: "$olga", addressee_id: "$fred", status: "blocked" }, A),

  // profiles: private is private even for an accepted friend; the card is everyone's
  ...sees("user_profiles", "profile.mia", { ada: D }),
  ...sees("user_cards", "user.mia", { stan: A, fred: A, ada: A, anonymous: D }),

  // posts in groups: public groups follow the post's privacy, other groups their members
  ...sees("posts", "post.mia_friends_in_public_group", { mia: A, ada: A, max: D, stan: D, anonymous: D }),
  ...sees("posts", "post.mia_private_in_public_group", { mia: A, ada: D, max: D, anonymous: D }),
  ...sees("posts", "post.in_secret_group", { mia: A, ada: A, stan: D, fred: D, anonymous: D }),
  ...sees("posts", "post.mia_private_in_private_group", { mia: A, ada: D, max: D, stan: D }),
  remove("posts", "max", "post.ada_in_private_group", A),
  remove("posts", "mia", "post.ada_in_private_group", D),

  // group moderation: moderators act on plain members only; bans hold; nobody raises themselves
  update("group_members", "ada", "member.mia.public", { status: "banned" }, A),
  update("group_members", "max", "member.mia.public", { status: "banned" }, A),
  update("group_members", "max", "member.ada.public", { status: "banned" }, D),
  update("group_members", "max", "member.ada.public", { role: "member" }, D),
  update("group_members", "max", "member.mia.public", { role: "moderator" }, D, "DNIED"),
  update("group_members", "max", "member.max.public", { role: "admin" }, D),
  remove("group_members", "max", "member.ada.public", D),
  remove("group_members", "max", "member.mia.public", A),
  update("group_members", "zed", "member.zed.public_banned", { status: "active" }, D),
  remove("group_members", "zed", "member.zed.public_banned", D),
  insert("group_members", "zed", { group_id: "@group.public", user_id: "$zed", status: "active" }, D, "23505"),
  // the last admin keeps the group (trigger): not while others remain
  remove("group_members", "ada", "member.ada.public", D, "CNFLT"),

  // events: public-group events by privacy (members see all of their group's), cancelling
  ...sees("events", "event.friends_in_public_group", { fred: A, mia: A, stan: D, anonymous: D }),
  update("events", "olga", "event.public", { is_cancelled: true, cancelled_at: "2030-01-01T00:00:00Z" }, A),
  update("events", "fred", "event.public", { is_cancelled: true, cancelled_at: "2030-01-01T00:00:00Z" }, D),

  // messages across a block: the history stays, nobody sends; group chats are not filtered
  ...sees("messages", "message.bob_to_olga", { olga: A, bob: A, stan: D }),
  insert("messages", "bob", { conversation_id: "@conversation.direct_olga_bob", sender_id: "$bob", content: "hi" }, D),
  insert("messages", "olga", { conversation_id: "@conversation.direct_olga_bob", sender_id: "$olga", content: "hi" }, D),
  ...sees("messages", "message.bob_in_group", { olga: A, ada: A, fred: D }),
  insert("messages", "bob", { conversation_id: "@conversation.group_with_bob", sender_id: "$bob", content: "hi all" }, A),
  // a message needs text or a file; a deleted one stays deleted
  insert("messages", "mia", { conversation_id: "@conversation.group", sender_id: "$mia", content: " " }, D, "23514"),
  update("messages", "olga", "message.olga_deleted", { is_deleted: false }, D, "CNFLT"),
  update("messages", "olga", "message.olga_deleted", { content: "back again" }, D, "CNFLT"),

  // comments and likes follow their post's privacy too, not only its existence
  ...sees("comments", "comment.fred_on_friends_post", { olga: A, fred: A, stan: D, anonymous: D }),
  ...sees("likes", "like.fred_friends_post", { olga: A, fred: A, stan: D, anonymous: D }),

  // conversation participants leave only through leaveConversation or removal
  update("conversation_participants", "stan", "participant.stan_group", { left_at: null }, D),
  update("conversation_participants", "mia", "participant.mia_group", { left_at: "2030-01-01T00:00:00Z" }, D),
  update("conversation_participants", "stan", "participant.stan_group", { is_muted: true }, A),

  // at most ten media files per post
  insert("post_media", "olga", { post_id: "@post.ten_media", media_type: "image", media_url: "https://cdn.test/11.jpg" }, D, "INVAL"),
];

let db: TestDatabase;
let world: World;
let people: Record<Exclude<Actor, "anonymous">, string>;
let client: pg.Client;

/** Adds max, zed and the rows the audit's rules need (see the top of this file), as the owner. */
async function extendWorld(ownerUrl: string, world: World): Promise<Record<"max" | "zed", string>> {
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const row = world.row;
  const one = async (text: string, values: unknown[]): Promise<string> =>
    (await owner.query<{ id: string }>(text + " returning id", values)).rows[0]!.id;
  try {
    const { olga, stan, bob, ada, mia } = world.user;
    const person = async (name: string): Promise<string> => {
      const id = await one(`insert into app_public.users (email) values ($1)`, [`${name}@world.test`]);
      row[`profile.${name}`] = await one(
        `insert into app_public.user_profiles (user_id, username, privacy_level) values ($1, $2, 'public')`,
        [id, name],
      );
      return id;
    };
    const max = await person("max");
    const zed = await person("zed");
    const member = (group: string, user: string, role: string, status: string) =>
      one(`insert into app_public.group_members (group_id, user_id, role, status) values ($1, $2, $3, $4)`, [
        row[group],
        user,
        role,
        status,
      ]);
    row["member.max.public"] = await member("group.public", max, "moderator", "active");
    row["member.max.private"] = await member("group.private", max, "moderator", "active");
    row["member.zed.public_banned"] = await member("group.public", zed, "member", "banned");
    row["member.bob.public"] = await member("group.public", bob, "member", "active");
    row["member.ada.public"] = (
      await owner.query<{ id: string }>(`select id from app_public.group_members where group_id = $1 and user_id = $2`, [
        row["group.public"],
        ada,
      ])
    ).rows[0]!.id;
    row["friendship.ada_mia"] = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
      [ada, mia],
    );

    const post = (author: string, content: string, privacy: string, group: string | null) =>
      one(`insert into app_public.posts (author_id, content, privacy_level, group_id) values ($1, $2, $3, $4)`, [
        author,
        content,
        privacy,
        group ? row[group] : null,
      ]);
    row["post.bob_public"] = await post(bob, "bob's post", "public", null);
    row["post.mia_friends_in_public_group"] = await post(mia, "for friends", "friends", "group.public");
    row["post.mia_private_in_public_group"] = await post(mia, "for me", "private", "group.public");
    row["post.in_secret_group"] = await post(mia, "secret things", "public", "group.secret");
    row["post.mia_private_in_private_group"] = await post(mia, "mine", "private", "group.private");
    row["post.ada_in_private_group"] = await post(ada, "rules of the group", "public", "group.private");
    row["post.ten_media"] = await post(olga, "an album", "public", null);
    for (let i = 0; i < 10; i++) {
      await one(`insert into app_public.post_media (post_id, media_type, media_url, order_index) values ($1, 'image', $2, $3)`, [
        row["post.ten_media"],
        `https://cdn.test/${i}.jpg`,
        i,
      ]);
    }
    row["like.bob_on_stan_post"] = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [bob, row["post.stan_public"]],
    );
    row["comment.fred_on_friends_post"] = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'for friends')`,
      [row["post.friends"], world.user.fred],
    );
    row["like.fred_friends_post"] = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [world.user.fred, row["post.friends"]],
    );
    row["comment.olga_on_stan"] = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'hi stan')`,
      [row["post.stan_public"], olga],
    );

    const event = (title: string, privacy: string, by: string, group: string | null) =>
      one(
        `insert into app_public.events (title, start_date, privacy_level, created_by, group_id) values ($1, now() + interval '7 days', $2, $3, $4)`,
        [title, privacy, by, group ? row[group] : null],
      );
    row["event.bob_public"] = await event("bob's party", "public", bob, null);
    row["event.stan_public"] = await event("stan's talk", "public", stan, null);
    row["event.friends_in_public_group"] = await event("olga's friends meetup", "friends", olga, "group.public");
    row["attendee.bob_stan_event"] = await one(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going')`,
      [row["event.stan_public"], bob],
    );

    // a direct conversation from before olga blocked bob, and a group chat with both
    row["conversation.direct_olga_bob"] = await one(
      `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
      [olga],
    );
    await one(`insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)`, [
      row["conversation.direct_olga_bob"],
      bob,
    ]);
    row["message.bob_to_olga"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'before the block')`,
      [row["conversation.direct_olga_bob"], bob],
    );
    row["conversation.group_with_bob"] = await one(
      `insert into app_public.conversations (conversation_type, title, created_by) values ('group', 'Neighbours', $1)`,
      [ada],
    );
    for (const user of [olga, bob]) {
      await one(`insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)`, [
        row["conversation.group_with_bob"],
        user,
      ]);
    }
    row["message.bob_in_group"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hello neighbours')`,
      [row["conversation.group_with_bob"], bob],
    );
    row["message.olga_deleted"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content, is_deleted, deleted_at) values ($1, $2, null, true, now())`,
      [row["conversation.direct_olga_fred"], olga],
    );
    return { max, zed };
  } finally {
    await owner.end();
  }
}

/** Runs `fn` as the actor (role and claims, as PostGraphile sets them), always rolled back. */
async function asMatrixActor<T>(actor: Actor, fn: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    if (actor === "anonymous") {
      await client.query(`select set_config('role', 'anonymous', true)`);
    } else {
      await client.query(
        `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
        [people[actor]],
      );
    }
    return await fn();
  } finally {
    await client.query("rollback");
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  people = { ...world.user, ...(await extendWorld(db.ownerUrl, world)) };
  client = new pg.Client({ connectionString: db.authUrl });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await db.drop();
});

function resolveId(ref: string): string {
  if (ref.startsWith("user.")) return people[ref.slice(5) as keyof typeof people];
  const id = world.row[ref];
  if (!id) throw new Error(`no fixture row ${ref}`);
  return id;
}

function resolveValue(value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (value.startsWith("$")) return people[value.slice(1) as keyof typeof people];
  if (value.startsWith("@")) return resolveId(value.slice(1));
  return value;
}

/** Runs one case; returns rows seen/changed, or the SQLSTATE of the error. */
async function run(c: Case): Promise<{ rows: number } | { error: string }> {
  const table = `app_public.${c.table}`;
  try {
    return await asMatrixActor(c.actor, async () => {
      if (c.op === "select") {
        const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from ${table} where id = $1`, [
          resolveId(c.target!),
        ]);
        return { rows: rows[0]!.n };
      }
      if (c.op === "insert") {
        const columns = Object.keys(c.values!);
        const values = Object.values(c.values!).map(resolveValue);
        const result = await client.query(
          `insert into ${table} (${columns.join(", ")}) values (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
          values,
        );
        return { rows: result.rowCount ?? 0 };
      }
      if (c.op === "update") {
        const columns = Object.keys(c.set!);
        const values = Object.values(c.set!).map(resolveValue);
        const result = await client.query(
          `update ${table} set ${columns.map((col, i) => `${col} = $${i + 2}`).join(", ")} where id = $1`,
          [resolveId(c.target!), ...values],
        );
        return { rows: result.rowCount ?? 0 };
      }
      const result = await client.query(`delete from ${table} where id = $1`, [resolveId(c.target!)]);
      return { rows: result.rowCount ?? 0 };
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!code) throw error;
    return { error: code };
  }
}

const title = (c: Case): string =>
  `${c.table}: ${c.actor} ${c.op === "select" ? "sees" : c.op + "s"} ${c.target ?? JSON.stringify(c.values)}` +
  (c.set ? ` set ${JSON.stringify(c.set)}` : "") +
  ` → ${c.expect}`;

describe.each([...new Set(MATRIX.map((c) => c.table))])("policies/%s.sql", (table) => {
  it.each(MATRIX.filter((c) => c.table === table).map((c) => [title(c), c] as const))("%s", async (_title, c) => {
    const outcome = await run(c);
    if (c.expect === "allow") {
      expect(outcome).toEqual({ rows: 1 });
    } else if (c.error) {
      expect(outcome).toEqual({ error: c.error });
    } else if ("error" in outcome) {
      expect(outcome.error).toBe("42501");
    } else {
      expect(outcome).toEqual({ rows: 0 });
    }
  });
});

it("covers every table of app_public, with every operation an API role is granted", async () => {
  const { rows } = await client.query<{ table: string; privilege: string }>(
    `select table_name as table, lower(privilege_type) as privilege
       from information_schema.role_table_grants
      where table_schema = 'app_public' and grantee in ('anonymous', 'authenticated')
        and privilege_type in ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
     union
     select table_name, lower(privilege_type)
       from information_schema.column_privileges
      where table_schema = 'app_public' and grantee in ('anonymous', 'authenticated')
        and privilege_type in ('SELECT', 'INSERT', 'UPDATE')`,
  );
  const covered = new Set(MATRIX.map((c) => `${c.table}.${c.op}`));
  const missing = [...new Set(rows.map((r) => `${r.table}.${r.privilege}`))].filter((k) => !covered.has(k));
  expect(missing).toEqual([]);
});

it("makes whoever creates a group (as themselves) its active admin", async () => {
  const membership = await asMatrixActor("stan", async () => {
    const { rows } = await client.query<{ id: string }>(
      `insert into app_public.groups (name, created_by) values ('Stan''s club', $1) returning id`,
      [people.stan],
    );
    return (
      await client.query<{ role: string; status: string }>(
        `select role, status from app_public.group_members where group_id = $1 and user_id = $2`,
        [rows[0]!.id, people.stan],
      )
    ).rows;
  });
  expect(membership).toEqual([{ role: "admin", status: "active" }]);
});
