--! Previous: sha1:2bd84c7b2bcd4ba83a4446ca94eceba35b4673fb
--! Hash: sha1:eb49a98182036b4f1bdaf6557ddef3cf6a618414

/*
 * 0003 — the social API: the operations a client calls, as SQL functions in app_public.
 *
 * PostGraphile exposes every function here: `volatile` ones as mutations (arguments in an
 * `input` object, the result in a payload), `stable` ones as queries, and `<table>_<name>(row)`
 * ones as computed fields of that table's type. They run as the caller (row-level security
 * applies); the few that must touch rows the caller may not (blocking removes the other side's
 * follow; a direct conversation adds the other person) are `security definer` and check
 * everything they rely on. Refusals use the error codes in docs/error_codes.md.
 *
 * Connections with a fixed order and keyset pagination (home feed, comments, messages, ...)
 * are TypeScript plugins in plugins/: a function returning `setof` paginates by offset.
 */

create extension if not exists pg_trgm with schema public;

--------------------------------------------------------------------------------------------------
-- Types
--------------------------------------------------------------------------------------------------

create type app_public.friendship_status as enum ('NONE', 'REQUEST_SENT', 'REQUEST_RECEIVED', 'FRIENDS', 'BLOCKED');
comment on type app_public.friendship_status is E'How the viewer stands with another user.';

create type app_public.rsvp_status as enum ('GOING', 'MAYBE', 'NOT_GOING');
comment on type app_public.rsvp_status is E'An answer to an event.';

create type app_public.media_item as (
  media_type     text,
  media_url      text,
  thumbnail_url  text,
  file_size      bigint,
  duration       integer,
  width          integer,
  height         integer,
  alt_text       text
);
comment on type app_public.media_item is E'An image, video or audio file to attach to a new post.';
comment on column app_public.media_item.media_type is E'`image`, `video` or `audio`.';
comment on column app_public.media_item.media_url is E'Where the file is (http or https).';

--------------------------------------------------------------------------------------------------
-- Schema additions
--------------------------------------------------------------------------------------------------

-- One direct conversation per pair of users.
create table app_private.direct_conversations (
  user_low         uuid not null,
  user_high        uuid not null,
  conversation_id  uuid not null unique
                   constraint fk_direct_conversations_conversation_id references app_public.conversations (id) on delete cascade,
  primary key (user_low, user_high),
  constraint ck_direct_conversations_user_high check (user_low < user_high)
);
comment on table app_private.direct_conversations is
  E'The direct conversation of each pair of users (ids in order): at most one per pair.';

-- When an event is full, people may wait for a place.
create table app_public.event_waitlist (
  id          uuid primary key default gen_random_uuid(),
  event_id    uuid not null
              constraint fk_event_waitlist_event_id references app_public.events (id) on delete cascade,
  user_id     uuid not null
              constraint fk_event_waitlist_user_id references app_public.users (id) on delete cascade,
  created_at  timestamptz not null default now(),
  unique (event_id, user_id)
);
create index idx_event_waitlist_event_id on app_public.event_waitlist (event_id, created_at);
create index idx_event_waitlist_user_id on app_public.event_waitlist (user_id);
comment on table app_public.event_waitlist is
  E'@foreignKey (user_id) references app_public.user_cards (id)|@fieldName user|@behavior -manyRelation:*:*\nPeople waiting for a place at a full event, first come first served: when a place frees, the first is made `going` at once.';
comment on constraint fk_event_waitlist_user_id on app_public.event_waitlist is E'@behavior -*';
comment on constraint fk_event_waitlist_event_id on app_public.event_waitlist is E'@foreignFieldName waitlist';

-- Indexes for the reads the API makes: feeds and lists newest (or oldest) first, with the
-- primary key as tie-breaker for keyset pagination.
create index idx_posts_created_at_id on app_public.posts (created_at desc, id desc) where deleted_at is null;
create index idx_posts_author_id_created_at on app_public.posts (author_id, created_at desc, id desc) where deleted_at is null;
create index idx_posts_group_id_created_at on app_public.posts (group_id, created_at desc, id desc) where deleted_at is null;
create index idx_posts_search on app_public.posts using gin (to_tsvector('simple', content)) where deleted_at is null;
create index idx_comments_post_id_created_at on app_public.comments (post_id, created_at, id) where parent_comment_id is null;
create index idx_comments_parent_comment_id_created_at on app_public.comments (parent_comment_id, created_at, id);
create index idx_messages_conversation_id_created_at on app_public.messages (conversation_id, created_at desc, id desc);
create index idx_notifications_recipient_id_created_at on app_public.notifications (recipient_id, created_at desc, id desc);
create index idx_notifications_unread on app_public.notifications (recipient_id) where not is_read;
create index idx_event_attendees_event_id_status on app_public.event_attendees (event_id, status);
create index idx_events_start_date_id on app_public.events (start_date, id) where not is_cancelled;
create index idx_user_profiles_username_trgm on app_public.user_profiles using gin (lower(username) gin_trgm_ops);
create index idx_user_profiles_display_name_trgm on app_public.user_profiles using gin (lower(display_name) gin_trgm_ops);
create index idx_groups_name_trgm on app_public.groups using gin (lower(name) gin_trgm_ops);
create index idx_groups_search on app_public.groups using gin (
  to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(description, '') || ' ' || coalesce(category, '') || ' ' || coalesce(location, ''))
);

-- API shape: media of a post are `Post.media`; the lists a client pages through newest (or
-- oldest) first are plugin connections (plugins/), so the generated ones are left out.
comment on constraint fk_post_media_post_id on app_public.post_media is E'@behavior -manyRelation:*:*';
comment on constraint fk_posts_group_id on app_public.posts is E'@behavior -manyRelation:*:*';
comment on constraint fk_comments_post_id on app_public.comments is E'@behavior -manyRelation:*:*';
comment on constraint fk_comments_parent_comment_id on app_public.comments is E'@behavior -manyRelation:*:*';
comment on constraint fk_messages_conversation_id on app_public.messages is E'@behavior -manyRelation:*:*';
-- Where an operation below replaces a generated mutation (deletePost soft-deletes; the others
-- check more), the generated one is left out.
comment on table app_public.posts is
  E'@behavior -delete\n@foreignKey (author_id) references app_public.user_cards (id)|@fieldName author|@behavior -manyRelation:*:*\nSomething a user published: on their timeline or, with `group_id`, in a group; with `shared_post_id`, a share of another post.';
comment on table app_public.comments is
  E'@behavior -delete\n@foreignKey (author_id) references app_public.user_cards (id)|@fieldName author|@behavior -manyRelation:*:*\nA comment on a post, or with `parent_comment_id` a reply to a comment.';
comment on table app_public.groups is
  E'@behavior -insert\n@foreignKey (created_by) references app_public.user_cards (id)|@fieldName creator|@behavior -manyRelation:*:*\nA community users join to post and organise events together.';
comment on table app_public.events is
  E'@behavior -insert -update\n@foreignKey (created_by) references app_public.user_cards (id)|@fieldName creator|@behavior -manyRelation:*:*\nSomething happening at a time, online or at a place, optionally organised in a group.';

--------------------------------------------------------------------------------------------------
-- Small helpers
--------------------------------------------------------------------------------------------------

create function app_hidden.blocker_ids() returns setof uuid as $$
  select requester_id from app_public.friendships
   where addressee_id = app_public.current_user_id() and status = 'blocked';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocker_ids() is E'Users who blocked the current user.';

-- You still see the card (name, picture) of someone you blocked, to manage your blocks; they
-- do not see yours, and neither sees the other's profile, posts or anything else.
create or replace view app_public.user_cards as
  select p.user_id as id, p.username, p.display_name, p.avatar_url, p.is_verified
    from app_public.user_profiles p
   where (app_public.current_user_id() is not null
          and p.user_id not in (select app_hidden.blocker_ids()))
      or (app_public.current_user_id() is null and p.privacy_level = 'public');

create function app_hidden.require_user() returns uuid as $$
declare
  v_me uuid := app_public.current_user_id();
begin
  if v_me is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  return v_me;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_user() is E'The current user''s id, or UNAUTHENTICATED.';

/** Whether the current user can see the person (their card): not blocked, not missing. */
create function app_hidden.can_see_user(user_id uuid) returns boolean as $$
  select exists (select 1 from app_public.user_cards c where c.id = can_see_user.user_id);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.can_see_user(uuid) is E'Whether the current user can see this person.';

create function app_hidden.require_other_user(user_id uuid) returns uuid as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if user_id is null or not app_hidden.can_see_user(user_id) then
    raise exception 'No such user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  if user_id = v_me then
    raise exception 'You cannot do that to yourself' using errcode = 'INVAL', detail = 'field=user_id';
  end if;
  return v_me;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_other_user(uuid) is
  E'The current user''s id, after checking the other user exists, is visible, and is someone else.';

create function app_hidden.require_unblocked_user(user_id uuid) returns uuid as $$
declare
  v_me uuid := app_hidden.require_other_user(user_id);
begin
  if app_hidden.is_blocked(v_me, user_id) then
    raise exception 'You blocked this user; unblock them first' using errcode = 'DNIED', detail = 'field=user_id';
  end if;
  return v_me;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_unblocked_user(uuid) is
  E'As require_other_user, and refuses someone the current user blocked.';

--------------------------------------------------------------------------------------------------
-- Friends
--------------------------------------------------------------------------------------------------

create function app_public.send_friend_request(user_id uuid) returns app_public.friendships as $$
declare
  v_me uuid := app_hidden.require_unblocked_user(user_id);
  v_row app_public.friendships;
begin
  select * into v_row from app_public.friendships f
   where status <> 'blocked'
     and ((f.requester_id = v_me and f.addressee_id = send_friend_request.user_id)
       or (f.requester_id = send_friend_request.user_id and f.addressee_id = v_me));
  if v_row.id is null then
    -- (a request they sent meanwhile is accepted instead, by the trigger on insert)
    insert into app_public.friendships (requester_id, addressee_id, status)
    values (v_me, send_friend_request.user_id, 'pending')
    returning * into v_row;
  elsif v_row.status = 'pending' and v_row.addressee_id = v_me then
    update app_public.friendships set status = 'accepted' where id = v_row.id returning * into v_row;
  end if;
  return v_row;
exception when unique_violation then
  -- the other person asked at the same moment: their request is there now; accept it
  update app_public.friendships set status = 'accepted'
   where requester_id = send_friend_request.user_id and addressee_id = v_me and status = 'pending'
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.send_friend_request(uuid) is
  E'Ask someone to be your friend. Sending again changes nothing; if they already asked you, this accepts their request.';

create function app_public.accept_friend_request(user_id uuid) returns app_public.friendships as $$
declare
  v_me uuid := app_hidden.require_other_user(user_id);
  v_row app_public.friendships;
begin
  update app_public.friendships f set status = 'accepted'
   where f.requester_id = accept_friend_request.user_id and f.addressee_id = v_me and f.status = 'pending'
  returning * into v_row;
  if v_row.id is null then
    select * into v_row from app_public.friendships f
     where f.status = 'accepted'
       and ((f.requester_id = v_me and f.addressee_id = accept_friend_request.user_id)
         or (f.requester_id = accept_friend_request.user_id and f.addressee_id = v_me));
    if v_row.id is null then
      raise exception 'There is no friend request from this user' using errcode = 'NTFND', detail = 'field=user_id';
    end if;
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.accept_friend_request(uuid) is
  E'Accept the friend request this user sent you. Accepting again changes nothing.';

create function app_public.decline_friend_request(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_other_user(user_id);
begin
  delete from app_public.friendships f
   where f.requester_id = decline_friend_request.user_id and f.addressee_id = v_me and f.status = 'pending';
  if not found then
    raise exception 'There is no friend request from this user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.decline_friend_request(uuid) is E'@resultFieldName success\nDecline the friend request this user sent you.';

create function app_public.cancel_friend_request(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_other_user(user_id);
begin
  delete from app_public.friendships f
   where f.requester_id = v_me and f.addressee_id = cancel_friend_request.user_id and f.status = 'pending';
  if not found then
    raise exception 'You have no pending request to this user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.cancel_friend_request(uuid) is E'@resultFieldName success\nWithdraw a friend request you sent.';

create function app_public.remove_friend(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_other_user(user_id);
begin
  delete from app_public.friendships f
   where f.status = 'accepted'
     and ((f.requester_id = v_me and f.addressee_id = remove_friend.user_id)
       or (f.requester_id = remove_friend.user_id and f.addressee_id = v_me));
  if not found then
    raise exception 'You are not friends with this user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.remove_friend(uuid) is E'@resultFieldName success\nEnd a friendship.';

create function app_public.block_user(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if user_id is null or not exists (select 1 from app_public.users u where u.id = block_user.user_id) then
    raise exception 'No such user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  if user_id = v_me then
    raise exception 'You cannot block yourself' using errcode = 'INVAL', detail = 'field=user_id';
  end if;
  -- a block ends any friendship or request, and follows both ways
  delete from app_public.friendships f
   where f.status <> 'blocked'
     and ((f.requester_id = v_me and f.addressee_id = block_user.user_id)
       or (f.requester_id = block_user.user_id and f.addressee_id = v_me));
  delete from app_public.followers f
   where (f.follower_id = v_me and f.following_id = block_user.user_id)
      or (f.follower_id = block_user.user_id and f.following_id = v_me);
  insert into app_public.friendships (requester_id, addressee_id, status)
  values (v_me, block_user.user_id, 'blocked')
  on conflict (requester_id, addressee_id) do update set status = 'blocked';
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.block_user(uuid) is
  E'@resultFieldName success\nBlock someone: you stop seeing each other anywhere, and any friendship, request or follow between you ends. Blocking again changes nothing.';

create function app_public.unblock_user(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  delete from app_public.friendships f
   where f.requester_id = v_me and f.addressee_id = unblock_user.user_id and f.status = 'blocked';
  return found;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.unblock_user(uuid) is
  E'@resultFieldName success\nLift a block you placed (false if there was none). Friendships and follows do not come back.';

create function app_public.user_cards_friendship_status(u app_public.user_cards) returns app_public.friendship_status as $$
  select case
    when app_public.current_user_id() is null or u.id = app_public.current_user_id() then 'NONE'
    else coalesce((
      select case
               when f.status = 'blocked' then 'BLOCKED'
               when f.status = 'accepted' then 'FRIENDS'
               when f.requester_id = app_public.current_user_id() then 'REQUEST_SENT'
               else 'REQUEST_RECEIVED'
             end
        from app_public.friendships f
       where (f.requester_id = app_public.current_user_id() and f.addressee_id = u.id)
          or (f.requester_id = u.id and f.addressee_id = app_public.current_user_id())
       order by f.status = 'blocked' desc
       limit 1
    ), 'NONE')
  end::app_public.friendship_status;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_friendship_status(app_public.user_cards) is
  E'How you stand with this user: NONE, REQUEST_SENT, REQUEST_RECEIVED, FRIENDS or BLOCKED (by you).';

create function app_public.user_cards_friends(u app_public.user_cards) returns setof app_public.user_cards as $$
  select c.*
    from app_public.user_cards c
   where c.id in (
           select case when f.requester_id = u.id then f.addressee_id else f.requester_id end
             from app_public.friendships f
            where f.status = 'accepted' and (f.requester_id = u.id or f.addressee_id = u.id))
     -- a friend list is seen by its owner and by whoever may see their profile (the profile
     -- policies, spelled out: this function reads as the owner)
     and (u.id = app_public.current_user_id()
          or exists (select 1 from app_public.user_profiles p
                      where p.user_id = u.id
                        and (p.privacy_level = 'public'
                             or (p.privacy_level = 'friends'
                                 and app_hidden.is_friend(u.id, app_public.current_user_id())))))
   order by c.username;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_friends(app_public.user_cards) is
  E'This user''s friends, by username. Visible to them and to whoever may see their profile.';

create function app_public.user_cards_friend_count(u app_public.user_cards) returns integer as $$
  select count(*)::int from app_public.friendships f
   where f.status = 'accepted' and (f.requester_id = u.id or f.addressee_id = u.id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_friend_count(app_public.user_cards) is E'How many friends this user has.';

create function app_public.pending_friend_requests() returns setof app_public.friendships as $$
  select * from app_public.friendships f
   where f.addressee_id = app_public.current_user_id() and f.status = 'pending'
   order by f.created_at desc, f.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.pending_friend_requests() is E'Friend requests waiting for your answer, newest first.';

--------------------------------------------------------------------------------------------------
-- Follows
--------------------------------------------------------------------------------------------------

create function app_public.follow_user(user_id uuid) returns app_public.followers as $$
declare
  v_me uuid := app_hidden.require_unblocked_user(user_id);
  v_row app_public.followers;
begin
  insert into app_public.followers (follower_id, following_id)
  values (v_me, follow_user.user_id)
  on conflict (follower_id, following_id) do nothing
  returning * into v_row;
  if v_row.id is null then
    select * into v_row from app_public.followers f
     where f.follower_id = v_me and f.following_id = follow_user.user_id;
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.follow_user(uuid) is E'Follow someone. Following again changes nothing.';

create function app_public.unfollow_user(user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  delete from app_public.followers f where f.follower_id = v_me and f.following_id = unfollow_user.user_id;
  return found;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.unfollow_user(uuid) is E'@resultFieldName success\nStop following someone (false if you were not).';

create function app_public.user_cards_followers(u app_public.user_cards) returns setof app_public.user_cards as $$
  select c.* from app_public.followers f
    join app_public.user_cards c on c.id = f.follower_id
   where f.following_id = u.id
   order by f.created_at desc, f.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_followers(app_public.user_cards) is E'Who follows this user, latest first.';

create function app_public.user_cards_following(u app_public.user_cards) returns setof app_public.user_cards as $$
  select c.* from app_public.followers f
    join app_public.user_cards c on c.id = f.following_id
   where f.follower_id = u.id
   order by f.created_at desc, f.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_following(app_public.user_cards) is E'Whom this user follows, latest first.';

create function app_public.user_cards_follower_count(u app_public.user_cards) returns integer as $$
  select count(*)::int from app_public.followers f where f.following_id = u.id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_follower_count(app_public.user_cards) is E'How many people follow this user.';

create function app_public.user_cards_following_count(u app_public.user_cards) returns integer as $$
  select count(*)::int from app_public.followers f where f.follower_id = u.id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_following_count(app_public.user_cards) is E'How many people this user follows.';

create function app_public.user_cards_viewer_is_following(u app_public.user_cards) returns boolean as $$
  select exists (
    select 1 from app_public.followers f
     where f.follower_id = app_public.current_user_id() and f.following_id = u.id
  );
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_viewer_is_following(app_public.user_cards) is E'Whether you follow this user.';

--------------------------------------------------------------------------------------------------
-- Posts
--------------------------------------------------------------------------------------------------

create function app_public.publish_post(
  content text,
  post_type text default null,
  privacy_level text default 'public',
  location text default null,
  group_id uuid default null,
  media app_public.media_item[] default '{}'
) returns app_public.posts as $$
declare
  v_me uuid := app_hidden.require_user();
  v_media app_public.media_item[] := coalesce(media, '{}');
  v_post app_public.posts;
  v_item app_public.media_item;
  v_index int := 0;
begin
  if coalesce(btrim(content), '') = '' and cardinality(v_media) = 0 then
    raise exception 'A post needs some text or at least one media file' using errcode = 'INVAL', detail = 'field=content';
  end if;
  if char_length(content) > 10000 then
    raise exception 'A post is at most 10000 characters long' using errcode = 'INVAL', detail = 'field=content';
  end if;
  if cardinality(v_media) > 10 then
    raise exception 'A post has at most 10 media files' using errcode = 'INVAL', detail = 'field=media';
  end if;
  if publish_post.group_id is not null
     and publish_post.group_id not in (select app_hidden.active_group_ids()) then
    raise exception 'You can only post in groups you are an active member of' using errcode = 'DNIED', detail = 'field=group_id';
  end if;

  insert into app_public.posts (author_id, content, post_type, privacy_level, location, group_id)
  values (
    v_me,
    coalesce(content, ''),
    coalesce(post_type, case
      when exists (select 1 from unnest(v_media) m where m.media_type = 'video') then 'video'
      when cardinality(v_media) > 0 then 'image'
      else 'text' end),
    coalesce(privacy_level, 'public'),
    location,
    publish_post.group_id
  )
  returning * into v_post;

  foreach v_item in array v_media loop
    insert into app_public.post_media
      (post_id, media_type, media_url, thumbnail_url, file_size, duration, width, height, alt_text, order_index)
    values
      (v_post.id, v_item.media_type, v_item.media_url, v_item.thumbnail_url, v_item.file_size,
       v_item.duration, v_item.width, v_item.height, v_item.alt_text, v_index);
    v_index := v_index + 1;
  end loop;
  return v_post;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.publish_post(text, text, text, text, uuid, app_public.media_item[]) is
  E'Publish a post (text and/or up to 10 media files, kept in the given order), on your timeline or in a group you belong to. postType defaults to what the media say.';

create function app_hidden.own_post(post_id uuid) returns app_public.posts as $$
declare
  v_post app_public.posts;
begin
  select * into v_post from app_public.posts p where p.id = own_post.post_id;
  if v_post.id is null then
    raise exception 'No such post' using errcode = 'NTFND', detail = 'field=post_id';
  end if;
  if v_post.author_id is distinct from app_public.current_user_id() then
    raise exception 'Only the author may do that' using errcode = 'DNIED';
  end if;
  return v_post;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.own_post(uuid) is E'The post, if the current user can see it and wrote it.';

create function app_public.edit_post(
  post_id uuid, content text default null, privacy_level text default null, location text default null
) returns app_public.posts as $$
declare
  v_post app_public.posts := app_hidden.own_post(post_id);
begin
  if content is not null and btrim(content) = '' and not exists (select 1 from app_public.post_media m where m.post_id = v_post.id) then
    raise exception 'A post needs some text or at least one media file' using errcode = 'INVAL', detail = 'field=content';
  end if;
  update app_public.posts p
     set content = coalesce(edit_post.content, p.content),
         privacy_level = coalesce(edit_post.privacy_level, p.privacy_level),
         location = coalesce(edit_post.location, p.location),
         is_edited = true,
         edited_at = now()
   where p.id = v_post.id
  returning * into v_post;
  return v_post;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.edit_post(uuid, text, text, text) is
  E'Change your post''s text, privacy or location (what you leave out stays); it is marked edited.';

create function app_hidden.soft_delete_post(post_id uuid) returns void as $$
declare
  v_me uuid := app_hidden.require_user();
  v_post app_public.posts;
begin
  select * into v_post from app_public.posts p where p.id = soft_delete_post.post_id and p.deleted_at is null;
  if v_post.author_id is distinct from v_me and (v_post.group_id is null or v_post.group_id not in (
    select group_id from app_public.group_members
     where user_id = v_me and status = 'active' and role in ('admin', 'moderator'))) then
    raise exception 'Only the author or the group''s admins and moderators may delete this post' using errcode = 'DNIED';
  end if;
  update app_public.posts p set deleted_at = now() where p.id = v_post.id;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.soft_delete_post(uuid) is
  E'Marks a post deleted, if the current user wrote it or moderates its group (authors may not update deleted_at themselves).';

create function app_public.delete_post(post_id uuid) returns boolean as $$
begin
  perform app_hidden.require_user();
  -- visibility under the caller''s own row-level security: an invisible post does not exist
  if not exists (select 1 from app_public.posts p where p.id = delete_post.post_id) then
    raise exception 'No such post' using errcode = 'NTFND', detail = 'field=post_id';
  end if;
  perform app_hidden.soft_delete_post(post_id);
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.delete_post(uuid) is
  E'@resultFieldName success\nDelete a post (yours, or in a group you moderate). It disappears at once and is purged later.';

create function app_public.share_post(
  post_id uuid, content text default '', privacy_level text default 'public'
) returns app_public.posts as $$
declare
  v_me uuid := app_hidden.require_user();
  v_post app_public.posts;
begin
  if char_length(content) > 10000 then
    raise exception 'A post is at most 10000 characters long' using errcode = 'INVAL', detail = 'field=content';
  end if;
  -- visibility and privacy of the shared post are checked by the trigger tg_posts__check_share
  insert into app_public.posts (author_id, content, post_type, privacy_level, shared_post_id)
  values (v_me, coalesce(content, ''), 'text', coalesce(privacy_level, 'public'), share_post.post_id)
  returning * into v_post;
  return v_post;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.share_post(uuid, text, text) is
  E'Share a post you can see, with your own words. A share is never more public than the post it shares.';

create function app_public.posts_media(p app_public.posts) returns setof app_public.post_media as $$
  select m.* from app_public.post_media m where m.post_id = p.id order by m.order_index, m.id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_media(app_public.posts) is E'The post''s media files, in their order.';

create function app_public.posts_viewer_has_liked(p app_public.posts) returns boolean as $$
  select exists (
    select 1 from app_public.likes l
     where l.user_id = app_public.current_user_id() and l.target_type = 'post' and l.target_id = p.id
  );
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_viewer_has_liked(app_public.posts) is E'Whether you like this post.';

create function app_public.posts_likers(p app_public.posts) returns setof app_public.user_cards as $$
  select c.* from app_public.likes l
    join app_public.user_cards c on c.id = l.user_id
   where l.target_type = 'post' and l.target_id = p.id
   order by l.created_at desc, l.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_likers(app_public.posts) is E'Who likes this post, latest first.';

--------------------------------------------------------------------------------------------------
-- Comments (replies nest one level: a reply to a reply answers the top comment)
--------------------------------------------------------------------------------------------------

create function app_public.add_comment(post_id uuid, content text, parent_comment_id uuid default null)
returns app_public.comments as $$
declare
  v_me uuid := app_hidden.require_user();
  v_parent app_public.comments;
  v_row app_public.comments;
begin
  if coalesce(btrim(content), '') = '' then
    raise exception 'A comment needs some text' using errcode = 'INVAL', detail = 'field=content';
  end if;
  if char_length(content) > 5000 then
    raise exception 'A comment is at most 5000 characters long' using errcode = 'INVAL', detail = 'field=content';
  end if;
  if not exists (select 1 from app_public.posts p where p.id = add_comment.post_id) then
    raise exception 'No such post' using errcode = 'NTFND', detail = 'field=post_id';
  end if;
  if parent_comment_id is not null then
    select * into v_parent from app_public.comments c where c.id = add_comment.parent_comment_id;
    if v_parent.id is null or v_parent.post_id <> add_comment.post_id then
      raise exception 'The comment to reply to is not on this post' using errcode = 'INVAL', detail = 'field=parent_comment_id';
    end if;
  end if;
  insert into app_public.comments (post_id, author_id, parent_comment_id, content)
  values (post_id, v_me, coalesce(v_parent.parent_comment_id, v_parent.id), content)
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.add_comment(uuid, text, uuid) is
  E'Comment on a post you can see, or reply to a comment on it (parentCommentId). Replies are one level deep: replying to a reply answers its top comment.';

create function app_public.edit_comment(comment_id uuid, content text) returns app_public.comments as $$
declare
  v_row app_public.comments;
begin
  perform app_hidden.require_user();
  select * into v_row from app_public.comments c where c.id = edit_comment.comment_id;
  if v_row.id is null then
    raise exception 'No such comment' using errcode = 'NTFND', detail = 'field=comment_id';
  end if;
  if v_row.author_id <> app_public.current_user_id() then
    raise exception 'Only the author may edit a comment' using errcode = 'DNIED';
  end if;
  if coalesce(btrim(content), '') = '' then
    raise exception 'A comment needs some text' using errcode = 'INVAL', detail = 'field=content';
  end if;
  update app_public.comments c set content = edit_comment.content, is_edited = true, edited_at = now()
   where c.id = v_row.id
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.edit_comment(uuid, text) is E'Change the text of your comment; it is marked edited.';

create function app_public.delete_comment(comment_id uuid) returns boolean as $$
begin
  perform app_hidden.require_user();
  if not exists (select 1 from app_public.comments c where c.id = delete_comment.comment_id) then
    raise exception 'No such comment' using errcode = 'NTFND', detail = 'field=comment_id';
  end if;
  delete from app_public.comments c where c.id = delete_comment.comment_id;
  if not found then
    raise exception 'Only the author, or the author of the post, may delete a comment' using errcode = 'DNIED';
  end if;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.delete_comment(uuid) is
  E'@resultFieldName success\nDelete a comment (yours, or one on your post) with its replies.';

create function app_public.comments_viewer_has_liked(c app_public.comments) returns boolean as $$
  select exists (
    select 1 from app_public.likes l
     where l.user_id = app_public.current_user_id() and l.target_type = 'comment' and l.target_id = c.id
  );
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.comments_viewer_has_liked(app_public.comments) is E'Whether you like this comment.';

--------------------------------------------------------------------------------------------------
-- Likes
--------------------------------------------------------------------------------------------------

create function app_hidden.like_target(target_type text, target_id uuid, liked boolean) returns void as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if target_type = 'post' and not exists (select 1 from app_public.posts p where p.id = target_id) then
    raise exception 'No such post' using errcode = 'NTFND', detail = 'field=post_id';
  end if;
  if target_type = 'comment' and not exists (select 1 from app_public.comments c where c.id = target_id) then
    raise exception 'No such comment' using errcode = 'NTFND', detail = 'field=comment_id';
  end if;
  if liked then
    insert into app_public.likes (user_id, target_type, target_id)
    values (v_me, like_target.target_type, like_target.target_id)
    on conflict on constraint likes_user_id_target_type_target_id_key do nothing;
  else
    delete from app_public.likes l
     where l.user_id = v_me and l.target_type = like_target.target_type and l.target_id = like_target.target_id;
  end if;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.like_target(text, uuid, boolean) is E'Likes or unlikes a visible post or comment, idempotently.';

create function app_public.like_post(post_id uuid) returns app_public.posts as $$
  select app_hidden.like_target('post', post_id, true);
  select * from app_public.posts p where p.id = like_post.post_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.like_post(uuid) is E'Like a post you can see. Liking again changes nothing.';

create function app_public.unlike_post(post_id uuid) returns app_public.posts as $$
  select app_hidden.like_target('post', post_id, false);
  select * from app_public.posts p where p.id = unlike_post.post_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.unlike_post(uuid) is E'Take back your like of a post. Unliking again changes nothing.';

create function app_public.like_comment(comment_id uuid) returns app_public.comments as $$
  select app_hidden.like_target('comment', comment_id, true);
  select * from app_public.comments c where c.id = like_comment.comment_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.like_comment(uuid) is E'Like a comment you can see. Liking again changes nothing.';

create function app_public.unlike_comment(comment_id uuid) returns app_public.comments as $$
  select app_hidden.like_target('comment', comment_id, false);
  select * from app_public.comments c where c.id = unlike_comment.comment_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.unlike_comment(uuid) is E'Take back your like of a comment. Unliking again changes nothing.';

--------------------------------------------------------------------------------------------------
-- Messaging
--------------------------------------------------------------------------------------------------

-- Sending a message moves its conversation up everyone's list.
create function app_private.tg_messages__touch_conversation() returns trigger as $$
begin
  update app_public.conversations set last_message_at = NEW.created_at
   where id = NEW.conversation_id and (last_message_at is null or last_message_at < NEW.created_at);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__touch_conversation() is E'Keeps conversations.last_message_at current.';
create trigger _500_touch_conversation after insert on app_public.messages
  for each row execute function app_private.tg_messages__touch_conversation();

create function app_public.start_direct_conversation(user_id uuid) returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_unblocked_user(user_id);
  v_low uuid := least(v_me, user_id);
  v_high uuid := greatest(v_me, user_id);
  v_conversation app_public.conversations;
begin
  -- one caller at a time per pair, so two simultaneous starts find or make the same one
  perform pg_advisory_xact_lock(hashtextextended(v_low::text || v_high::text, 7));
  select c.* into v_conversation
    from app_private.direct_conversations d
    join app_public.conversations c on c.id = d.conversation_id
   where d.user_low = v_low and d.user_high = v_high;
  if v_conversation.id is null then
    insert into app_public.conversations (conversation_type, created_by)
    values ('direct', v_me)
    returning * into v_conversation;
    insert into app_public.conversation_participants (conversation_id, user_id)
    values (v_conversation.id, start_direct_conversation.user_id)
    on conflict on constraint conversation_participants_conversation_id_user_id_key do nothing;
    insert into app_private.direct_conversations (user_low, user_high, conversation_id)
    values (v_low, v_high, v_conversation.id);
  else
    -- coming back after leaving
    update app_public.conversation_participants p set left_at = null
     where p.conversation_id = v_conversation.id and p.user_id = v_me and p.left_at is not null;
  end if;
  return v_conversation;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.start_direct_conversation(uuid) is
  E'Open your direct conversation with someone: the existing one, or a new one (there is exactly one per pair).';

create function app_public.create_group_conversation(title text, participant_ids uuid[]) returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_user();
  v_conversation app_public.conversations;
  v_id uuid;
begin
  if coalesce(btrim(title), '') = '' or char_length(title) > 100 then
    raise exception 'A group conversation needs a title of at most 100 characters' using errcode = 'INVAL', detail = 'field=title';
  end if;
  if cardinality(participant_ids) > 255 then
    raise exception 'A group conversation has at most 256 participants' using errcode = 'INVAL', detail = 'field=participant_ids';
  end if;
  -- no RETURNING: the new row is visible to its creator only once the trigger has made them
  -- a participant, and RETURNING is checked against the select policy before that
  v_conversation.id := gen_random_uuid();
  insert into app_public.conversations (id, conversation_type, title, created_by)
  values (v_conversation.id, 'group', btrim(title), v_me);
  select * into v_conversation from app_public.conversations c where c.id = v_conversation.id;
  foreach v_id in array coalesce(participant_ids, '{}') loop
    if v_id <> v_me then
      if not app_hidden.can_see_user(v_id) then
        raise exception 'No such user: %', v_id using errcode = 'NTFND', detail = 'field=participant_ids';
      end if;
      insert into app_public.conversation_participants (conversation_id, user_id)
      values (v_conversation.id, v_id)
      on conflict (conversation_id, user_id) do nothing;
    end if;
  end loop;
  return v_conversation;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_group_conversation(text, uuid[]) is
  E'Start a group conversation with a title and people you can see; you are its admin.';

create function app_public.send_message(
  conversation_id uuid,
  content text default null,
  message_type text default 'text',
  media_url text default null,
  file_name text default null,
  file_size bigint default null,
  reply_to_message_id uuid default null
) returns app_public.messages as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.messages;
begin
  if not exists (select 1 from app_public.conversations c where c.id = send_message.conversation_id) then
    raise exception 'No such conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  if not app_hidden.can_send_to(send_message.conversation_id) then
    raise exception 'You cannot send to this conversation' using errcode = 'DNIED';
  end if;
  if coalesce(btrim(content), '') = '' and media_url is null then
    raise exception 'A message needs some text or a file' using errcode = 'INVAL', detail = 'field=content';
  end if;
  if reply_to_message_id is not null and not exists (
    select 1 from app_public.messages m
     where m.id = send_message.reply_to_message_id and m.conversation_id = send_message.conversation_id
  ) then
    raise exception 'The message to reply to is not in this conversation' using errcode = 'INVAL', detail = 'field=reply_to_message_id';
  end if;
  insert into app_public.messages
    (conversation_id, sender_id, message_type, content, media_url, file_name, file_size, reply_to_message_id)
  values
    (conversation_id, v_me, coalesce(message_type, 'text'), content, media_url, file_name, file_size, reply_to_message_id)
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.send_message(uuid, text, text, text, text, bigint, uuid) is
  E'Send a message (text, or a file by URL) to a conversation you take part in, optionally replying to one of its messages.';

create function app_hidden.own_message(message_id uuid) returns app_public.messages as $$
declare
  v_row app_public.messages;
begin
  perform app_hidden.require_user();
  select * into v_row from app_public.messages m where m.id = own_message.message_id;
  if v_row.id is null then
    raise exception 'No such message' using errcode = 'NTFND', detail = 'field=message_id';
  end if;
  if v_row.sender_id <> app_public.current_user_id() then
    raise exception 'Only the sender may do that' using errcode = 'DNIED';
  end if;
  if v_row.is_deleted then
    raise exception 'This message was deleted' using errcode = 'CNFLT';
  end if;
  return v_row;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.own_message(uuid) is E'The message, if the current user sent it and it still exists.';

create function app_public.edit_message(message_id uuid, content text) returns app_public.messages as $$
declare
  v_row app_public.messages := app_hidden.own_message(message_id);
begin
  if coalesce(btrim(content), '') = '' and v_row.media_url is null then
    raise exception 'A message needs some text or a file' using errcode = 'INVAL', detail = 'field=content';
  end if;
  update app_public.messages m set content = edit_message.content, is_edited = true, edited_at = now()
   where m.id = v_row.id
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.edit_message(uuid, text) is E'Change the text of a message you sent; it is marked edited.';

create function app_public.delete_message(message_id uuid) returns app_public.messages as $$
declare
  v_row app_public.messages := app_hidden.own_message(message_id);
begin
  update app_public.messages m
     set is_deleted = true, deleted_at = now(), content = null, media_url = null, file_name = null, file_size = null
   where m.id = v_row.id
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.delete_message(uuid) is
  E'Delete a message you sent: it stays in the conversation as "deleted", its content gone for everyone.';

create function app_public.mark_conversation_read(conversation_id uuid) returns app_public.conversation_participants as $$
declare
  v_row app_public.conversation_participants;
begin
  update app_public.conversation_participants p set last_read_at = now()
   where p.conversation_id = mark_conversation_read.conversation_id
     and p.user_id = app_hidden.require_user() and p.left_at is null
  returning * into v_row;
  if v_row.id is null then
    raise exception 'You are not in this conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.mark_conversation_read(uuid) is E'Mark everything in the conversation as read by you.';

create function app_public.mute_conversation(conversation_id uuid, muted boolean default true)
returns app_public.conversation_participants as $$
declare
  v_row app_public.conversation_participants;
begin
  update app_public.conversation_participants p set is_muted = coalesce(muted, true)
   where p.conversation_id = mute_conversation.conversation_id and p.user_id = app_hidden.require_user()
  returning * into v_row;
  if v_row.id is null then
    raise exception 'You are not in this conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.mute_conversation(uuid, boolean) is
  E'Mute a conversation (no notifications for its messages), or unmute it with muted: false.';

create function app_public.leave_conversation(conversation_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.conversation_participants;
begin
  update app_public.conversation_participants p set left_at = now()
   where p.conversation_id = leave_conversation.conversation_id and p.user_id = v_me and p.left_at is null
  returning * into v_row;
  if v_row.id is null then
    raise exception 'You are not in this conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  -- a group conversation keeps an admin: the longest-standing participant takes over
  if v_row.role = 'admin' and not exists (
    select 1 from app_public.conversation_participants p
     where p.conversation_id = v_row.conversation_id and p.role = 'admin' and p.left_at is null
  ) then
    update app_public.conversation_participants p set role = 'admin'
     where p.id = (select id from app_public.conversation_participants
                    where conversation_participants.conversation_id = v_row.conversation_id and left_at is null
                    order by joined_at, id limit 1);
  end if;
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.leave_conversation(uuid) is
  E'@resultFieldName success\nLeave a conversation. You keep what was said before you left; if you were its last admin, the longest-standing participant becomes admin.';

create function app_hidden.require_conversation_admin(conversation_id uuid) returns uuid as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if not exists (
    select 1 from app_public.conversation_participants p
      join app_public.conversations c on c.id = p.conversation_id
     where p.conversation_id = require_conversation_admin.conversation_id and p.user_id = v_me
       and p.left_at is null and p.role = 'admin' and c.conversation_type = 'group'
  ) then
    raise exception 'Only the admins of a group conversation manage its participants' using errcode = 'DNIED';
  end if;
  return v_me;
end;
$$ language plpgsql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_conversation_admin(uuid) is E'Refuses unless the current user administers this group conversation.';

create function app_public.add_conversation_participants(conversation_id uuid, user_ids uuid[])
returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_conversation_admin(conversation_id);
  v_id uuid;
begin
  foreach v_id in array coalesce(user_ids, '{}') loop
    if v_id = v_me then
      continue;
    end if;
    if not exists (select 1 from app_public.user_cards c where c.id = v_id) then
      raise exception 'No such user: %', v_id using errcode = 'NTFND', detail = 'field=user_ids';
    end if;
    insert into app_public.conversation_participants (conversation_id, user_id)
    values (add_conversation_participants.conversation_id, v_id)
    on conflict on constraint conversation_participants_conversation_id_user_id_key
    do update set left_at = null, joined_at = now() where conversation_participants.left_at is not null;
  end loop;
  if (select count(*) from app_public.conversation_participants p
       where p.conversation_id = add_conversation_participants.conversation_id and p.left_at is null) > 256 then
    raise exception 'A group conversation has at most 256 participants' using errcode = 'INVAL', detail = 'field=user_ids';
  end if;
  return (select c from app_public.conversations c where c.id = add_conversation_participants.conversation_id);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.add_conversation_participants(uuid, uuid[]) is
  E'Add people to a group conversation you administer (people who left come back).';

create function app_public.remove_conversation_participant(conversation_id uuid, user_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_conversation_admin(conversation_id);
begin
  if user_id = v_me then
    raise exception 'Leave the conversation instead' using errcode = 'INVAL', detail = 'field=user_id';
  end if;
  update app_public.conversation_participants p set left_at = now()
   where p.conversation_id = remove_conversation_participant.conversation_id
     and p.user_id = remove_conversation_participant.user_id and p.left_at is null;
  if not found then
    raise exception 'This user is not in the conversation' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.remove_conversation_participant(uuid, uuid) is
  E'@resultFieldName success\nRemove someone from a group conversation you administer; they keep what was said before.';

create function app_public.my_conversations() returns setof app_public.conversations as $$
  select c.* from app_public.conversations c
   where c.id in (select app_hidden.active_conversation_ids())
   order by coalesce(c.last_message_at, c.created_at) desc, c.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.my_conversations() is E'Your conversations, the most recently active first.';

create function app_public.conversations_unread_count(c app_public.conversations) returns integer as $$
  select count(*)::int from app_public.messages m
   where m.conversation_id = c.id
     and m.sender_id <> app_public.current_user_id()
     and not m.is_deleted
     and m.created_at > coalesce((
       select coalesce(p.last_read_at, p.joined_at) from app_public.conversation_participants p
        where p.conversation_id = c.id and p.user_id = app_public.current_user_id()), '-infinity');
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.conversations_unread_count(app_public.conversations) is
  E'Messages from others you have not read yet.';

create function app_public.conversations_last_message(c app_public.conversations) returns app_public.messages as $$
  select m.* from app_public.messages m
   where m.conversation_id = c.id
   order by m.created_at desc, m.id desc
   limit 1;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.conversations_last_message(app_public.conversations) is E'The newest message you can see.';

create function app_public.conversations_viewer_participant(c app_public.conversations)
returns app_public.conversation_participants as $$
  select p.* from app_public.conversation_participants p
   where p.conversation_id = c.id and p.user_id = app_public.current_user_id();
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.conversations_viewer_participant(app_public.conversations) is
  E'Your place in this conversation: role, read position, mute.';

--------------------------------------------------------------------------------------------------
-- Groups
--------------------------------------------------------------------------------------------------

create function app_public.create_group(
  name text,
  description text default null,
  group_type text default 'public',
  category text default null,
  location text default null,
  avatar_url text default null,
  cover_image_url text default null
) returns app_public.groups as $$
declare
  v_me uuid := app_hidden.require_user();
  v_group app_public.groups;
begin
  if coalesce(btrim(name), '') = '' then
    raise exception 'A group needs a name' using errcode = 'INVAL', detail = 'field=name';
  end if;
  -- no RETURNING: a secret group is visible to its creator only once the trigger has made
  -- them its admin
  v_group.id := gen_random_uuid();
  insert into app_public.groups (id, name, description, group_type, category, location, avatar_url, cover_image_url, created_by)
  values (v_group.id, btrim(name), description, coalesce(group_type, 'public'), category, location, avatar_url, cover_image_url, v_me);
  select * into v_group from app_public.groups g where g.id = v_group.id;
  return v_group;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_group(text, text, text, text, text, text, text) is
  E'Create a group (public, private or secret); you are its admin.';

create function app_public.join_group(group_id uuid) returns app_public.group_members as $$
declare
  v_me uuid := app_hidden.require_user();
  v_type text;
  v_row app_public.group_members;
begin
  select g.group_type into v_type from app_public.groups g where g.id = join_group.group_id;
  select * into v_row from app_public.group_members m where m.group_id = join_group.group_id and m.user_id = v_me;
  if v_row.status = 'banned' then
    raise exception 'You are banned from this group' using errcode = 'DNIED';
  end if;
  if v_row.status = 'active' then
    return v_row;
  end if;
  if v_row.status = 'pending' and v_row.invited_by is not null then
    -- an invitation: joining accepts it
    update app_public.group_members m set status = 'active', joined_at = now()
     where m.id = v_row.id returning * into v_row;
    return v_row;
  end if;
  if v_type is null then
    raise exception 'No such group' using errcode = 'NTFND', detail = 'field=group_id';
  end if;
  if v_row.status = 'pending' then
    return v_row;
  end if;
  if v_type = 'secret' then
    raise exception 'This group is joined by invitation only' using errcode = 'DNIED';
  end if;
  insert into app_public.group_members (group_id, user_id, role, status)
  values (join_group.group_id, v_me, 'member', case when v_type = 'public' then 'active' else 'pending' end)
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.join_group(uuid) is
  E'Join a group: a public one at once; a private one by request (pending until approved); a secret one only by accepting an invitation. Joining again changes nothing.';

create function app_hidden.require_group_moderator(group_id uuid) returns uuid as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if group_id is null or group_id not in (select app_hidden.moderated_group_ids()) then
    if not exists (select 1 from app_public.groups g where g.id = require_group_moderator.group_id) then
      raise exception 'No such group' using errcode = 'NTFND', detail = 'field=group_id';
    end if;
    raise exception 'Only the group''s admins and moderators may do that' using errcode = 'DNIED';
  end if;
  return v_me;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_group_moderator(uuid) is E'Refuses unless the current user is an admin or moderator of the group.';

create function app_public.invite_to_group(group_id uuid, user_id uuid) returns app_public.group_members as $$
declare
  v_me uuid := app_hidden.require_group_moderator(group_id);
  v_row app_public.group_members;
begin
  if not app_hidden.can_see_user(user_id) then
    raise exception 'No such user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  select * into v_row from app_public.group_members m
   where m.group_id = invite_to_group.group_id and m.user_id = invite_to_group.user_id;
  if v_row.id is not null then
    if v_row.status = 'pending' and v_row.invited_by is null then
      -- they asked already: an invitation approves it
      update app_public.group_members m set status = 'active', joined_at = now() where m.id = v_row.id returning * into v_row;
    end if;
    return v_row;
  end if;
  insert into app_public.group_members (group_id, user_id, role, status, invited_by)
  values (invite_to_group.group_id, invite_to_group.user_id, 'member', 'pending', v_me)
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.invite_to_group(uuid, uuid) is
  E'Invite someone to a group you run (they join by accepting). Inviting someone who asked to join approves them.';

create function app_public.approve_group_member(group_id uuid, user_id uuid) returns app_public.group_members as $$
declare
  v_row app_public.group_members;
begin
  perform app_hidden.require_group_moderator(group_id);
  update app_public.group_members m set status = 'active', joined_at = now()
   where m.group_id = approve_group_member.group_id and m.user_id = approve_group_member.user_id
     and m.status = 'pending' and m.invited_by is null
  returning * into v_row;
  if v_row.id is null then
    raise exception 'There is no request to join from this user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.approve_group_member(uuid, uuid) is E'Accept someone''s request to join a group you run.';

create function app_public.reject_group_member(group_id uuid, user_id uuid) returns boolean as $$
begin
  perform app_hidden.require_group_moderator(group_id);
  delete from app_public.group_members m
   where m.group_id = reject_group_member.group_id and m.user_id = reject_group_member.user_id
     and m.status = 'pending';
  if not found then
    raise exception 'There is no pending request or invitation for this user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.reject_group_member(uuid, uuid) is
  E'@resultFieldName success\nTurn down someone''s request to join (or withdraw an invitation) in a group you run.';

create function app_public.leave_group(group_id uuid) returns boolean as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.group_members;
begin
  select * into v_row from app_public.group_members m where m.group_id = leave_group.group_id and m.user_id = v_me;
  if v_row.id is null or v_row.status = 'banned' then
    raise exception 'You are not in this group' using errcode = 'NTFND', detail = 'field=group_id';
  end if;
  if v_row.role = 'admin' and v_row.status = 'active'
     and not exists (select 1 from app_public.group_members m
                      where m.group_id = v_row.group_id and m.role = 'admin' and m.status = 'active' and m.id <> v_row.id)
     and exists (select 1 from app_public.group_members m
                  where m.group_id = v_row.group_id and m.status = 'active' and m.id <> v_row.id) then
    raise exception 'You are the last admin: make someone else admin before leaving' using errcode = 'CNFLT';
  end if;
  delete from app_public.group_members m where m.id = v_row.id;
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.leave_group(uuid) is
  E'@resultFieldName success\nLeave a group (or withdraw your request, or decline an invitation). The last admin must hand over first.';

create function app_public.set_group_member_role(group_id uuid, user_id uuid, role text) returns app_public.group_members as $$
declare
  v_row app_public.group_members;
begin
  perform app_hidden.require_user();
  if group_id not in (select app_hidden.admin_group_ids()) then
    raise exception 'Only the group''s admins change roles' using errcode = 'DNIED';
  end if;
  if user_id = app_public.current_user_id() then
    raise exception 'You cannot change your own role in a group' using errcode = 'DNIED', detail = 'field=user_id';
  end if;
  -- the trigger tg_group_members__guard_role refuses changing your own role
  update app_public.group_members m set role = set_group_member_role.role
   where m.group_id = set_group_member_role.group_id and m.user_id = set_group_member_role.user_id and m.status = 'active'
  returning * into v_row;
  if v_row.id is null then
    raise exception 'This user is not an active member of the group' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.set_group_member_role(uuid, uuid, text) is
  E'Make an active member an admin, moderator or member (admins only; not yourself).';

create function app_public.ban_group_member(group_id uuid, user_id uuid) returns app_public.group_members as $$
declare
  v_me uuid := app_hidden.require_user();
  v_my_role text;
  v_row app_public.group_members;
begin
  select m.role into v_my_role from app_public.group_members m
   where m.group_id = ban_group_member.group_id and m.user_id = v_me and m.status = 'active' and m.role in ('admin', 'moderator');
  if v_my_role is null then
    raise exception 'Only the group''s admins and moderators may ban' using errcode = 'DNIED';
  end if;
  if user_id = v_me then
    raise exception 'You cannot ban yourself' using errcode = 'INVAL', detail = 'field=user_id';
  end if;
  select * into v_row from app_public.group_members m
   where m.group_id = ban_group_member.group_id and m.user_id = ban_group_member.user_id;
  if v_row.role in ('admin', 'moderator') and v_row.status = 'active' and v_my_role <> 'admin' then
    raise exception 'Only admins may ban admins and moderators' using errcode = 'DNIED';
  end if;
  if not exists (select 1 from app_public.users u where u.id = ban_group_member.user_id) then
    raise exception 'No such user' using errcode = 'NTFND', detail = 'field=user_id';
  end if;
  insert into app_public.group_members (group_id, user_id, role, status)
  values (ban_group_member.group_id, ban_group_member.user_id, 'member', 'banned')
  on conflict on constraint group_members_group_id_user_id_key do update set status = 'banned', role = 'member', left_at = now()
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.ban_group_member(uuid, uuid) is
  E'Ban someone from a group you run: they leave and cannot rejoin. Moderators ban members; admins anyone but themselves.';

create function app_public.groups_viewer_membership(g app_public.groups) returns app_public.group_members as $$
  select m.* from app_public.group_members m where m.group_id = g.id and m.user_id = app_public.current_user_id();
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.groups_viewer_membership(app_public.groups) is
  E'Your membership of this group (active, a pending request or invitation, or a ban), if any.';

create function app_public.my_groups() returns setof app_public.groups as $$
  select g.* from app_public.groups g
   where g.id in (select app_hidden.active_group_ids())
   order by g.name, g.id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.my_groups() is E'Groups you are an active member of, by name.';

--------------------------------------------------------------------------------------------------
-- Events: capacity is checked under a per-event lock; a waitlist fills freed places at once
--------------------------------------------------------------------------------------------------

create function app_hidden.lock_event(event_id uuid) returns void as $$
  select pg_advisory_xact_lock(hashtextextended(event_id::text, 11));
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.lock_event(uuid) is E'Serialises changes to one event''s attendance (until the transaction ends).';

create function app_hidden.event_has_room(event_id uuid, except_user uuid) returns boolean as $$
  select e.max_attendees is null
      or (select count(*) from app_public.event_attendees a
           where a.event_id = e.id and a.status = 'going' and a.user_id is distinct from except_user) < e.max_attendees
    from app_public.events e where e.id = event_has_room.event_id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.event_has_room(uuid, uuid) is
  E'Whether one more person (besides except_user) fits: an exact count, whoever can see whom.';

-- Nobody becomes `going` beyond capacity, however they get there (rsvpEvent or generated CRUD).
create function app_private.tg_event_attendees__check_capacity() returns trigger as $$
begin
  if NEW.status = 'going' and (TG_OP = 'INSERT' or OLD.status is distinct from 'going') then
    perform app_hidden.lock_event(NEW.event_id);
    if not app_hidden.event_has_room(NEW.event_id, NEW.user_id) then
      raise exception 'This event is full' using errcode = 'EVFUL';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_event_attendees__check_capacity() is E'Refuses `going` when the event is full.';
create trigger _200_check_capacity before insert or update of status on app_public.event_attendees
  for each row execute function app_private.tg_event_attendees__check_capacity();

/** Gives freed places to the waitlist, first come first served. */
create function app_private.promote_waitlist(event_id uuid) returns void as $$
declare
  v_next app_public.event_waitlist;
begin
  perform app_hidden.lock_event(event_id);
  loop
    exit when not app_hidden.event_has_room(event_id, null);
    select * into v_next from app_public.event_waitlist w
     where w.event_id = promote_waitlist.event_id order by w.created_at, w.id limit 1;
    exit when v_next.id is null;
    delete from app_public.event_waitlist where id = v_next.id;
    insert into app_public.event_attendees (event_id, user_id, status)
    values (v_next.event_id, v_next.user_id, 'going')
    on conflict on constraint event_attendees_event_id_user_id_key do update set status = 'going', registered_at = now();
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.promote_waitlist(uuid) is E'Makes waitlisted people `going` while there is room.';

create function app_private.tg_event_attendees__promote_waitlist() returns trigger as $$
begin
  if OLD.status = 'going' and (TG_OP = 'DELETE' or NEW.status <> 'going') then
    perform app_private.promote_waitlist(OLD.event_id);
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_event_attendees__promote_waitlist() is E'A place freed goes to the first on the waitlist.';
create trigger _500_promote_waitlist after update of status or delete on app_public.event_attendees
  for each row execute function app_private.tg_event_attendees__promote_waitlist();

create function app_private.tg_events__promote_waitlist() returns trigger as $$
begin
  if NEW.max_attendees is null or NEW.max_attendees > coalesce(OLD.max_attendees, 0) then
    perform app_private.promote_waitlist(NEW.id);
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_events__promote_waitlist() is E'A bigger capacity lets the waitlist in.';
create trigger _500_promote_waitlist after update of max_attendees on app_public.events
  for each row execute function app_private.tg_events__promote_waitlist();

create function app_public.create_event(
  title text,
  start_date timestamptz,
  end_date timestamptz default null,
  description text default null,
  event_type text default null,
  timezone text default null,
  location text default null,
  venue_name text default null,
  address text default null,
  latitude numeric default null,
  longitude numeric default null,
  max_attendees integer default null,
  is_online boolean default false,
  meeting_url text default null,
  cover_image_url text default null,
  privacy_level text default 'public',
  group_id uuid default null
) returns app_public.events as $$
declare
  v_me uuid := app_hidden.require_user();
  v_event app_public.events;
begin
  if coalesce(btrim(title), '') = '' then
    raise exception 'An event needs a title' using errcode = 'INVAL', detail = 'field=title';
  end if;
  if start_date < now() - interval '1 minute' then
    raise exception 'An event cannot start in the past' using errcode = 'INVAL', detail = 'field=start_date';
  end if;
  if create_event.group_id is not null and create_event.group_id not in (select app_hidden.active_group_ids()) then
    raise exception 'You can only create events in groups you are an active member of' using errcode = 'DNIED', detail = 'field=group_id';
  end if;
  insert into app_public.events (title, description, event_type, start_date, end_date, timezone, location, venue_name,
                                 address, latitude, longitude, max_attendees, is_online, meeting_url, cover_image_url,
                                 privacy_level, created_by, group_id)
  values (btrim(title), description, event_type, start_date, end_date, timezone, location, venue_name,
          address, latitude, longitude, max_attendees, coalesce(is_online, false), meeting_url, cover_image_url,
          coalesce(privacy_level, 'public'), v_me, create_event.group_id)
  returning * into v_event;
  return v_event;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, numeric, numeric, integer, boolean, text, text, text, uuid) is
  E'Create an event, optionally in a group you belong to.';

create function app_hidden.own_event(event_id uuid) returns app_public.events as $$
declare
  v_event app_public.events;
begin
  perform app_hidden.require_user();
  select * into v_event from app_public.events e where e.id = own_event.event_id;
  if v_event.id is null then
    raise exception 'No such event' using errcode = 'NTFND', detail = 'field=event_id';
  end if;
  if v_event.created_by <> app_public.current_user_id() then
    raise exception 'Only the organiser may do that' using errcode = 'DNIED';
  end if;
  return v_event;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.own_event(uuid) is E'The event, if the current user organises it.';

create function app_public.update_event(
  event_id uuid,
  title text default null,
  description text default null,
  start_date timestamptz default null,
  end_date timestamptz default null,
  location text default null,
  venue_name text default null,
  address text default null,
  max_attendees integer default null,
  meeting_url text default null,
  privacy_level text default null
) returns app_public.events as $$
declare
  v_event app_public.events := app_hidden.own_event(event_id);
begin
  if v_event.is_cancelled then
    raise exception 'This event was cancelled' using errcode = 'CNFLT';
  end if;
  update app_public.events e
     set title = coalesce(nullif(btrim(update_event.title), ''), e.title),
         description = coalesce(update_event.description, e.description),
         start_date = coalesce(update_event.start_date, e.start_date),
         end_date = coalesce(update_event.end_date, e.end_date),
         location = coalesce(update_event.location, e.location),
         venue_name = coalesce(update_event.venue_name, e.venue_name),
         address = coalesce(update_event.address, e.address),
         max_attendees = coalesce(update_event.max_attendees, e.max_attendees),
         meeting_url = coalesce(update_event.meeting_url, e.meeting_url),
         privacy_level = coalesce(update_event.privacy_level, e.privacy_level)
   where e.id = v_event.id
  returning * into v_event;
  return v_event;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.update_event(uuid, text, text, timestamptz, timestamptz, text, text, text, integer, text, text) is
  E'Change an event you organise (what you leave out stays). A larger capacity lets the waitlist in.';

create function app_public.cancel_event(event_id uuid) returns app_public.events as $$
declare
  v_event app_public.events := app_hidden.own_event(event_id);
begin
  if not v_event.is_cancelled then
    update app_public.events e set is_cancelled = true, cancelled_at = now() where e.id = v_event.id
    returning * into v_event;
  end if;
  return v_event;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.cancel_event(uuid) is E'Cancel an event you organise. Cancelling again changes nothing.';

create function app_public.rsvp_event(event_id uuid, status app_public.rsvp_status, join_waitlist boolean default false)
returns app_public.events as $$
declare
  v_me uuid := app_hidden.require_user();
  v_event app_public.events;
begin
  select * into v_event from app_public.events e where e.id = rsvp_event.event_id;
  if v_event.id is null then
    raise exception 'No such event' using errcode = 'NTFND', detail = 'field=event_id';
  end if;
  if v_event.is_cancelled then
    raise exception 'This event was cancelled' using errcode = 'CNFLT';
  end if;
  -- one RSVP at a time per event, so concurrent ones never overbook
  perform app_hidden.lock_event(v_event.id);
  delete from app_public.event_waitlist w where w.event_id = v_event.id and w.user_id = v_me;
  if status = 'GOING' and coalesce(join_waitlist, false) and not app_hidden.event_has_room(v_event.id, v_me) then
    insert into app_public.event_waitlist (event_id, user_id) values (v_event.id, v_me);
    -- waiting for a place is not going; an earlier answer is withdrawn
    delete from app_public.event_attendees a where a.event_id = v_event.id and a.user_id = v_me and a.status = 'going';
  else
    insert into app_public.event_attendees (event_id, user_id, status)
    values (v_event.id, v_me, lower(status::text))
    on conflict on constraint event_attendees_event_id_user_id_key do update set status = excluded.status;
  end if;
  return v_event;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.rsvp_event(uuid, app_public.rsvp_status, boolean) is
  E'Answer an event you can see: GOING, MAYBE or NOT_GOING. GOING to a full event fails with EVENT_FULL, unless joinWaitlist: then you wait, and get the first place that frees.';

create function app_public.events_viewer_rsvp(e app_public.events) returns app_public.event_attendees as $$
  select a.* from app_public.event_attendees a where a.event_id = e.id and a.user_id = app_public.current_user_id();
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.events_viewer_rsvp(app_public.events) is E'Your answer to this event, if any.';

create function app_public.events_viewer_waitlist_position(e app_public.events) returns integer as $$
  select position::int from (
    select w.user_id, row_number() over (order by w.created_at, w.id) as position
      from app_public.event_waitlist w where w.event_id = e.id
  ) q where q.user_id = app_public.current_user_id();
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.events_viewer_waitlist_position(app_public.events) is
  E'Your place in this event''s waitlist (1 is next), or null if you are not waiting.';

create function app_public.events_going_count(e app_public.events) returns integer as $$
  select count(*)::int from app_public.event_attendees a where a.event_id = e.id and a.status = 'going';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.events_going_count(app_public.events) is
  E'How many are going, exactly and now (currentAttendees is the worker''s denormalised copy).';

create function app_public.upcoming_events() returns setof app_public.events as $$
  select * from app_public.events e
   where e.start_date >= now() and not e.is_cancelled
   order by e.start_date, e.id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.upcoming_events() is E'Events you can see that have not started and are not cancelled, soonest first.';

--------------------------------------------------------------------------------------------------
-- Notifications
--------------------------------------------------------------------------------------------------

create function app_public.mark_notifications_read(ids uuid[]) returns integer as $$
declare
  v_count int;
begin
  perform app_hidden.require_user();
  update app_public.notifications n set is_read = true, read_at = now()
   where n.id = any (ids) and not n.is_read;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.mark_notifications_read(uuid[]) is
  E'@resultFieldName count\nMark these notifications of yours read; returns how many changed.';

create function app_public.mark_all_notifications_read() returns integer as $$
declare
  v_count int;
begin
  update app_public.notifications n set is_read = true, read_at = now()
   where n.recipient_id = app_hidden.require_user() and not n.is_read;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.mark_all_notifications_read() is
  E'@resultFieldName count\nMark all your notifications read; returns how many changed.';

create function app_public.unread_notification_count() returns integer as $$
  select count(*)::int from app_public.notifications n
   where n.recipient_id = app_public.current_user_id() and not n.is_read;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.unread_notification_count() is E'How many of your notifications are unread.';

--------------------------------------------------------------------------------------------------
-- Search
--------------------------------------------------------------------------------------------------

create function app_hidden.require_search_text(query text) returns text as $$
begin
  if char_length(btrim(coalesce(query, ''))) < 2 then
    raise exception 'Search for at least 2 characters' using errcode = 'INVAL', detail = 'field=query';
  end if;
  if char_length(query) > 200 then
    raise exception 'Search for at most 200 characters' using errcode = 'INVAL', detail = 'field=query';
  end if;
  return btrim(query);
end;
$$ language plpgsql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_search_text(text) is E'Checks a search text (2 to 200 characters).';

create function app_public.search_users(query text) returns setof app_public.user_cards as $$
  with q as (select lower(app_hidden.require_search_text(query)) as text)
  select c.*
    from app_public.user_cards c, q
   where lower(c.username) like replace(replace(q.text, '%', '\%'), '_', '\_') || '%'
      or lower(c.display_name) like '%' || replace(replace(q.text, '%', '\%'), '_', '\_') || '%'
      or lower(c.username) % q.text
      or lower(c.display_name) % q.text
   order by lower(c.username) = q.text desc,
            lower(c.username) like replace(replace(q.text, '%', '\%'), '_', '\_') || '%' desc,
            greatest(similarity(lower(c.username), q.text), similarity(lower(coalesce(c.display_name, '')), q.text)) desc,
            c.username
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_users(text) is
  E'Find people by username or display name: exact and prefix matches first, then similar spellings.';

create function app_public.search_posts(query text) returns setof app_public.posts as $$
  select p.*
    from app_public.posts p,
         websearch_to_tsquery('simple', app_hidden.require_search_text(query)) q
   where p.deleted_at is null
     and to_tsvector('simple', p.content) @@ q
   order by ts_rank(to_tsvector('simple', p.content), q) desc, p.created_at desc, p.id desc
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_posts(text) is
  E'Find posts you can see by their words (web-search syntax: "quoted phrases", -excluded, or), best matches first.';

create function app_public.search_groups(query text) returns setof app_public.groups as $$
  select g.*
    from app_public.groups g,
         lateral (select app_hidden.require_search_text(query) as text) s,
         websearch_to_tsquery('simple', s.text) q
   where to_tsvector('simple', coalesce(g.name, '') || ' ' || coalesce(g.description, '') || ' ' || coalesce(g.category, '') || ' ' || coalesce(g.location, '')) @@ q
      or lower(g.name) % lower(s.text)
   order by lower(g.name) = lower(s.text) desc,
            ts_rank(to_tsvector('simple', coalesce(g.name, '') || ' ' || coalesce(g.description, '') || ' ' || coalesce(g.category, '') || ' ' || coalesce(g.location, '')), q) desc,
            similarity(lower(g.name), lower(s.text)) desc,
            g.id
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_groups(text) is
  E'Find groups by name, description, category or location (secret groups only if you are a member).';
