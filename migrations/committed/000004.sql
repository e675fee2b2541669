--! Previous: sha1:eb49a98182036b4f1bdaf6557ddef3cf6a618414
--! Hash: sha1:f41cf81fca2d8bcdebd75a4b344086d0ce3ba737

/*
 * 0004 — background work: denormalised counters, notifications, maintenance.
 *
 * Writes stay fast: triggers only queue jobs (graphile_worker.add_job, in the same
 * transaction), and the worker (src/tasks/) does the rest, as the owner:
 *
 * - counters are recounted from the source rows by `counters__recount`, one job per target row
 *   (job_key `recount:<table>:<id>`, preserve_run_at, half a second later), so a burst of likes
 *   on one post gives a handful of recounts, and running one twice changes nothing;
 * - notifications are created by `notifications__create` from the events triggers queue, with
 *   the rules (never to yourself, never across a block, mutes respected) and deduplication
 *   (dedupe_key) in SQL; likes and messages coalesce into the recipient's unread notification;
 * - every new or changed notification is announced with pg_notify on
 *   `user:<recipient id>:notifications` (the id only), for realtime delivery.
 */

--------------------------------------------------------------------------------------------------
-- Counters
--------------------------------------------------------------------------------------------------

-- A recount is not an edit: with mking.counters_only set, updated_at stays as it was.
create or replace function app_private.tg__timestamps() returns trigger as $$
begin
  if TG_OP = 'UPDATE' then
    NEW.created_at := OLD.created_at;
    if pg_catalog.current_setting('mking.counters_only', true) = 'on' then
      NEW.updated_at := OLD.updated_at;
      return NEW;
    end if;
  end if;
  NEW.updated_at := now();
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg__timestamps() is
  E'Keeps `updated_at` current on every update (but not for counter recounts) and `created_at` unchangeable.';

create function app_private.enqueue_recount(p_table text, p_id uuid) returns void as $$
begin
  if p_id is not null then
    perform graphile_worker.add_job(
      'counters__recount',
      json_build_object('table', p_table, 'id', p_id),
      job_key := format('recount:%s:%s', p_table, p_id),
      job_key_mode := 'preserve_run_at',
      run_at := now() + interval '500 milliseconds',
      max_attempts := 10
    );
  end if;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.enqueue_recount(text, uuid) is
  E'Queues one recount of a row''s counters; repeated calls within half a second share one job.';

/** Recomputes the counters of one row from the source rows; returns whether anything changed. */
create function app_private.recount(p_table text, p_id uuid) returns boolean as $$
declare
  v_changed int;
begin
  perform set_config('mking.counters_only', 'on', true);
  if p_table = 'posts' then
    update app_public.posts p set
      likes_count = c.likes, comments_count = c.comments, shares_count = c.shares
    from (select
            (select count(*) from app_public.likes l where l.target_type = 'post' and l.target_id = p_id)::int as likes,
            (select count(*) from app_public.comments m where m.post_id = p_id)::int as comments,
            (select count(*) from app_public.posts s where s.shared_post_id = p_id and s.deleted_at is null)::int as shares) c
    where p.id = p_id
      and (p.likes_count, p.comments_count, p.shares_count) is distinct from (c.likes, c.comments, c.shares);
  elsif p_table = 'comments' then
    update app_public.comments m set likes_count = c.likes, replies_count = c.replies
    from (select
            (select count(*) from app_public.likes l where l.target_type = 'comment' and l.target_id = p_id)::int as likes,
            (select count(*) from app_public.comments r where r.parent_comment_id = p_id)::int as replies) c
    where m.id = p_id and (m.likes_count, m.replies_count) is distinct from (c.likes, c.replies);
  elsif p_table = 'groups' then
    update app_public.groups g set member_count = c.members, post_count = c.posts
    from (select
            (select count(*) from app_public.group_members gm where gm.group_id = p_id and gm.status = 'active')::int as members,
            (select count(*) from app_public.posts p where p.group_id = p_id and p.deleted_at is null)::int as posts) c
    where g.id = p_id and (g.member_count, g.post_count) is distinct from (c.members, c.posts);
  elsif p_table = 'events' then
    update app_public.events e set current_attendees = c.going
    from (select (select count(*) from app_public.event_attendees a where a.event_id = p_id and a.status = 'going')::int as going) c
    where e.id = p_id and e.current_attendees is distinct from c.going;
  else
    raise exception 'recount: unknown table %', p_table;
  end if;
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.recount(text, uuid) is
  E'Sets a post''s, comment''s, group''s or event''s counters from the source rows (idempotent).';

/** Repairs drift in one batch of rows (keyset on id); returns how many it fixed and where it stopped. */
create function app_private.recount_batch(
  p_table text, p_after uuid, p_limit int, out fixed int, out last_id uuid
) as $$
declare
  v_id uuid;
begin
  fixed := 0;
  for v_id in execute format(
    'select id from app_public.%I where ($1::uuid is null or id > $1) order by id limit $2', p_table)
    using p_after, p_limit
  loop
    if app_private.recount(p_table, v_id) then
      fixed := fixed + 1;
    end if;
    last_id := v_id;
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.recount_batch(text, uuid, int) is
  E'Recounts a batch of rows after `after_id` (by id); `last_id` is null when the table is done.';

create function app_private.tg_likes__recount() returns trigger as $$
declare
  v_like app_public.likes := coalesce(NEW, OLD);
begin
  perform app_private.enqueue_recount(case v_like.target_type when 'post' then 'posts' else 'comments' end, v_like.target_id);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_likes__recount() is E'A like or unlike recounts its target.';
create trigger _500_recount after insert or delete on app_public.likes
  for each row execute function app_private.tg_likes__recount();

create function app_private.tg_comments__recount() returns trigger as $$
begin
  if TG_OP in ('INSERT', 'UPDATE') then
    perform app_private.enqueue_recount('posts', NEW.post_id);
    perform app_private.enqueue_recount('comments', NEW.parent_comment_id);
  end if;
  if TG_OP in ('DELETE', 'UPDATE') then
    perform app_private.enqueue_recount('posts', OLD.post_id);
    perform app_private.enqueue_recount('comments', OLD.parent_comment_id);
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_comments__recount() is E'A comment recounts its post and its parent comment.';
create trigger _500_recount after insert or delete or update of post_id, parent_comment_id on app_public.comments
  for each row execute function app_private.tg_comments__recount();

create function app_private.tg_posts__recount() returns trigger as $$
begin
  if TG_OP in ('INSERT', 'UPDATE') then
    perform app_private.enqueue_recount('posts', NEW.shared_post_id);
    perform app_private.enqueue_recount('groups', NEW.group_id);
  end if;
  if TG_OP in ('DELETE', 'UPDATE') then
    perform app_private.enqueue_recount('posts', OLD.shared_post_id);
    perform app_private.enqueue_recount('groups', OLD.group_id);
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_posts__recount() is E'A post recounts what it shares and its group.';
create trigger _500_recount after insert or delete or update of deleted_at, shared_post_id, group_id on app_public.posts
  for each row execute function app_private.tg_posts__recount();

create function app_private.tg_group_members__recount() returns trigger as $$
begin
  perform app_private.enqueue_recount('groups', coalesce(NEW.group_id, OLD.group_id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_group_members__recount() is E'A membership change recounts the group.';
create trigger _500_recount after insert or delete or update of status on app_public.group_members
  for each row execute function app_private.tg_group_members__recount();

create function app_private.tg_event_attendees__recount() returns trigger as $$
begin
  perform app_private.enqueue_recount('events', coalesce(NEW.event_id, OLD.event_id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_event_attendees__recount() is E'An RSVP recounts the event.';
create trigger _500_recount after insert or delete or update of status on app_public.event_attendees
  for each row execute function app_private.tg_event_attendees__recount();

--------------------------------------------------------------------------------------------------
-- Notifications
--------------------------------------------------------------------------------------------------

alter table app_public.notifications add column dedupe_key text;
comment on column app_public.notifications.dedupe_key is
  E'@behavior -*\nThe natural key of what this notification is about: the same event never notifies twice.';
alter table app_public.notifications
  add constraint idx_notifications_recipient_id_dedupe_key unique (recipient_id, dedupe_key);
comment on constraint idx_notifications_recipient_id_dedupe_key on app_public.notifications is E'@behavior -*';

-- Every new or changed notification is announced to its recipient's channel (the id only:
-- subscribers re-read it through row-level security).
create function app_private.tg_notifications__announce() returns trigger as $$
begin
  perform pg_notify(
    'user:' || NEW.recipient_id || ':notifications',
    json_build_object('id', NEW.id, 'op', lower(TG_OP))::text
  );
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_notifications__announce() is E'pg_notify on user:<recipient>:notifications.';
create trigger _900_announce after insert or update on app_public.notifications
  for each row execute function app_private.tg_notifications__announce();

create function app_private.enqueue_notification(event jsonb, batch_key text default null) returns void as $$
begin
  perform graphile_worker.add_job(
    'notifications__create',
    json_build_array(event),
    job_key := batch_key,
    job_key_mode := case when batch_key is null then null else 'preserve_run_at' end,
    run_at := case when batch_key is null then now() else now() + interval '1 second' end,
    max_attempts := 10
  );
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.enqueue_notification(jsonb, text) is
  E'Queues an event for notifications__create. Events with the same batch_key within a second share one job (their array payloads merge).';

/** Display name of a user for notification texts. */
create function app_private.display_name(user_id uuid) returns text as $$
  select coalesce(nullif(btrim(p.display_name), ''), p.username, 'Someone')
    from app_public.user_profiles p where p.user_id = display_name.user_id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.display_name(uuid) is E'How a user is named in notification texts.';

/** Whether a user may see a post: the rules of policies/posts.sql, for the worker (no RLS). */
create function app_hidden.post_visible_to(post_id uuid, user_id uuid) returns boolean as $$
  select exists (
    select 1 from app_public.posts p
     where p.id = post_visible_to.post_id
       and p.deleted_at is null
       and (p.author_id = post_visible_to.user_id
            or (not app_hidden.is_blocked(p.author_id, post_visible_to.user_id)
                and case
                      when p.group_id is null
                           or exists (select 1 from app_public.groups g where g.id = p.group_id and g.group_type = 'public') then
                        p.privacy_level = 'public'
                        or (p.privacy_level = 'friends' and app_hidden.is_friend(p.author_id, post_visible_to.user_id))
                      else
                        p.privacy_level <> 'private'
                        and exists (select 1 from app_public.group_members m
                                     where m.group_id = p.group_id and m.user_id = post_visible_to.user_id and m.status = 'active')
                    end)));
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.post_visible_to(uuid, uuid) is
  E'The visibility rule of policies/posts.sql for a given user (test/tasks/notifications.test.ts checks they agree).';

/**
 * Creates one notification unless it is to the sender, across a block, or already there
 * (same dedupe_key). Returns 1 if created.
 */
create function app_private.create_notification(
  p_recipient uuid, p_sender uuid, p_type text, p_title text, p_message text,
  p_action_url text, p_priority text, p_data jsonb, p_dedupe_key text
) returns int as $$
declare
  v_count int;
begin
  if p_recipient is null or p_recipient = p_sender then
    return 0;
  end if;
  if p_sender is not null and app_hidden.is_blocked(p_sender, p_recipient) then
    return 0;
  end if;
  insert into app_public.notifications
    (recipient_id, sender_id, notification_type, title, message, action_url, priority, data, dedupe_key)
  values
    (p_recipient, p_sender, p_type, p_title, p_message, p_action_url, p_priority, p_data, p_dedupe_key)
  on conflict on constraint idx_notifications_recipient_id_dedupe_key do nothing;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.create_notification(uuid, uuid, text, text, text, text, text, jsonb, text) is
  E'Inserts a notification, keeping the rules: not to yourself, not across a block, not twice.';

/**
 * Adds an actor to the recipient's unread notification about the same thing (`group_key`,
 * within the last hour), or starts a new one. `data.actors` holds distinct actor ids, newest
 * first, so a retried job never counts anyone twice.
 */
create function app_private.coalesce_notification(
  p_recipient uuid, p_actor uuid, p_type text, p_group_key text,
  p_title text, p_action text, p_action_url text, p_priority text, p_data jsonb
) returns int as $$
declare
  v_existing app_public.notifications;
  v_actors jsonb;
  v_others int;
  v_text text;
begin
  if p_recipient is null or p_recipient = p_actor or app_hidden.is_blocked(p_actor, p_recipient) then
    return 0;
  end if;
  select * into v_existing from app_public.notifications n
   where n.recipient_id = p_recipient
     and n.notification_type = p_type
     and n.data->>'group_key' = p_group_key
     and not n.is_read
     and n.created_at > now() - interval '1 hour'
   order by n.created_at desc
   limit 1
   for update;
  v_actors := case
    when v_existing.id is null then jsonb_build_array(p_actor)
    when v_existing.data->'actors' ? p_actor::text then v_existing.data->'actors'
    else jsonb_build_array(p_actor) || (v_existing.data->'actors')
  end;
  v_others := jsonb_array_length(v_actors) - 1;
  v_text := app_private.display_name(p_actor)
         || case when v_others = 0 then ''
                 when v_others = 1 then ' and 1 other'
                 else format(' and %s others', v_others) end
         || ' ' || p_action;
  if v_existing.id is null then
    return app_private.create_notification(
      p_recipient, p_actor, p_type, p_title, v_text, p_action_url, p_priority,
      p_data || jsonb_build_object('group_key', p_group_key, 'actors', v_actors, 'count', v_others + 1),
      p_type || ':' || p_group_key || ':' || gen_random_uuid());
  end if;
  if v_existing.data->'actors' ? p_actor::text then
    return 0;
  end if;
  update app_public.notifications n
     set sender_id = p_actor,
         message = v_text,
         data = n.data || p_data || jsonb_build_object('actors', v_actors, 'count', v_others + 1),
         created_at = now()
   where n.id = v_existing.id;
  return 1;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.coalesce_notification(uuid, uuid, text, text, text, text, text, text, jsonb) is
  E'Folds a new actor into the recipient''s unread notification about the same thing ("Ana and 4 others liked your post").';

/** @username mentions in a text: the users mentioned, once each, who exist. */
create function app_private.mentioned_user_ids(content text) returns setof uuid as $$
  select distinct p.user_id
    from regexp_matches(coalesce(content, ''), '(?:^|[^A-Za-z0-9_@])@([A-Za-z0-9_]{3,50})', 'g') as m(name)
    join app_public.user_profiles p on lower(p.username) = lower(m.name[1]);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.mentioned_user_ids(text) is E'Existing users mentioned as @username in a text.';

/** Creates the notifications for one queued event; returns how many were created or updated. */
create function app_private.notify(event jsonb) returns int as $$
declare
  v_type text := event->>'type';
  v_count int := 0;
  v_friendship app_public.friendships;
  v_post app_public.posts;
  v_comment app_public.comments;
  v_parent app_public.comments;
  v_message app_public.messages;
  v_member app_public.group_members;
  v_event app_public.events;
  v_attendee app_public.event_attendees;
  v_like app_public.likes;
  v_recipient uuid;
  v_name text;
begin
  if v_type in ('friend_request', 'friend_accepted') then
    select * into v_friendship from app_public.friendships where id = (event->>'friendship_id')::uuid;
    if v_type = 'friend_request' and v_friendship.status = 'pending' then
      v_count := app_private.create_notification(
        v_friendship.addressee_id, v_friendship.requester_id, 'friend_request', 'New friend request',
        app_private.display_name(v_friendship.requester_id) || ' wants to be your friend',
        '/friends/requests', 'normal',
        jsonb_build_object('actor_id', v_friendship.requester_id, 'friendship_id', v_friendship.id),
        'friend_request:' || v_friendship.id);
    elsif v_type = 'friend_accepted' and v_friendship.status = 'accepted' then
      v_recipient := (event->>'recipient_id')::uuid;
      v_count := app_private.create_notification(
        v_recipient, (event->>'actor_id')::uuid, 'friend_accepted', 'Friend request accepted',
        app_private.display_name((event->>'actor_id')::uuid) || ' accepted your friend request',
        '/users/' || (event->>'actor_id'), 'normal',
        jsonb_build_object('actor_id', event->>'actor_id', 'friendship_id', v_friendship.id),
        'friend_accepted:' || v_friendship.id);
    end if;

  elsif v_type = 'new_follower' then
    if exists (select 1 from app_public.followers f
                where f.follower_id = (event->>'follower_id')::uuid and f.following_id = (event->>'following_id')::uuid) then
      v_count := app_private.create_notification(
        (event->>'following_id')::uuid, (event->>'follower_id')::uuid, 'new_follower', 'New follower',
        app_private.display_name((event->>'follower_id')::uuid) || ' started following you',
        '/users/' || (event->>'follower_id'), 'low',
        jsonb_build_object('actor_id', event->>'follower_id'),
        'new_follower:' || (event->>'follower_id'));
    end if;

  elsif v_type = 'like' then
    select * into v_like from app_public.likes where id = (event->>'like_id')::uuid;
    if v_like.id is null then
      return 0; -- unliked before we got to it
    end if;
    if v_like.target_type = 'post' then
      select * into v_post from app_public.posts where id = v_like.target_id and deleted_at is null;
      v_count := app_private.coalesce_notification(
        v_post.author_id, v_like.user_id, 'post_like', v_post.id::text, 'New likes', 'liked your post',
        '/posts/' || v_post.id, 'low', jsonb_build_object('post_id', v_post.id, 'actor_id', v_like.user_id));
    else
      select * into v_comment from app_public.comments where id = v_like.target_id;
      v_count := app_private.coalesce_notification(
        v_comment.author_id, v_like.user_id, 'comment_like', v_comment.id::text, 'New likes', 'liked your comment',
        '/posts/' || v_comment.post_id || '#comment-' || v_comment.id, 'low',
        jsonb_build_object('post_id', v_comment.post_id, 'comment_id', v_comment.id, 'actor_id', v_like.user_id));
    end if;

  elsif v_type = 'comment' then
    select * into v_comment from app_public.comments where id = (event->>'comment_id')::uuid;
    if v_comment.id is null then
      return 0;
    end if;
    select * into v_post from app_public.posts where id = v_comment.post_id;
    v_name := app_private.display_name(v_comment.author_id);
    if v_comment.parent_comment_id is not null then
      select * into v_parent from app_public.comments where id = v_comment.parent_comment_id;
      v_count := v_count + app_private.create_notification(
        v_parent.author_id, v_comment.author_id, 'comment_reply', 'New reply',
        v_name || ' replied to your comment', '/posts/' || v_post.id || '#comment-' || v_comment.id, 'normal',
        jsonb_build_object('actor_id', v_comment.author_id, 'post_id', v_post.id, 'comment_id', v_comment.id,
                           'parent_comment_id', v_parent.id),
        'comment_reply:' || v_comment.id);
    end if;
    if v_post.author_id is distinct from v_parent.author_id then
      v_count := v_count + app_private.create_notification(
        v_post.author_id, v_comment.author_id, 'post_comment', 'New comment',
        v_name || ' commented on your post', '/posts/' || v_post.id || '#comment-' || v_comment.id, 'normal',
        jsonb_build_object('actor_id', v_comment.author_id, 'post_id', v_post.id, 'comment_id', v_comment.id),
        'post_comment:' || v_comment.id);
    end if;
    for v_recipient in select app_private.mentioned_user_ids(v_comment.content) loop
      -- the post's author and the replied-to author have already heard of this comment
      if v_recipient is distinct from v_post.author_id and v_recipient is distinct from v_parent.author_id
         and app_hidden.post_visible_to(v_post.id, v_recipient) then
        v_count := v_count + app_private.create_notification(
          v_recipient, v_comment.author_id, 'mention', 'You were mentioned',
          v_name || ' mentioned you in a comment', '/posts/' || v_post.id || '#comment-' || v_comment.id, 'normal',
          jsonb_build_object('actor_id', v_comment.author_id, 'post_id', v_post.id, 'comment_id', v_comment.id),
          'mention:comment:' || v_comment.id);
      end if;
    end loop;

  elsif v_type = 'post' then
    select * into v_post from app_public.posts where id = (event->>'post_id')::uuid and deleted_at is null;
    if v_post.id is null then
      return 0;
    end if;
    for v_recipient in select app_private.mentioned_user_ids(v_post.content) loop
      if app_hidden.post_visible_to(v_post.id, v_recipient) then
        v_count := v_count + app_private.create_notification(
          v_recipient, v_post.author_id, 'mention', 'You were mentioned',
          app_private.display_name(v_post.author_id) || ' mentioned you in a post', '/posts/' || v_post.id, 'normal',
          jsonb_build_object('actor_id', v_post.author_id, 'post_id', v_post.id),
          'mention:post:' || v_post.id);
      end if;
    end loop;

  elsif v_type = 'message' then
    select * into v_message from app_public.messages where id = (event->>'message_id')::uuid;
    if v_message.id is null or v_message.is_deleted then
      return 0;
    end if;
    for v_recipient in
      select p.user_id from app_public.conversation_participants p
       where p.conversation_id = v_message.conversation_id and p.left_at is null
         and not p.is_muted and p.user_id <> v_message.sender_id
    loop
      v_count := v_count + app_private.coalesce_notification(
        v_recipient, v_message.sender_id, 'message', v_message.conversation_id::text, 'New messages',
        'sent you a message', '/conversations/' || v_message.conversation_id, 'high',
        jsonb_build_object('conversation_id', v_message.conversation_id, 'message_id', v_message.id,
                           'actor_id', v_message.sender_id));
    end loop;

  elsif v_type = 'group_member' then
    select * into v_member from app_public.group_members where id = (event->>'member_id')::uuid;
    if v_member.id is null then
      return 0;
    end if;
    v_name := (select g.name from app_public.groups g where g.id = v_member.group_id);
    if event->>'change' = 'request' and v_member.status = 'pending' and v_member.invited_by is null then
      for v_recipient in
        select m.user_id from app_public.group_members m
         where m.group_id = v_member.group_id and m.status = 'active' and m.role in ('admin', 'moderator')
      loop
        v_count := v_count + app_private.create_notification(
          v_recipient, v_member.user_id, 'group_join_request', 'Request to join ' || v_name,
          app_private.display_name(v_member.user_id) || ' asked to join ' || v_name,
          '/groups/' || v_member.group_id || '/requests', 'normal',
          jsonb_build_object('actor_id', v_member.user_id, 'group_id', v_member.group_id, 'member_id', v_member.id),
          'group_join_request:' || v_member.id);
      end loop;
    elsif event->>'change' = 'approved' and v_member.status = 'active' then
      v_count := app_private.create_notification(
        v_member.user_id, (event->>'actor_id')::uuid, 'group_request_approved', 'Welcome to ' || v_name,
        'Your request to join ' || v_name || ' was approved', '/groups/' || v_member.group_id, 'normal',
        jsonb_build_object('actor_id', event->>'actor_id', 'group_id', v_member.group_id),
        'group_request_approved:' || v_member.id);
    elsif event->>'change' = 'invite' and v_member.status = 'pending' and v_member.invited_by is not null then
      v_count := app_private.create_notification(
        v_member.user_id, v_member.invited_by, 'group_invite', 'Invitation to ' || v_name,
        app_private.display_name(v_member.invited_by) || ' invited you to join ' || v_name,
        '/groups/' || v_member.group_id, 'normal',
        jsonb_build_object('actor_id', v_member.invited_by, 'group_id', v_member.group_id, 'member_id', v_member.id),
        'group_invite:' || v_member.id);
    end if;

  elsif v_type = 'rsvp' then
    select * into v_attendee from app_public.event_attendees where id = (event->>'attendee_id')::uuid;
    if v_attendee.id is null or v_attendee.status = 'not_going' then
      return 0;
    end if;
    select * into v_event from app_public.events where id = v_attendee.event_id;
    v_count := app_private.create_notification(
      v_event.created_by, v_attendee.user_id, 'event_rsvp', 'New answer to ' || v_event.title,
      app_private.display_name(v_attendee.user_id) || case v_attendee.status when 'going' then ' is going to '
                                                                          else ' might come to ' end || v_event.title,
      '/events/' || v_event.id, 'low',
      jsonb_build_object('actor_id', v_attendee.user_id, 'event_id', v_event.id, 'status', v_attendee.status),
      'event_rsvp:' || v_attendee.id || ':' || v_attendee.status);

  elsif v_type = 'event_cancelled' then
    select * into v_event from app_public.events where id = (event->>'event_id')::uuid;
    if not coalesce(v_event.is_cancelled, false) then
      return 0;
    end if;
    for v_recipient in
      select a.user_id from app_public.event_attendees a
       where a.event_id = v_event.id and a.status in ('going', 'maybe')
    loop
      v_count := v_count + app_private.create_notification(
        v_recipient, v_event.created_by, 'event_cancelled', v_event.title || ' is cancelled',
        app_private.display_name(v_event.created_by) || ' cancelled ' || v_event.title,
        '/events/' || v_event.id, 'high',
        jsonb_build_object('actor_id', v_event.created_by, 'event_id', v_event.id),
        'event_cancelled:' || v_event.id);
    end loop;
  else
    raise exception 'notify: unknown event type %', v_type;
  end if;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.notify(jsonb) is
  E'Creates the notifications one queued event calls for (the README lists every type). Idempotent: a retried job creates nothing twice.';

-- The triggers that queue notification events.

create function app_private.tg_friendships__notify() returns trigger as $$
begin
  if TG_OP = 'INSERT' and NEW.status = 'pending' then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'friend_request', 'friendship_id', NEW.id));
  elsif TG_OP = 'INSERT' and NEW.status = 'accepted' then
    -- a request sent back to someone who asked: the first asker hears it was accepted
    perform app_private.enqueue_notification(jsonb_build_object(
      'type', 'friend_accepted', 'friendship_id', NEW.id, 'recipient_id', NEW.addressee_id, 'actor_id', NEW.requester_id));
  elsif TG_OP = 'UPDATE' and OLD.status = 'pending' and NEW.status = 'accepted' then
    perform app_private.enqueue_notification(jsonb_build_object(
      'type', 'friend_accepted', 'friendship_id', NEW.id, 'recipient_id', NEW.requester_id, 'actor_id', NEW.addressee_id));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_friendships__notify() is E'Friend requests and acceptances notify.';
create trigger _600_notify after insert or update of status on app_public.friendships
  for each row execute function app_private.tg_friendships__notify();

create function app_private.tg_followers__notify() returns trigger as $$
begin
  perform app_private.enqueue_notification(jsonb_build_object(
    'type', 'new_follower', 'follower_id', NEW.follower_id, 'following_id', NEW.following_id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_followers__notify() is E'A new follower notifies.';
create trigger _600_notify after insert on app_public.followers
  for each row execute function app_private.tg_followers__notify();

create function app_private.tg_likes__notify() returns trigger as $$
begin
  -- likes of one target within a second are handled by one job
  perform app_private.enqueue_notification(
    jsonb_build_object('type', 'like', 'like_id', NEW.id),
    'notify:like:' || NEW.target_type || ':' || NEW.target_id);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_likes__notify() is E'A like notifies (coalesced per target).';
create trigger _600_notify after insert on app_public.likes
  for each row execute function app_private.tg_likes__notify();

create function app_private.tg_comments__notify() returns trigger as $$
begin
  perform app_private.enqueue_notification(jsonb_build_object('type', 'comment', 'comment_id', NEW.id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_comments__notify() is E'A comment notifies the post''s author, the replied-to author and those mentioned.';
create trigger _600_notify after insert on app_public.comments
  for each row execute function app_private.tg_comments__notify();

create function app_private.tg_posts__notify() returns trigger as $$
begin
  if NEW.deleted_at is null and (TG_OP = 'INSERT' or NEW.content is distinct from OLD.content)
     and NEW.content ~ '@[A-Za-z0-9_]{3,}' then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'post', 'post_id', NEW.id));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_posts__notify() is E'A post mentioning @someone notifies them.';
create trigger _600_notify after insert or update of content on app_public.posts
  for each row execute function app_private.tg_posts__notify();

create function app_private.tg_messages__notify() returns trigger as $$
begin
  perform app_private.enqueue_notification(
    jsonb_build_object('type', 'message', 'message_id', NEW.id),
    'notify:message:' || NEW.conversation_id);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__notify() is E'A message notifies the other participants (coalesced per conversation).';
create trigger _600_notify after insert on app_public.messages
  for each row execute function app_private.tg_messages__notify();

create function app_private.tg_group_members__notify() returns trigger as $$
begin
  if TG_OP = 'INSERT' and NEW.status = 'pending' then
    perform app_private.enqueue_notification(jsonb_build_object(
      'type', 'group_member', 'member_id', NEW.id,
      'change', case when NEW.invited_by is null then 'request' else 'invite' end));
  elsif TG_OP = 'UPDATE' and OLD.status = 'pending' and NEW.status = 'active' and NEW.invited_by is null then
    perform app_private.enqueue_notification(jsonb_build_object(
      'type', 'group_member', 'member_id', NEW.id, 'change', 'approved', 'actor_id', app_public.current_user_id()));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_group_members__notify() is E'Join requests, approvals and invitations notify.';
create trigger _600_notify after insert or update of status on app_public.group_members
  for each row execute function app_private.tg_group_members__notify();

create function app_private.tg_event_attendees__notify() returns trigger as $$
begin
  if TG_OP = 'INSERT' or NEW.status is distinct from OLD.status then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'rsvp', 'attendee_id', NEW.id));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_event_attendees__notify() is E'An RSVP notifies the organiser.';
create trigger _600_notify after insert or update of status on app_public.event_attendees
  for each row execute function app_private.tg_event_attendees__notify();

create function app_private.tg_events__notify() returns trigger as $$
begin
  if NEW.is_cancelled and not coalesce(OLD.is_cancelled, false) then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'event_cancelled', 'event_id', NEW.id));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_events__notify() is E'Cancelling an event notifies everyone going or maybe going.';
create trigger _600_notify after update of is_cancelled on app_public.events
  for each row execute function app_private.tg_events__notify();

--------------------------------------------------------------------------------------------------
-- E-mail log, worker liveness
--------------------------------------------------------------------------------------------------

create table app_private.email_deliveries (
  id           bigint generated always as identity primary key,
  template     text not null,
  user_id      uuid,
  recipient    text not null,
  status       text not null
               constraint ck_email_deliveries_status check (status in ('sent', 'failed')),
  attempts     int not null,
  detail       text,
  created_at   timestamptz not null default now()
);
create index idx_email_deliveries_created_at on app_private.email_deliveries (created_at);
comment on table app_private.email_deliveries is
  E'Every e-mail sent, and every one given up on (a permanent failure, or the last attempt), with why.';

create table app_private.worker_instances (
  id                  text primary key,
  hostname            text,
  pid                 int,
  -- each pool is judged by its own interval: pools configured differently can share a database
  heartbeat_interval  interval not null,
  started_at          timestamptz not null default now(),
  heartbeat_at        timestamptz not null default now()
);
comment on table app_private.worker_instances is
  E'Running worker pools (graphile-worker pool id: what its jobs are locked by) and their last heartbeat: jobs locked by a pool that stopped beating are handed back (src/worker.ts).';

create function app_private.worker_heartbeat(p_id text, p_hostname text, p_pid int, p_interval interval)
returns void as $$
  insert into app_private.worker_instances (id, hostname, pid, heartbeat_interval)
  values (p_id, p_hostname, p_pid, p_interval)
  on conflict (id) do update set heartbeat_at = now(), heartbeat_interval = excluded.heartbeat_interval;
$$ language sql volatile;
comment on function app_private.worker_heartbeat(text, text, int, interval) is
  E'A worker pool says it is alive, and how often it will say so (WORKER_HEARTBEAT_MS).';

create function app_private.silent_worker_pools(p_missed_beats int)
returns setof text as $$
  select id from app_private.worker_instances
   where heartbeat_at < now() - p_missed_beats * heartbeat_interval;
$$ language sql stable;
comment on function app_private.silent_worker_pools(int) is
  E'Worker pools that missed that many of their own heartbeats (killed or cut off): their jobs may be handed to others.';

--------------------------------------------------------------------------------------------------
-- Maintenance (scheduled in src/crontab)
--------------------------------------------------------------------------------------------------

create function app_private.cleanup_orphaned_likes() returns int as $$
declare
  v_count int;
begin
  delete from app_public.likes l
   where (l.target_type = 'post' and not exists (select 1 from app_public.posts p where p.id = l.target_id))
      or (l.target_type = 'comment' and not exists (select 1 from app_public.comments c where c.id = l.target_id));
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.cleanup_orphaned_likes() is E'Deletes likes whose post or comment no longer exists.';

create function app_private.purge_expired_secrets(out refresh_tokens int, out user_tokens int, out login_attempts int) as $$
begin
  delete from app_private.refresh_tokens
   where expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day';
  get diagnostics refresh_tokens = row_count;
  delete from app_private.user_tokens
   where expires_at < now() - interval '1 day' or used_at < now() - interval '1 day';
  get diagnostics user_tokens = row_count;
  delete from app_private.login_attempts where attempted_at < now() - interval '1 day';
  get diagnostics login_attempts = row_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_expired_secrets() is
  E'Deletes refresh and one-time tokens expired, revoked or used more than a day ago, and old failed-login rows.';

create function app_private.purge_deleted_content(retention interval, out posts int, out messages int) as $$
begin
  delete from app_public.posts where deleted_at < now() - retention;
  get diagnostics posts = row_count;
  delete from app_public.messages where is_deleted and deleted_at < now() - retention;
  get diagnostics messages = row_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_deleted_content(interval) is
  E'Deletes posts and messages soft-deleted longer ago than the retention period (likes of purged posts go with the orphan cleanup).';

create function app_private.purge_read_notifications(retention interval) returns int as $$
declare
  v_count int;
begin
  delete from app_public.notifications where is_read and coalesce(read_at, created_at) < now() - retention;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_read_notifications(interval) is E'Deletes notifications read longer ago than the retention period.';

-- Trending posts: an aggregation worth precomputing, refreshed concurrently on a schedule.
create materialized view app_private.trending_post_scores as
  select p.id as post_id,
         (count(l.id) + 2 * p.comments_count + 3 * p.shares_count)::numeric
           / power(extract(epoch from (now() - p.created_at)) / 3600 + 2, 1.5) as score
    from app_public.posts p
    left join app_public.likes l
      on l.target_type = 'post' and l.target_id = p.id and l.created_at > now() - interval '2 days'
   where p.deleted_at is null and p.created_at > now() - interval '2 days'
   group by p.id;
create unique index idx_trending_post_scores_post_id on app_private.trending_post_scores (post_id);
create index idx_trending_post_scores_score on app_private.trending_post_scores (score desc);
comment on materialized view app_private.trending_post_scores is
  E'Scores of the last two days'' posts by recent likes, comments and shares, decaying with age. Refreshed every ten minutes by the worker.';

create function app_private.refresh_views() returns void as $$
begin
  refresh materialized view concurrently app_private.trending_post_scores;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.refresh_views() is E'Refreshes the materialised views (concurrently: readers are never blocked).';

create function app_hidden.trending_scores() returns table (post_id uuid, score numeric) as $$
  select post_id, score from app_private.trending_post_scores;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.trending_scores() is E'The precomputed trending scores (visibility is applied by the caller''s row-level security on posts).';

create function app_public.trending_posts() returns setof app_public.posts as $$
  select p.* from app_public.posts p
    join app_hidden.trending_scores() s on s.post_id = p.id
   order by s.score desc, p.id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.trending_posts() is
  E'Posts of the last two days you can see, most popular first (refreshed every ten minutes).';
