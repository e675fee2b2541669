--! Previous: sha1:fdc3d4a29b6cb77ba9e62baa7b7dd9f5323b5583
--! Hash: sha1:2bd84c7b2bcd4ba83a4446ca94eceba35b4673fb

/*
 * 0002 — accounts, sessions and the helpers row-level security is written with.
 *
 * Secrets and bookkeeping live in app_private (refresh tokens, one-time tokens, rate-limit
 * counters, external identities, the audit log); the API roles cannot reach it. The entry
 * points the auth plugin calls (register, login, ...) are `security definer` functions in
 * app_hidden: callable by the API roles, not part of the GraphQL schema, each checking what it
 * relies on. Policies themselves live in policies/.
 */

--------------------------------------------------------------------------------------------------
-- Private tables
--------------------------------------------------------------------------------------------------

create table app_private.refresh_tokens (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null
               constraint fk_refresh_tokens_user_id references app_public.users (id) on delete cascade,
  -- one family per sign-in; every rotation adds a token to the family
  family_id    uuid not null,
  token_hash   text not null unique,
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null,
  used_at      timestamptz,
  revoked_at   timestamptz,
  ip           inet,
  user_agent   text
);
create index idx_refresh_tokens_user_id on app_private.refresh_tokens (user_id);
create index idx_refresh_tokens_family_id on app_private.refresh_tokens (family_id);
create index idx_refresh_tokens_expires_at on app_private.refresh_tokens (expires_at);
comment on table app_private.refresh_tokens is
  E'Refresh tokens, stored only as SHA-256 hashes. Single use: using one marks it used and issues the next in its family; presenting a used one again revokes the whole family (theft detection).';

create table app_private.user_tokens (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null
              constraint fk_user_tokens_user_id references app_public.users (id) on delete cascade,
  kind        text not null
              constraint ck_user_tokens_kind check (kind in ('password_reset', 'email_verification')),
  token_hash  text not null unique,
  -- for e-mail verification: the address the token proves
  email       text,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  used_at     timestamptz
);
create index idx_user_tokens_user_id on app_private.user_tokens (user_id, kind);
create index idx_user_tokens_expires_at on app_private.user_tokens (expires_at);
comment on table app_private.user_tokens is
  E'One-time tokens for password reset and e-mail verification: random, stored as SHA-256 hashes, single use, expiring. The plaintext exists only in the e-mail.';

create table app_private.login_attempts (
  id            bigint generated always as identity primary key,
  -- `email:<address>` or `ip:<address>`
  key           text not null,
  attempted_at  timestamptz not null default now()
);
create index idx_login_attempts_key on app_private.login_attempts (key, attempted_at);
comment on table app_private.login_attempts is
  E'Failed sign-ins, one row each, keyed by e-mail and by client address: the rate limiter counts them in a sliding window. Old rows are purged by the worker.';

create table app_private.user_authentications (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null
              constraint fk_user_authentications_user_id references app_public.users (id) on delete cascade,
  service     text not null,
  identifier  text not null,
  details     jsonb not null default '{}',
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (service, identifier)
);
create index idx_user_authentications_user_id on app_private.user_authentications (user_id);
create trigger _100_timestamps before update on app_private.user_authentications
  for each row execute function app_private.tg__timestamps();
comment on table app_private.user_authentications is
  E'External identities (OAuth providers) linked to an account: where such users sign in, since they may have no password.';

create table app_private.audit_log (
  id           bigint generated always as identity primary key,
  occurred_at  timestamptz not null default now(),
  -- no foreign key: the record outlives a deleted account
  user_id      uuid,
  action       text not null
               constraint ck_audit_log_action check (action in (
                 'register', 'login_success', 'login_failure', 'login_rate_limited',
                 'password_change', 'password_reset', 'email_verification',
                 'logout', 'logout_everywhere', 'refresh_token_reuse', 'account_deletion'
               )),
  ip           inet,
  user_agent   text,
  details      jsonb not null default '{}'
);
create index idx_audit_log_user_id on app_private.audit_log (user_id, occurred_at);
create index idx_audit_log_occurred_at on app_private.audit_log (occurred_at);
comment on table app_private.audit_log is
  E'Security-relevant events, written by the database (the functions below and triggers), never by clients.';

--------------------------------------------------------------------------------------------------
-- Schema additions the policies need
--------------------------------------------------------------------------------------------------

-- An invitation is a pending membership an admin or moderator created; a join request is one
-- the user created. `invited_by` tells them apart.
alter table app_public.group_members
  add column invited_by uuid
  constraint fk_group_members_invited_by references app_public.users (id) on delete set null;
create index idx_group_members_invited_by on app_public.group_members (invited_by);
comment on column app_public.group_members.invited_by is
  E'Who invited this user (a pending row with an inviter is an invitation; without one, a join request).';

-- At most one request or friendship per pair, whichever way round; blocks are one row per
-- blocker and may coexist with the other side's block.
create unique index idx_friendships_pair on app_public.friendships
  (least(requester_id, addressee_id), greatest(requester_id, addressee_id))
  where status <> 'blocked';

create index idx_user_profiles_privacy_level on app_public.user_profiles (privacy_level);
create index idx_group_members_user_id_status on app_public.group_members (user_id, status);
create index idx_conversation_participants_user_id_left_at
  on app_public.conversation_participants (user_id, conversation_id, left_at);

--------------------------------------------------------------------------------------------------
-- Helpers for policies: who am I, whom do I know
--------------------------------------------------------------------------------------------------

create function app_public.current_user_id() returns uuid as $$
  select nullif(pg_catalog.current_setting('jwt.claims.user_id', true), '')::uuid;
$$ language sql stable;
comment on function app_public.current_user_id() is
  E'@behavior -*\nThe signed-in user''s id (from the verified JWT), or null for anonymous requests.';

create function app_hidden.blocked_user_ids() returns setof uuid as $$
  select addressee_id from app_public.friendships
   where requester_id = app_public.current_user_id() and status = 'blocked'
  union
  select requester_id from app_public.friendships
   where addressee_id = app_public.current_user_id() and status = 'blocked';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_user_ids() is
  E'Users on either side of a block with the current user: hidden from each other everywhere.';

create function app_hidden.is_blocked(a uuid, b uuid) returns boolean as $$
  select exists (
    select 1 from app_public.friendships
     where status = 'blocked'
       and ((requester_id = a and addressee_id = b) or (requester_id = b and addressee_id = a))
  );
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.is_blocked(uuid, uuid) is E'Whether either of the two users blocked the other.';

create function app_hidden.friend_ids() returns setof uuid as $$
  select addressee_id from app_public.friendships
   where requester_id = app_public.current_user_id() and status = 'accepted'
  union all
  select requester_id from app_public.friendships
   where addressee_id = app_public.current_user_id() and status = 'accepted';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.friend_ids() is E'The current user''s accepted friends.';

create function app_hidden.is_friend(a uuid, b uuid) returns boolean as $$
  select exists (
    select 1 from app_public.friendships
     where status = 'accepted'
       and ((requester_id = a and addressee_id = b) or (requester_id = b and addressee_id = a))
  );
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.is_friend(uuid, uuid) is E'Whether the two users are accepted friends.';

create function app_hidden.public_group_ids() returns setof uuid as $$
  select id from app_public.groups where group_type = 'public';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.public_group_ids() is E'Every public group.';

create function app_hidden.active_group_ids() returns setof uuid as $$
  select group_id from app_public.group_members
   where user_id = app_public.current_user_id() and status = 'active';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.active_group_ids() is E'Groups the current user is an active member of.';

create function app_hidden.moderated_group_ids() returns setof uuid as $$
  select group_id from app_public.group_members
   where user_id = app_public.current_user_id() and status = 'active' and role in ('admin', 'moderator');
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.moderated_group_ids() is E'Groups the current user runs as an admin or moderator.';

create function app_hidden.admin_group_ids() returns setof uuid as $$
  select group_id from app_public.group_members
   where user_id = app_public.current_user_id() and status = 'active' and role = 'admin';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.admin_group_ids() is E'Groups the current user is an admin of.';

create function app_hidden.conversation_ids() returns setof uuid as $$
  select conversation_id from app_public.conversation_participants
   where user_id = app_public.current_user_id();
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.conversation_ids() is
  E'Conversations the current user takes part in or has left (they still see what was said before they left).';

create function app_hidden.active_conversation_ids() returns setof uuid as $$
  select conversation_id from app_public.conversation_participants
   where user_id = app_public.current_user_id() and left_at is null;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.active_conversation_ids() is E'Conversations the current user currently takes part in.';

create function app_hidden.admin_conversation_ids() returns setof uuid as $$
  select conversation_id from app_public.conversation_participants
   where user_id = app_public.current_user_id() and left_at is null and role = 'admin';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.admin_conversation_ids() is E'Group conversations the current user administers.';

create function app_hidden.left_conversation_at(conversation_id uuid) returns timestamptz as $$
  select left_at from app_public.conversation_participants
   where conversation_participants.conversation_id = left_conversation_at.conversation_id
     and user_id = app_public.current_user_id();
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.left_conversation_at(uuid) is
  E'When the current user left the conversation (null while they are in it or were never in it).';

create function app_hidden.can_send_to(conversation_id uuid) returns boolean as $$
  select exists (
           select 1 from app_public.conversation_participants
            where conversation_participants.conversation_id = can_send_to.conversation_id
              and user_id = app_public.current_user_id() and left_at is null)
     and not exists (
           select 1 from app_public.conversation_participants other
             join app_public.conversations c on c.id = other.conversation_id
            where other.conversation_id = can_send_to.conversation_id
              and c.conversation_type = 'direct'
              and other.user_id <> app_public.current_user_id()
              and app_hidden.is_blocked(other.user_id, app_public.current_user_id()));
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.can_send_to(uuid) is
  E'Whether the current user may send to the conversation: a current participant, and (in a direct conversation) not blocked by or blocking the other person.';

create function app_hidden.event_attendee_ids(event_id uuid) returns setof uuid as $$
  select user_id from app_public.event_attendees where event_attendees.event_id = event_attendee_ids.event_id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.event_attendee_ids(uuid) is E'Everyone who answered an event (attendees may see a private event).';

--------------------------------------------------------------------------------------------------
-- People in the API: `User` is the public card, `Account` the private sign-in record
--------------------------------------------------------------------------------------------------

-- The minimum anyone signed in may see of anyone they have no block with: a card. In GraphQL
-- this is the `User` type every "who" points at (authors, senders, members ...); the table
-- `users` holds private sign-in data and is the `Account` type, readable only by its owner.
create view app_public.user_cards as
  select p.user_id as id, p.username, p.display_name, p.avatar_url, p.is_verified
    from app_public.user_profiles p
   where (app_public.current_user_id() is not null
          and p.user_id not in (select app_hidden.blocked_user_ids()))
      or (app_public.current_user_id() is null and p.privacy_level = 'public');
comment on view app_public.user_cards is
  E'@name user\n@primaryKey id\n@foreignKey (id) references app_public.user_profiles (user_id)|@fieldName profile|@foreignFieldName user\n@foreignKey (id) references app_public.users (id)|@fieldName account|@foreignFieldName user\nA person: name and picture. Signed-in users see everyone but those on either side of a block with them; anonymous visitors see people whose profile is public. The full profile follows its privacy level; the account (e-mail, phone) is visible only to its owner.';
comment on column app_public.user_cards.id is E'The user''s id.';

comment on table app_public.users is
  E'@name account\nA user''s account: how they sign in. Private to its owner (e-mail and phone included); others see people as `User`.';

-- Every column that names a person points, in the API, at the `User` card; the raw foreign keys
-- to the private `Account` are left out of the API.
comment on constraint fk_user_profiles_user_id on app_public.user_profiles is E'@behavior -*';
comment on constraint fk_friendships_requester_id on app_public.friendships is E'@behavior -*';
comment on constraint fk_friendships_addressee_id on app_public.friendships is E'@behavior -*';
comment on constraint fk_followers_follower_id on app_public.followers is E'@behavior -*';
comment on constraint fk_followers_following_id on app_public.followers is E'@behavior -*';
comment on constraint fk_posts_author_id on app_public.posts is E'@behavior -*';
comment on constraint fk_comments_author_id on app_public.comments is E'@behavior -*';
comment on constraint fk_likes_user_id on app_public.likes is E'@behavior -*';
comment on constraint fk_conversations_created_by on app_public.conversations is E'@behavior -*';
comment on constraint fk_conversation_participants_user_id on app_public.conversation_participants is E'@behavior -*';
comment on constraint fk_messages_sender_id on app_public.messages is E'@behavior -*';
comment on constraint fk_groups_created_by on app_public.groups is E'@behavior -*';
comment on constraint fk_group_members_user_id on app_public.group_members is E'@behavior -*';
comment on constraint fk_group_members_invited_by on app_public.group_members is E'@behavior -*';
comment on constraint fk_events_created_by on app_public.events is E'@behavior -*';
comment on constraint fk_event_attendees_user_id on app_public.event_attendees is E'@behavior -*';
comment on constraint fk_notifications_recipient_id on app_public.notifications is E'@behavior -*';
comment on constraint fk_notifications_sender_id on app_public.notifications is E'@behavior -*';

comment on table app_public.user_profiles is
  E'The public face of a user: name, picture, bio. Who may see it depends on `privacy_level`.';
comment on table app_public.friendships is
  E'@foreignKey (requester_id) references app_public.user_cards (id)|@fieldName requester|@behavior -manyRelation:*:*\n@foreignKey (addressee_id) references app_public.user_cards (id)|@fieldName addressee|@behavior -manyRelation:*:*\nA friend request, a friendship or a block between two users. `requester_id` asked (or blocked); `addressee_id` answers.';
comment on table app_public.followers is
  E'@foreignKey (follower_id) references app_public.user_cards (id)|@fieldName follower|@behavior -manyRelation:*:*\n@foreignKey (following_id) references app_public.user_cards (id)|@fieldName followed|@behavior -manyRelation:*:*\nOne user following another (one-way, no consent needed).';
comment on table app_public.posts is
  E'@foreignKey (author_id) references app_public.user_cards (id)|@fieldName author|@foreignFieldName posts\nSomething a user published: on their timeline or, with `group_id`, in a group; with `shared_post_id`, a share of another post.';
comment on table app_public.comments is
  E'@foreignKey (author_id) references app_public.user_cards (id)|@fieldName author|@behavior -manyRelation:*:*\nA comment on a post, or with `parent_comment_id` a reply to a comment.';
comment on table app_public.likes is
  E'@foreignKey (user_id) references app_public.user_cards (id)|@fieldName user|@behavior -manyRelation:*:*\nOne like by one user of one post or comment.';
comment on table app_public.conversations is
  E'@foreignKey (created_by) references app_public.user_cards (id)|@fieldName creator|@behavior -manyRelation:*:*\nA chat: `direct` between two users, or a titled `group` chat.';
comment on table app_public.conversation_participants is
  E'@foreignKey (user_id) references app_public.user_cards (id)|@fieldName user|@behavior -manyRelation:*:*\nA user''s place in a conversation, with their read and mute state.';
comment on table app_public.messages is
  E'@foreignKey (sender_id) references app_public.user_cards (id)|@fieldName sender|@behavior -manyRelation:*:*\nA message in a conversation.';
comment on table app_public.groups is
  E'@foreignKey (created_by) references app_public.user_cards (id)|@fieldName creator|@behavior -manyRelation:*:*\nA community users join to post and organise events together.';
comment on table app_public.group_members is
  E'@foreignKey (user_id) references app_public.user_cards (id)|@fieldName user|@behavior -manyRelation:*:*\n@foreignKey (invited_by) references app_public.user_cards (id)|@fieldName inviter|@behavior -manyRelation:*:*\nA user''s membership of (or request to join, invitation to, or ban from) a group.';
comment on table app_public.events is
  E'@foreignKey (created_by) references app_public.user_cards (id)|@fieldName creator|@behavior -manyRelation:*:*\nSomething happening at a time, online or at a place, optionally organised in a group.';
comment on table app_public.event_attendees is
  E'@foreignKey (user_id) references app_public.user_cards (id)|@fieldName user|@behavior -manyRelation:*:*\nA user''s answer to an event: going, maybe or not going.';
comment on table app_public.notifications is
  E'@foreignKey (sender_id) references app_public.user_cards (id)|@fieldName sender|@behavior -manyRelation:*:*\nSomething that happened which a user should hear about. Created by the worker, read and marked read by the recipient.';

--------------------------------------------------------------------------------------------------
-- Integrity triggers
--------------------------------------------------------------------------------------------------

-- A friend request to someone who already asked you accepts theirs instead of duplicating it.
create function app_private.tg_friendships__accept_reverse_request() returns trigger as $$
begin
  if NEW.status = 'pending' then
    delete from app_public.friendships
     where requester_id = NEW.addressee_id and addressee_id = NEW.requester_id and status = 'pending';
    if found then
      NEW.status := 'accepted';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_friendships__accept_reverse_request() is
  E'Turns a request into a friendship when the other person had already asked.';
create trigger _200_accept_reverse_request before insert on app_public.friendships
  for each row execute function app_private.tg_friendships__accept_reverse_request();

-- A reply belongs to the same post as the comment it answers.
create function app_private.tg_comments__check_parent() returns trigger as $$
begin
  if NEW.parent_comment_id is not null and not exists (
    select 1 from app_public.comments
     where id = NEW.parent_comment_id and post_id = NEW.post_id
  ) then
    raise exception 'A reply must answer a comment on the same post' using errcode = 'INVAL', detail = 'field=parent_comment_id';
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_comments__check_parent() is E'Refuses replies whose parent is on another post.';
create trigger _200_check_parent before insert or update of parent_comment_id, post_id on app_public.comments
  for each row execute function app_private.tg_comments__check_parent();

-- A share points at a post the sharer can see, and is at least as private as it
-- (public < friends < private). Security invoker on purpose: the lookup runs under the
-- sharer's row-level security, which is the visibility check (a policy on posts cannot query
-- posts without recursing).
create function app_private.tg_posts__check_share() returns trigger as $$
declare
  v_original text;
begin
  if NEW.shared_post_id is not null then
    select privacy_level into v_original from app_public.posts where id = NEW.shared_post_id;
    if not found then
      raise exception 'The post to share does not exist or you cannot see it' using errcode = 'NTFND', detail = 'field=shared_post_id';
    end if;
    if array_position(array['public', 'friends', 'private'], NEW.privacy_level)
       < array_position(array['public', 'friends', 'private'], v_original) then
      raise exception 'A share cannot be more public than the post it shares (%)', v_original
        using errcode = 'INVAL', detail = 'field=privacy_level';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_posts__check_share() is
  E'Shares only of visible posts, and no more public than their original.';
create trigger _200_check_share before insert or update of privacy_level, shared_post_id on app_public.posts
  for each row execute function app_private.tg_posts__check_share();

-- The creator of a group is its first admin.
create function app_private.tg_groups__add_creator() returns trigger as $$
begin
  insert into app_public.group_members (group_id, user_id, role, status)
  values (NEW.id, NEW.created_by, 'admin', 'active');
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_groups__add_creator() is E'Makes a group''s creator its admin.';
create trigger _500_add_creator after insert on app_public.groups
  for each row execute function app_private.tg_groups__add_creator();

-- The creator of a conversation takes part in it (as admin of a group conversation).
create function app_private.tg_conversations__add_creator() returns trigger as $$
begin
  if NEW.created_by is not null then
    insert into app_public.conversation_participants (conversation_id, user_id, role)
    values (NEW.id, NEW.created_by, case when NEW.conversation_type = 'group' then 'admin' else 'member' end);
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversations__add_creator() is E'Makes a conversation''s creator a participant.';
create trigger _500_add_creator after insert on app_public.conversations
  for each row execute function app_private.tg_conversations__add_creator();

-- Group roles: only admins change roles, nobody changes their own.
create function app_private.tg_group_members__guard_role() returns trigger as $$
declare
  v_me uuid := app_public.current_user_id();
begin
  -- the owner (worker, migrations, definer functions) is not a signed-in user
  if v_me is null or current_user not in ('anonymous', 'authenticated') then
    return NEW;
  end if;
  if NEW.role is distinct from OLD.role then
    if NEW.user_id = v_me then
      raise exception 'You cannot change your own role in a group' using errcode = 'DNIED';
    end if;
    if NEW.group_id not in (select app_hidden.admin_group_ids()) then
      raise exception 'Only group admins change roles' using errcode = 'DNIED';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_group_members__guard_role() is E'Only admins change group roles, never their own.';
create trigger _200_guard_role before update on app_public.group_members
  for each row execute function app_private.tg_group_members__guard_role();

-- Deleting an account is recorded.
create function app_private.tg_users__audit_delete() returns trigger as $$
begin
  insert into app_private.audit_log (user_id, action, details)
  values (OLD.id, 'account_deletion', jsonb_build_object('by', app_public.current_user_id()));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_users__audit_delete() is E'Records account deletions in the audit log.';
create trigger _900_audit_delete after delete on app_public.users
  for each row execute function app_private.tg_users__audit_delete();

--------------------------------------------------------------------------------------------------
-- Account internals (app_private, owner only)
--------------------------------------------------------------------------------------------------

create function app_private.hash_token(token text) returns text as $$
  select encode(digest(token, 'sha256'), 'hex');
$$ language sql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.hash_token(text) is E'SHA-256 of a token, hex: how tokens are stored.';

create function app_private.random_token() returns text as $$
  select translate(encode(gen_random_bytes(32), 'base64'), '+/=', '-_');
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.random_token() is E'256 random bits, URL-safe.';

create function app_private.assert_valid_password(password text) returns void as $$
begin
  if password is null or char_length(password) < 8 then
    raise exception 'The password must be at least 8 characters long' using errcode = 'INVAL', detail = 'field=password';
  end if;
  if octet_length(password) > 72 then
    raise exception 'The password must be at most 72 bytes long (bcrypt''s limit)' using errcode = 'INVAL', detail = 'field=password';
  end if;
end;
$$ language plpgsql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.assert_valid_password(text) is E'8 characters to 72 bytes (bcrypt reads no further).';

create function app_private.hash_password(password text, cost int) returns text as $$
  select crypt(password, gen_salt('bf', least(greatest(cost, 4), 15)));
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.hash_password(text, int) is E'bcrypt hash with the given cost (clamped to 4..15).';

create function app_private.audit(
  user_id uuid, action text, ip inet, user_agent text, details jsonb default '{}'
) returns void as $$
  insert into app_private.audit_log (user_id, action, ip, user_agent, details)
  values (user_id, action, ip, user_agent, coalesce(details, '{}'));
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.audit(uuid, text, inet, text, jsonb) is E'Appends to the audit log.';

/** Starts a session: a new token family and its first refresh token (returned in plain once). */
create function app_private.start_session(
  user_id uuid, ip inet, user_agent text, ttl interval, out session_id uuid, out refresh_token text
) as $$
begin
  session_id := gen_random_uuid();
  refresh_token := app_private.random_token();
  insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at, ip, user_agent)
  values (start_session.user_id, session_id, app_private.hash_token(refresh_token), now() + ttl, ip, user_agent);
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.start_session(uuid, inet, text, interval) is E'Opens a session (refresh token family).';

create function app_private.revoke_sessions(user_id uuid, except_session uuid default null) returns int as $$
  with revoked as (
    update app_private.refresh_tokens
       set revoked_at = now()
     where refresh_tokens.user_id = revoke_sessions.user_id
       and revoked_at is null
       and (except_session is null or family_id <> except_session)
    returning 1
  )
  select count(*)::int from revoked;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.revoke_sessions(uuid, uuid) is E'Signs a user out everywhere (optionally but for one session).';

/** Mints a one-time token for an e-mail (worker only): the plaintext goes into the message. */
create function app_private.mint_user_token(user_id uuid, kind text, ttl interval) returns text as $$
declare
  v_token text := app_private.random_token();
begin
  -- a new token replaces unused ones of the same kind
  update app_private.user_tokens set used_at = now()
   where user_tokens.user_id = mint_user_token.user_id and user_tokens.kind = mint_user_token.kind and used_at is null;
  insert into app_private.user_tokens (user_id, kind, token_hash, email, expires_at)
  select mint_user_token.user_id, mint_user_token.kind, app_private.hash_token(v_token), u.email, now() + ttl
    from app_public.users u where u.id = mint_user_token.user_id;
  if not found then
    return null;
  end if;
  return v_token;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.mint_user_token(uuid, text, interval) is
  E'Creates a password-reset or e-mail-verification token and returns it in plain (once); older unused ones of that kind stop working.';

--------------------------------------------------------------------------------------------------
-- Entry points for the auth plugin (app_hidden, security definer)
--------------------------------------------------------------------------------------------------

create type app_hidden.session as (
  outcome text,
  user_id uuid,
  session_id uuid,
  refresh_token text
);
comment on type app_hidden.session is
  E'What a sign-in function returns: `outcome` is `ok` or why not; on `ok`, the session and its refresh token (in plain, once).';

create function app_hidden.register(
  email text, password text, username text, display_name text,
  bcrypt_cost int, refresh_ttl interval, ip inet, user_agent text
) returns app_hidden.session as $$
declare
  v_email text := lower(btrim(email));
  v_user_id uuid;
  v_result app_hidden.session;
begin
  if v_email is null or v_email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' or length(v_email) > 255 then
    raise exception 'Enter a valid e-mail address' using errcode = 'INVAL', detail = 'field=email';
  end if;
  perform app_private.assert_valid_password(password);
  if username is null or username !~ '^[A-Za-z0-9_]{3,50}$' then
    raise exception 'A username is 3 to 50 letters, digits or underscores' using errcode = 'INVAL', detail = 'field=username';
  end if;
  if display_name is not null and char_length(display_name) > 100 then
    raise exception 'The display name must be at most 100 characters long' using errcode = 'INVAL', detail = 'field=display_name';
  end if;
  if exists (select 1 from app_public.users u where u.email = v_email) then
    raise exception 'An account with this e-mail address already exists' using errcode = 'CNFLT', detail = 'field=email';
  end if;
  if exists (select 1 from app_public.user_profiles p where lower(p.username) = lower(register.username)) then
    raise exception 'This username is taken' using errcode = 'CNFLT', detail = 'field=username';
  end if;

  insert into app_public.users (email, password_hash)
  values (v_email, app_private.hash_password(password, bcrypt_cost))
  returning id into v_user_id;
  insert into app_public.user_profiles (user_id, username, display_name)
  values (v_user_id, username, coalesce(nullif(btrim(display_name), ''), username));

  select 'ok', v_user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_user_id, ip, user_agent, refresh_ttl) s;
  perform app_private.audit(v_user_id, 'register', ip, user_agent);
  perform graphile_worker.add_job(
    'send_email', json_build_object('template', 'verify_email', 'user_id', v_user_id),
    job_key := 'send_email:verify_email:' || v_user_id, max_attempts := 10
  );
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.register(text, text, text, text, int, interval, inet, text) is
  E'Creates an account and its profile, signs it in, and queues the verification e-mail.';

create function app_hidden.login(
  email text, password text, bcrypt_cost int, refresh_ttl interval, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns app_hidden.session as $$
declare
  v_email text := lower(btrim(email));
  v_user app_public.users;
  v_keys text[] := array['email:' || v_email] || case when ip is null then '{}'::text[] else array['ip:' || host(ip)] end;
  v_result app_hidden.session;
begin
  if exists (
    select 1 from app_private.login_attempts
     where key = any (v_keys) and attempted_at > now() - failure_window
     group by key
    having count(*) >= case when key like 'email:%' then max_failures_per_email else max_failures_per_client end
  ) then
    perform app_private.audit(null, 'login_rate_limited', ip, user_agent, jsonb_build_object('email', v_email));
    return row('rate_limited', null, null, null)::app_hidden.session;
  end if;

  select * into v_user from app_public.users u where u.email = v_email;
  if v_user.id is null or v_user.password_hash is null
     or v_user.password_hash is distinct from crypt(password, v_user.password_hash) then
    if v_user.id is null then
      -- spend the same time as a real check, so response times do not reveal which e-mails exist
      perform app_private.hash_password(coalesce(password, ''), bcrypt_cost);
    end if;
    insert into app_private.login_attempts (key) select unnest(v_keys);
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('email', v_email));
    return row(case when v_user.id is not null and v_user.password_hash is null then 'no_password' else 'bad_credentials' end,
               null, null, null)::app_hidden.session;
  end if;
  if v_user.status <> 'active' then
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('status', v_user.status));
    return row(v_user.status, null, null, null)::app_hidden.session;
  end if;

  delete from app_private.login_attempts where key = 'email:' || v_email;
  update app_public.users
     set last_login_at = now(), login_count = coalesce(login_count, 0) + 1
   where id = v_user.id;
  select 'ok', v_user.id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_user.id, ip, user_agent, refresh_ttl) s;
  perform app_private.audit(v_user.id, 'login_success', ip, user_agent);
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.login(text, text, int, interval, inet, text, int, int, interval) is
  E'Checks e-mail and password (rate limited per e-mail and per client address), counts the login and opens a session. Never raises for a failed attempt: it returns why, so the attempt is recorded.';

create function app_hidden.refresh_session(
  refresh_token text, refresh_ttl interval, ip inet, user_agent text
) returns app_hidden.session as $$
declare
  v_token app_private.refresh_tokens;
  v_status text;
  v_next text;
begin
  select * into v_token from app_private.refresh_tokens
   where token_hash = app_private.hash_token(refresh_token)
   for update;
  if v_token.id is null or v_token.revoked_at is not null then
    return row('invalid', null, null, null)::app_hidden.session;
  end if;
  if v_token.used_at is not null then
    -- a spent token came back: someone has a copy. End the whole session.
    update app_private.refresh_tokens set revoked_at = now()
     where family_id = v_token.family_id and revoked_at is null;
    perform app_private.audit(v_token.user_id, 'refresh_token_reuse', ip, user_agent,
                              jsonb_build_object('session_id', v_token.family_id));
    return row('reused', null, null, null)::app_hidden.session;
  end if;
  if v_token.expires_at <= now() then
    return row('expired', null, null, null)::app_hidden.session;
  end if;
  select status into v_status from app_public.users where id = v_token.user_id;
  if v_status is distinct from 'active' then
    perform app_private.revoke_sessions(v_token.user_id);
    return row(coalesce(v_status, 'deleted'), null, null, null)::app_hidden.session;
  end if;

  update app_private.refresh_tokens set used_at = now() where id = v_token.id;
  v_next := app_private.random_token();
  insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at, ip, user_agent)
  values (v_token.user_id, v_token.family_id, app_private.hash_token(v_next), now() + refresh_ttl, ip, user_agent);
  return row('ok', v_token.user_id, v_token.family_id, v_next)::app_hidden.session;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.refresh_session(text, interval, inet, text) is
  E'Exchanges a refresh token for the next one in its family (single use; reuse revokes the family).';

create function app_hidden.logout(refresh_token text, ip inet, user_agent text) returns boolean as $$
declare
  v_token app_private.refresh_tokens;
begin
  select * into v_token from app_private.refresh_tokens
   where token_hash = app_private.hash_token(refresh_token);
  if v_token.id is null then
    return false;
  end if;
  update app_private.refresh_tokens set revoked_at = now()
   where family_id = v_token.family_id and revoked_at is null;
  perform app_private.audit(v_token.user_id, 'logout', ip, user_agent, jsonb_build_object('session_id', v_token.family_id));
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.logout(text, inet, text) is E'Ends the session the refresh token belongs to.';

create function app_hidden.logout_everywhere(ip inet, user_agent text) returns int as $$
declare
  v_me uuid := app_public.current_user_id();
  v_count int;
begin
  if v_me is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  v_count := app_private.revoke_sessions(v_me);
  perform app_private.audit(v_me, 'logout_everywhere', ip, user_agent, jsonb_build_object('sessions', v_count));
  return v_count;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.logout_everywhere(inet, text) is E'Ends every session of the current user.';

create function app_hidden.change_password(
  old_password text, new_password text, bcrypt_cost int, ip inet, user_agent text
) returns text as $$
declare
  v_me uuid := app_public.current_user_id();
  v_hash text;
begin
  if v_me is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  perform app_private.assert_valid_password(new_password);
  select password_hash into v_hash from app_public.users where id = v_me;
  if v_hash is not null and v_hash is distinct from crypt(old_password, v_hash) then
    return 'bad_password';
  end if;
  update app_public.users set password_hash = app_private.hash_password(new_password, bcrypt_cost) where id = v_me;
  perform app_private.revoke_sessions(v_me, nullif(pg_catalog.current_setting('jwt.claims.session_id', true), '')::uuid);
  perform app_private.audit(v_me, 'password_change', ip, user_agent);
  return 'ok';
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.change_password(text, text, int, inet, text) is
  E'Changes the current user''s password after checking the old one, and signs out their other sessions.';

create function app_hidden.request_password_reset(email text) returns void as $$
declare
  v_user_id uuid;
begin
  select id into v_user_id from app_public.users u
   where u.email = lower(btrim(request_password_reset.email)) and u.status = 'active';
  -- at most one reset e-mail a minute per account; the answer is the same either way
  if v_user_id is not null and not exists (
    select 1 from app_private.user_tokens
     where user_id = v_user_id and kind = 'password_reset' and created_at > now() - interval '1 minute'
  ) then
    perform graphile_worker.add_job(
      'send_email', json_build_object('template', 'password_reset', 'user_id', v_user_id),
      job_key := 'send_email:password_reset:' || v_user_id, max_attempts := 10
    );
  end if;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.request_password_reset(text) is
  E'Queues a password-reset e-mail if the address belongs to an active account; says nothing either way.';

create function app_hidden.reset_password(
  token text, new_password text, bcrypt_cost int, ip inet, user_agent text
) returns text as $$
declare
  v_token app_private.user_tokens;
begin
  perform app_private.assert_valid_password(new_password);
  select * into v_token from app_private.user_tokens
   where token_hash = app_private.hash_token(token) and kind = 'password_reset'
   for update;
  if v_token.id is null or v_token.used_at is not null or v_token.expires_at <= now() then
    return 'invalid';
  end if;
  update app_private.user_tokens set used_at = now() where id = v_token.id;
  update app_public.users set password_hash = app_private.hash_password(new_password, bcrypt_cost)
   where id = v_token.user_id;
  perform app_private.revoke_sessions(v_token.user_id);
  delete from app_private.login_attempts
   where key = 'email:' || (select email from app_public.users where id = v_token.user_id);
  perform app_private.audit(v_token.user_id, 'password_reset', ip, user_agent);
  return 'ok';
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.reset_password(text, text, int, inet, text) is
  E'Sets a new password with a reset token (single use, expiring) and signs out every session.';

create function app_hidden.request_email_verification() returns boolean as $$
declare
  v_me uuid := app_public.current_user_id();
begin
  if v_me is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  if exists (select 1 from app_public.users where id = v_me and email_verified) then
    return false;
  end if;
  if not exists (
    select 1 from app_private.user_tokens
     where user_id = v_me and kind = 'email_verification' and created_at > now() - interval '1 minute'
  ) then
    perform graphile_worker.add_job(
      'send_email', json_build_object('template', 'verify_email', 'user_id', v_me),
      job_key := 'send_email:verify_email:' || v_me, max_attempts := 10
    );
  end if;
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.request_email_verification() is
  E'Queues a verification e-mail for the current user (at most one a minute); false if already verified.';

create function app_hidden.verify_email(token text, ip inet, user_agent text) returns text as $$
declare
  v_token app_private.user_tokens;
begin
  select * into v_token from app_private.user_tokens
   where token_hash = app_private.hash_token(token) and kind = 'email_verification'
   for update;
  if v_token.id is null or v_token.used_at is not null or v_token.expires_at <= now() then
    return 'invalid';
  end if;
  update app_private.user_tokens set used_at = now() where id = v_token.id;
  -- the token proves the address it was sent to, not one changed since
  update app_public.users set email_verified = true where id = v_token.user_id and email = v_token.email;
  if not found then
    return 'invalid';
  end if;
  perform app_private.audit(v_token.user_id, 'email_verification', ip, user_agent);
  return 'ok';
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.verify_email(text, inet, text) is
  E'Marks the account''s e-mail verified with a verification token (single use, expiring).';

create function app_public.current_person() returns app_public.user_cards as $$
  select * from app_public.user_cards where id = app_public.current_user_id();
$$ language sql stable;
comment on function app_public.current_person() is
  E'@name currentUser\nThe signed-in user, or null when the request carries no valid token. Their `account` holds e-mail and sign-in details.';
