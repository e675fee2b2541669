--! Previous: -
--! Hash: sha1:fdc3d4a29b6cb77ba9e62baa7b7dd9f5323b5583

/*
 * 0001 — schemas, the sixteen tables of the design (shared/seed/database-schema-design.md),
 * and what the design implies but did not write down.
 *
 * Conventions (docs/CONVENTIONS.md): every seed column, type, default and nullability exactly as
 * designed; constraints named fk_<table>_<column> / ck_<table>_<column>; indexes named
 * idx_<table>_<column>; a CHECK for every enumerated column; `comment on` everything exposed.
 * Grants and row-level security live in policies/, not here.
 */

--------------------------------------------------------------------------------------------------
-- Schemas and defaults
--------------------------------------------------------------------------------------------------

-- Functions are not executable by everyone unless a grant says so (policies/ grant them).
alter default privileges revoke execute on functions from public;

create schema app_public;
comment on schema app_public is
  E'The MKing Friend API: every table and function here is exposed through GraphQL, guarded by row-level security.';

create schema app_hidden;
comment on schema app_hidden is
  E'Helpers the API roles may call (policy checks) but that are not part of the GraphQL API.';

create schema app_private;
comment on schema app_private is
  E'Secrets and bookkeeping (tokens, audit, rate limits): unreachable from the API roles.';

grant usage on schema app_public to anonymous, authenticated;
grant usage on schema app_hidden to anonymous, authenticated;

-- gen_random_uuid() is core since PostgreSQL 13; pgcrypto gives crypt()/gen_salt() for passwords.
create extension if not exists pgcrypto with schema public;

--------------------------------------------------------------------------------------------------
-- Shared trigger functions
--------------------------------------------------------------------------------------------------

create function app_private.tg__timestamps() returns trigger as $$
begin
  NEW.updated_at := now();
  if TG_OP = 'UPDATE' then
    NEW.created_at := OLD.created_at;
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg__timestamps() is
  E'Keeps `updated_at` current on every update and `created_at` unchangeable.';

--------------------------------------------------------------------------------------------------
-- 2.1 User system
--------------------------------------------------------------------------------------------------

create table app_public.users (
  id              uuid primary key default gen_random_uuid(),
  email           varchar(255) unique not null
                  constraint ck_users_email check (email = lower(btrim(email)) and email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  password_hash   varchar(255),
  email_verified  boolean default false,
  phone           varchar(20)
                  constraint ck_users_phone check (phone ~ '^\+?[0-9 ()-]{3,20}$'),
  phone_verified  boolean default false,
  status          varchar(20) default 'active'
                  constraint ck_users_status check (status in ('active', 'suspended', 'deleted')),
  last_login_at   timestamptz,
  login_count     integer default 0
                  constraint ck_users_login_count check (login_count >= 0),
  created_at      timestamptz default now(),
  updated_at      timestamptz default now()
);
create index idx_users_email on app_public.users (email);
create index idx_users_status on app_public.users (status);
create index idx_users_created_at on app_public.users (created_at);
create trigger _100_timestamps before update on app_public.users
  for each row execute function app_private.tg__timestamps();

comment on table app_public.users is
  E'An account: how a person signs in. Private to its owner; others see people through `user_profiles`.';
comment on column app_public.users.email is
  E'Sign-in e-mail, stored trimmed and lower-cased so uniqueness is case-insensitive.';
comment on column app_public.users.password_hash is
  E'@behavior -*\nbcrypt hash; null for accounts that sign in through an external identity. Never readable through the API.';
comment on column app_public.users.email_verified is E'Whether the owner proved they receive mail at `email`.';
comment on column app_public.users.status is E'`active`, `suspended` (cannot sign in) or `deleted`.';
comment on column app_public.users.last_login_at is E'When the last successful sign-in happened.';
comment on column app_public.users.login_count is E'How many successful sign-ins this account has had.';

create table app_public.user_profiles (
  id               uuid primary key default gen_random_uuid(),
  user_id          uuid not null
                   constraint fk_user_profiles_user_id references app_public.users (id) on delete cascade,
  username         varchar(50) unique not null
                   constraint ck_user_profiles_username check (username ~ '^[A-Za-z0-9_]{3,50}$'),
  display_name     varchar(100),
  bio              text
                   constraint ck_user_profiles_bio check (char_length(bio) <= 1000),
  avatar_url       varchar(500)
                   constraint ck_user_profiles_avatar_url check (avatar_url ~ '^https?://'),
  cover_image_url  varchar(500)
                   constraint ck_user_profiles_cover_image_url check (cover_image_url ~ '^https?://'),
  birth_date       date
                   constraint ck_user_profiles_birth_date check (birth_date > date '1900-01-01'),
  gender           varchar(20),
  location         varchar(100),
  website          varchar(200)
                   constraint ck_user_profiles_website check (website ~ '^https?://'),
  privacy_level    varchar(20) default 'public'
                   constraint ck_user_profiles_privacy_level check (privacy_level in ('public', 'friends', 'private')),
  is_verified      boolean default false,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now(),
  -- one profile per user: the design's one-to-one relationship
  constraint user_profiles_user_id_key unique (user_id)
);
create index idx_user_profiles_user_id on app_public.user_profiles (user_id);
create index idx_user_profiles_username on app_public.user_profiles (username);
create index idx_user_profiles_display_name on app_public.user_profiles (display_name);
-- usernames are unique regardless of case, so @Ana and @ana are one person
create unique index idx_user_profiles_username_lower on app_public.user_profiles (lower(username));
create trigger _100_timestamps before update on app_public.user_profiles
  for each row execute function app_private.tg__timestamps();

comment on table app_public.user_profiles is
  E'The public face of a user: name, picture, bio. Who may see it depends on `privacy_level`.';
comment on column app_public.user_profiles.username is
  E'Unique handle (3-50 letters, digits or _), case-insensitively unique; used for @mentions.';
comment on column app_public.user_profiles.privacy_level is
  E'`public` (everyone), `friends` (accepted friends) or `private` (only the owner).';
comment on column app_public.user_profiles.is_verified is E'A verified public figure (set by staff).';

--------------------------------------------------------------------------------------------------
-- 2.2 Social relationships
--------------------------------------------------------------------------------------------------

create table app_public.friendships (
  id            uuid primary key default gen_random_uuid(),
  requester_id  uuid not null
                constraint fk_friendships_requester_id references app_public.users (id) on delete cascade,
  addressee_id  uuid not null
                constraint fk_friendships_addressee_id references app_public.users (id) on delete cascade,
  status        varchar(20) default 'pending'
                constraint ck_friendships_status check (status in ('pending', 'accepted', 'blocked')),
  created_at    timestamptz default now(),
  updated_at    timestamptz default now(),
  unique (requester_id, addressee_id),
  constraint ck_friendships_addressee_id check (addressee_id <> requester_id)
);
create index idx_friendships_requester_id on app_public.friendships (requester_id);
create index idx_friendships_addressee_id on app_public.friendships (addressee_id);
create index idx_friendships_status on app_public.friendships (status);
create trigger _100_timestamps before update on app_public.friendships
  for each row execute function app_private.tg__timestamps();

comment on table app_public.friendships is
  E'A friend request, a friendship or a block between two users. `requester_id` asked (or blocked); `addressee_id` answers.';
comment on column app_public.friendships.status is
  E'`pending` (asked, not answered), `accepted` (friends) or `blocked` (requester blocked addressee).';

create table app_public.followers (
  id            uuid primary key default gen_random_uuid(),
  follower_id   uuid not null
                constraint fk_followers_follower_id references app_public.users (id) on delete cascade,
  following_id  uuid not null
                constraint fk_followers_following_id references app_public.users (id) on delete cascade,
  created_at    timestamptz default now(),
  unique (follower_id, following_id),
  constraint ck_followers_following_id check (following_id <> follower_id)
);
create index idx_followers_follower_id on app_public.followers (follower_id);
create index idx_followers_following_id on app_public.followers (following_id);

comment on table app_public.followers is E'One user following another (one-way, no consent needed).';
comment on column app_public.followers.follower_id is E'Who follows.';
comment on column app_public.followers.following_id is E'Who is followed.';

--------------------------------------------------------------------------------------------------
-- 2.5 Groups (before posts: group posts reference them)
--------------------------------------------------------------------------------------------------

create table app_public.groups (
  id               uuid primary key default gen_random_uuid(),
  name             varchar(100) not null
                   constraint ck_groups_name check (btrim(name) <> ''),
  description      text
                   constraint ck_groups_description check (char_length(description) <= 5000),
  avatar_url       varchar(500)
                   constraint ck_groups_avatar_url check (avatar_url ~ '^https?://'),
  cover_image_url  varchar(500)
                   constraint ck_groups_cover_image_url check (cover_image_url ~ '^https?://'),
  group_type       varchar(20) default 'public'
                   constraint ck_groups_group_type check (group_type in ('public', 'private', 'secret')),
  category         varchar(50),
  location         varchar(100),
  member_count     integer default 0
                   constraint ck_groups_member_count check (member_count >= 0),
  post_count       integer default 0
                   constraint ck_groups_post_count check (post_count >= 0),
  created_by       uuid not null
                   constraint fk_groups_created_by references app_public.users (id) on delete cascade,
  is_active        boolean default true,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now()
);
create index idx_groups_name on app_public.groups (name);
create index idx_groups_type on app_public.groups (group_type);
create index idx_groups_category on app_public.groups (category);
create index idx_groups_created_by on app_public.groups (created_by);
create trigger _100_timestamps before update on app_public.groups
  for each row execute function app_private.tg__timestamps();

comment on table app_public.groups is E'A community users join to post and organise events together.';
comment on column app_public.groups.group_type is
  E'`public` (anyone sees and joins), `private` (anyone sees it, joining needs approval) or `secret` (only members see it; joining needs an invite).';
comment on column app_public.groups.member_count is E'Active members; kept by the worker from `group_members`.';
comment on column app_public.groups.post_count is E'Posts in the group (not deleted); kept by the worker from `posts`.';

create table app_public.group_members (
  id         uuid primary key default gen_random_uuid(),
  group_id   uuid not null
             constraint fk_group_members_group_id references app_public.groups (id) on delete cascade,
  user_id    uuid not null
             constraint fk_group_members_user_id references app_public.users (id) on delete cascade,
  role       varchar(20) default 'member'
             constraint ck_group_members_role check (role in ('admin', 'moderator', 'member')),
  status     varchar(20) default 'active'
             constraint ck_group_members_status check (status in ('active', 'pending', 'banned')),
  joined_at  timestamptz default now(),
  left_at    timestamptz,
  unique (group_id, user_id)
);
create index idx_group_members_group_id on app_public.group_members (group_id);
create index idx_group_members_user_id on app_public.group_members (user_id);
create index idx_group_members_role on app_public.group_members (role);

comment on table app_public.group_members is E'A user''s membership of (or request to join, or ban from) a group.';
comment on column app_public.group_members.role is E'`admin`, `moderator` or `member`.';
comment on column app_public.group_members.status is
  E'`active` (a member), `pending` (asked to join a private group) or `banned`.';

--------------------------------------------------------------------------------------------------
-- 2.3 Content system
--------------------------------------------------------------------------------------------------

create table app_public.posts (
  id              uuid primary key default gen_random_uuid(),
  author_id       uuid not null
                  constraint fk_posts_author_id references app_public.users (id) on delete cascade,
  content         text not null
                  constraint ck_posts_content check (char_length(content) <= 10000),
  post_type       varchar(20) default 'text'
                  constraint ck_posts_post_type check (post_type in ('text', 'image', 'video', 'link')),
  privacy_level   varchar(20) default 'public'
                  constraint ck_posts_privacy_level check (privacy_level in ('public', 'friends', 'private')),
  location        varchar(100),
  is_edited       boolean default false,
  edited_at       timestamptz,
  likes_count     integer default 0
                  constraint ck_posts_likes_count check (likes_count >= 0),
  comments_count  integer default 0
                  constraint ck_posts_comments_count check (comments_count >= 0),
  shares_count    integer default 0
                  constraint ck_posts_shares_count check (shares_count >= 0),
  created_at      timestamptz default now(),
  updated_at      timestamptz default now(),
  -- beyond the design: group posts, shares and soft delete
  group_id        uuid
                  constraint fk_posts_group_id references app_public.groups (id) on delete cascade,
  shared_post_id  uuid
                  constraint fk_posts_shared_post_id references app_public.posts (id) on delete set null,
  deleted_at      timestamptz,
  constraint ck_posts_shared_post_id check (shared_post_id <> id)
);
create index idx_posts_author_id on app_public.posts (author_id);
create index idx_posts_created_at on app_public.posts (created_at);
create index idx_posts_privacy_level on app_public.posts (privacy_level);
create index idx_posts_post_type on app_public.posts (post_type);
create index idx_posts_group_id on app_public.posts (group_id);
create index idx_posts_shared_post_id on app_public.posts (shared_post_id);
create trigger _100_timestamps before update on app_public.posts
  for each row execute function app_private.tg__timestamps();

comment on table app_public.posts is
  E'Something a user published: on their timeline or, with `group_id`, in a group; with `shared_post_id`, a share of another post.';
comment on column app_public.posts.post_type is E'`text`, `image`, `video` or `link`.';
comment on column app_public.posts.privacy_level is
  E'`public` (everyone), `friends` (the author''s accepted friends) or `private` (only the author).';
comment on column app_public.posts.likes_count is E'Likes; kept by the worker from `likes`.';
comment on column app_public.posts.comments_count is E'Comments including replies; kept by the worker from `comments`.';
comment on column app_public.posts.shares_count is E'Shares (posts whose `shared_post_id` is this post); kept by the worker.';
comment on column app_public.posts.group_id is E'The group this post was published in, if any.';
comment on column app_public.posts.shared_post_id is E'The post this one shares, if it is a share.';
comment on column app_public.posts.deleted_at is
  E'Set when the author deletes the post (soft delete); deleted posts are hidden from everyone and purged later.';
comment on constraint fk_posts_shared_post_id on app_public.posts is E'@foreignFieldName shares';

create table app_public.post_media (
  id             uuid primary key default gen_random_uuid(),
  post_id        uuid not null
                 constraint fk_post_media_post_id references app_public.posts (id) on delete cascade,
  media_type     varchar(20) not null
                 constraint ck_post_media_media_type check (media_type in ('image', 'video', 'audio')),
  media_url      varchar(500) not null
                 constraint ck_post_media_media_url check (media_url ~ '^https?://'),
  thumbnail_url  varchar(500)
                 constraint ck_post_media_thumbnail_url check (thumbnail_url ~ '^https?://'),
  file_size      bigint
                 constraint ck_post_media_file_size check (file_size >= 0),
  duration       integer
                 constraint ck_post_media_duration check (duration >= 0),
  width          integer
                 constraint ck_post_media_width check (width > 0),
  height         integer
                 constraint ck_post_media_height check (height > 0),
  alt_text       text
                 constraint ck_post_media_alt_text check (char_length(alt_text) <= 1000),
  order_index    integer default 0
                 constraint ck_post_media_order_index check (order_index >= 0),
  created_at     timestamptz default now()
);
create index idx_post_media_post_id on app_public.post_media (post_id);
create index idx_post_media_media_type on app_public.post_media (media_type);

comment on table app_public.post_media is E'An image, video or audio file attached to a post, shown in `order_index` order.';
comment on column app_public.post_media.media_type is E'`image`, `video` or `audio`.';
comment on column app_public.post_media.duration is E'Length in seconds (video, audio).';
comment on column app_public.post_media.alt_text is E'Description for people who cannot see the image.';

create table app_public.comments (
  id                 uuid primary key default gen_random_uuid(),
  post_id            uuid not null
                     constraint fk_comments_post_id references app_public.posts (id) on delete cascade,
  author_id          uuid not null
                     constraint fk_comments_author_id references app_public.users (id) on delete cascade,
  parent_comment_id  uuid
                     constraint fk_comments_parent_comment_id references app_public.comments (id) on delete cascade,
  content            text not null
                     constraint ck_comments_content check (btrim(content) <> '' and char_length(content) <= 5000),
  likes_count        integer default 0
                     constraint ck_comments_likes_count check (likes_count >= 0),
  replies_count      integer default 0
                     constraint ck_comments_replies_count check (replies_count >= 0),
  is_edited          boolean default false,
  edited_at          timestamptz,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now(),
  constraint ck_comments_parent_comment_id check (parent_comment_id <> id)
);
create index idx_comments_post_id on app_public.comments (post_id);
create index idx_comments_author_id on app_public.comments (author_id);
create index idx_comments_parent_comment_id on app_public.comments (parent_comment_id);
create index idx_comments_created_at on app_public.comments (created_at);
create trigger _100_timestamps before update on app_public.comments
  for each row execute function app_private.tg__timestamps();

comment on table app_public.comments is E'A comment on a post, or with `parent_comment_id` a reply to a comment.';
comment on column app_public.comments.parent_comment_id is E'The comment this one replies to.';
comment on constraint fk_comments_parent_comment_id on app_public.comments is E'@foreignFieldName replies';
comment on column app_public.comments.likes_count is E'Likes; kept by the worker from `likes`.';
comment on column app_public.comments.replies_count is E'Direct replies; kept by the worker from `comments`.';

create table app_public.likes (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null
               constraint fk_likes_user_id references app_public.users (id) on delete cascade,
  target_type  varchar(20) not null
               constraint ck_likes_target_type check (target_type in ('post', 'comment')),
  target_id    uuid not null,
  created_at   timestamptz default now(),
  unique (user_id, target_type, target_id)
);
create index idx_likes_user_id on app_public.likes (user_id);
create index idx_likes_target on app_public.likes (target_type, target_id);

comment on table app_public.likes is E'One like by one user of one post or comment.';
comment on column app_public.likes.target_type is E'What `target_id` points at: `post` or `comment`.';
comment on column app_public.likes.target_id is
  E'The liked post or comment (no foreign key, as the design has it: likes of deleted targets are cleaned up by a scheduled job).';

--------------------------------------------------------------------------------------------------
-- 2.4 Messaging
--------------------------------------------------------------------------------------------------

create table app_public.conversations (
  id                 uuid primary key default gen_random_uuid(),
  conversation_type  varchar(20) default 'direct'
                     constraint ck_conversations_conversation_type check (conversation_type in ('direct', 'group')),
  title              varchar(100),
  description        text
                     constraint ck_conversations_description check (char_length(description) <= 2000),
  avatar_url         varchar(500)
                     constraint ck_conversations_avatar_url check (avatar_url ~ '^https?://'),
  created_by         uuid
                     constraint fk_conversations_created_by references app_public.users (id) on delete set null,
  last_message_at    timestamptz,
  is_active          boolean default true,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now()
);
create index idx_conversations_type on app_public.conversations (conversation_type);
create index idx_conversations_last_message_at on app_public.conversations (last_message_at);
create index idx_conversations_created_by on app_public.conversations (created_by);
create trigger _100_timestamps before update on app_public.conversations
  for each row execute function app_private.tg__timestamps();

comment on table app_public.conversations is E'A chat: `direct` between two users, or a titled `group` chat.';
comment on column app_public.conversations.conversation_type is E'`direct` (two people) or `group`.';
comment on column app_public.conversations.last_message_at is E'When the newest message was sent; orders conversation lists.';

create table app_public.conversation_participants (
  id               uuid primary key default gen_random_uuid(),
  conversation_id  uuid not null
                   constraint fk_conversation_participants_conversation_id references app_public.conversations (id) on delete cascade,
  user_id          uuid not null
                   constraint fk_conversation_participants_user_id references app_public.users (id) on delete cascade,
  role             varchar(20) default 'member'
                   constraint ck_conversation_participants_role check (role in ('admin', 'member')),
  joined_at        timestamptz default now(),
  left_at          timestamptz,
  last_read_at     timestamptz,
  is_muted         boolean default false,
  unique (conversation_id, user_id)
);
create index idx_conversation_participants_conversation_id on app_public.conversation_participants (conversation_id);
create index idx_conversation_participants_user_id on app_public.conversation_participants (user_id);

comment on table app_public.conversation_participants is E'A user''s place in a conversation, with their read and mute state.';
comment on column app_public.conversation_participants.role is E'`admin` (manages a group chat) or `member`.';
comment on column app_public.conversation_participants.left_at is E'When the user left; they keep seeing messages sent before it.';
comment on column app_public.conversation_participants.last_read_at is E'Messages after this are unread for this user.';

create table app_public.messages (
  id                   uuid primary key default gen_random_uuid(),
  conversation_id      uuid not null
                       constraint fk_messages_conversation_id references app_public.conversations (id) on delete cascade,
  sender_id            uuid not null
                       constraint fk_messages_sender_id references app_public.users (id) on delete cascade,
  message_type         varchar(20) default 'text'
                       constraint ck_messages_message_type check (message_type in ('text', 'image', 'video', 'audio', 'file')),
  content              text
                       constraint ck_messages_content check (char_length(content) <= 10000),
  media_url            varchar(500)
                       constraint ck_messages_media_url check (media_url ~ '^https?://'),
  file_name            varchar(255),
  file_size            bigint
                       constraint ck_messages_file_size check (file_size >= 0),
  reply_to_message_id  uuid
                       constraint fk_messages_reply_to_message_id references app_public.messages (id) on delete set null,
  is_edited            boolean default false,
  edited_at            timestamptz,
  is_deleted           boolean default false,
  deleted_at           timestamptz,
  created_at           timestamptz default now(),
  updated_at           timestamptz default now()
);
create index idx_messages_conversation_id on app_public.messages (conversation_id);
create index idx_messages_sender_id on app_public.messages (sender_id);
create index idx_messages_created_at on app_public.messages (created_at);
create index idx_messages_reply_to on app_public.messages (reply_to_message_id);
create trigger _100_timestamps before update on app_public.messages
  for each row execute function app_private.tg__timestamps();

comment on table app_public.messages is E'A message in a conversation.';
comment on column app_public.messages.message_type is E'`text`, `image`, `video`, `audio` or `file`.';
comment on column app_public.messages.reply_to_message_id is E'The message this one answers.';
comment on constraint fk_messages_reply_to_message_id on app_public.messages is E'@foreignFieldName replies';
comment on column app_public.messages.is_deleted is E'Deleted by its sender (soft delete): the content is cleared for everyone else.';

--------------------------------------------------------------------------------------------------
-- 2.6 Events
--------------------------------------------------------------------------------------------------

create table app_public.events (
  id                 uuid primary key default gen_random_uuid(),
  title              varchar(200) not null
                     constraint ck_events_title check (btrim(title) <> ''),
  description        text
                     constraint ck_events_description check (char_length(description) <= 10000),
  event_type         varchar(50),
  start_date         timestamptz not null,
  end_date           timestamptz,
  timezone           varchar(50),
  location           varchar(200),
  venue_name         varchar(100),
  address            text,
  latitude           decimal(10, 8)
                     constraint ck_events_latitude check (latitude between -90 and 90),
  longitude          decimal(11, 8)
                     constraint ck_events_longitude check (longitude between -180 and 180),
  max_attendees      integer
                     constraint ck_events_max_attendees check (max_attendees > 0),
  current_attendees  integer default 0
                     constraint ck_events_current_attendees check (current_attendees >= 0),
  is_online          boolean default false,
  meeting_url        varchar(500)
                     constraint ck_events_meeting_url check (meeting_url ~ '^https?://'),
  cover_image_url    varchar(500)
                     constraint ck_events_cover_image_url check (cover_image_url ~ '^https?://'),
  privacy_level      varchar(20) default 'public'
                     constraint ck_events_privacy_level check (privacy_level in ('public', 'friends', 'private')),
  created_by         uuid not null
                     constraint fk_events_created_by references app_public.users (id) on delete cascade,
  group_id           uuid
                     constraint fk_events_group_id references app_public.groups (id) on delete set null,
  is_cancelled       boolean default false,
  cancelled_at       timestamptz,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now(),
  constraint ck_events_end_date check (end_date >= start_date)
);
create index idx_events_start_date on app_public.events (start_date);
create index idx_events_location on app_public.events (location);
create index idx_events_created_by on app_public.events (created_by);
create index idx_events_group_id on app_public.events (group_id);
create trigger _100_timestamps before update on app_public.events
  for each row execute function app_private.tg__timestamps();

comment on table app_public.events is E'Something happening at a time, online or at a place, optionally organised in a group.';
comment on column app_public.events.privacy_level is
  E'`public` (everyone), `friends` (the organiser''s accepted friends) or `private` (the organiser and invitees).';
comment on column app_public.events.max_attendees is E'Capacity: at most this many may be `going`; null means unlimited.';
comment on column app_public.events.current_attendees is E'How many are `going`; kept by the worker from `event_attendees`.';

create table app_public.event_attendees (
  id             uuid primary key default gen_random_uuid(),
  event_id       uuid not null
                 constraint fk_event_attendees_event_id references app_public.events (id) on delete cascade,
  user_id        uuid not null
                 constraint fk_event_attendees_user_id references app_public.users (id) on delete cascade,
  status         varchar(20) default 'going'
                 constraint ck_event_attendees_status check (status in ('going', 'maybe', 'not_going')),
  registered_at  timestamptz default now(),
  unique (event_id, user_id)
);
create index idx_event_attendees_event_id on app_public.event_attendees (event_id);
create index idx_event_attendees_user_id on app_public.event_attendees (user_id);
create index idx_event_attendees_status on app_public.event_attendees (status);

comment on table app_public.event_attendees is E'A user''s answer to an event: going, maybe or not going.';
comment on column app_public.event_attendees.status is E'`going`, `maybe` or `not_going`.';

--------------------------------------------------------------------------------------------------
-- 2.7 Notifications
--------------------------------------------------------------------------------------------------

create table app_public.notifications (
  id                 uuid primary key default gen_random_uuid(),
  recipient_id       uuid not null
                     constraint fk_notifications_recipient_id references app_public.users (id) on delete cascade,
  sender_id          uuid
                     constraint fk_notifications_sender_id references app_public.users (id) on delete set null,
  notification_type  varchar(50) not null
                     constraint ck_notifications_notification_type check (notification_type in (
                       'friend_request', 'friend_accepted', 'new_follower',
                       'post_like', 'comment_like', 'post_comment', 'comment_reply', 'mention',
                       'message',
                       'group_join_request', 'group_request_approved', 'group_invite',
                       'event_rsvp', 'event_cancelled'
                     )),
  title              varchar(200) not null,
  message            text,
  data               jsonb
                     constraint ck_notifications_data check (jsonb_typeof(data) = 'object'),
  is_read            boolean default false,
  read_at            timestamptz,
  action_url         varchar(500),
  priority           varchar(20) default 'normal'
                     constraint ck_notifications_priority check (priority in ('low', 'normal', 'high', 'urgent')),
  created_at         timestamptz default now()
);
create index idx_notifications_recipient_id on app_public.notifications (recipient_id);
create index idx_notifications_type on app_public.notifications (notification_type);
create index idx_notifications_is_read on app_public.notifications (is_read);
create index idx_notifications_created_at on app_public.notifications (created_at);
create index idx_notifications_data on app_public.notifications using gin (data);
create index idx_notifications_sender_id on app_public.notifications (sender_id);

comment on table app_public.notifications is
  E'Something that happened which a user should hear about. Created by the worker, read and marked read by the recipient.';
comment on column app_public.notifications.notification_type is E'What happened; the README lists every type with its data.';
comment on column app_public.notifications.data is E'Structured details: the actor and target ids for this type.';
comment on column app_public.notifications.action_url is E'Where a client should take the user when they open it.';
comment on column app_public.notifications.priority is E'`low`, `normal`, `high` or `urgent`.';
