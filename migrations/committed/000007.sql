--! Previous: sha1:aeab693844d589149ca08d02a4bed44f65635d6b
--! Hash: sha1:832080be19ca52db0bcdc9f4c041b5e67d2df522

/*
 * 0007 — notifications that are never lost, never doubled and always fit.
 *
 * - Every notification event is its own job (no job key): graphile-worker 0.18 gives up a
 *   *running* job whose key is added again, so batching events under a shared key could lose
 *   them. Coalescing happens in SQL instead, serialised per (recipient, type, group key) by a
 *   transaction advisory lock, so two jobs about the same post never start two notifications.
 * - Coalesced types (post_like, comment_like, message) record each event they handled per
 *   recipient in app_private.handled_notification_events (`like:<id>`, `message:<id>`): a retried
 *   job never notifies twice, even after the recipient read the notification in between.
 *   A new event from someone already listed still refreshes the notification (newest message
 *   id, time, pg_notify).
 * - Titles are cut to the column's 200 characters (event titles keep their " is cancelled").
 * - A user without a profile row is "Someone", never a NULL message.
 * - Editing a comment notifies the users it newly mentions, as editing a post does.
 */

--------------------------------------------------------------------------------------------------
-- Texts that fit
--------------------------------------------------------------------------------------------------

create or replace function app_private.ellipsize(value text, max_length int) returns text as $$
  select case when char_length(value) <= max_length then value
              else rtrim(left(value, max_length - 1)) || '…' end;
$$ language sql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.ellipsize(text, int) is
  E'The text, cut to at most `max_length` characters with an ellipsis when it was longer.';

create or replace function app_private.display_name(user_id uuid) returns text as $$
  select coalesce(
    (select coalesce(nullif(btrim(p.display_name), ''), p.username)
       from app_public.user_profiles p where p.user_id = display_name.user_id),
    'Someone');
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.display_name(uuid) is
  E'How a user is named in notification texts ("Someone" for a user without a profile).';

create or replace function app_private.create_notification(
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
    (p_recipient, p_sender, p_type, app_private.ellipsize(p_title, 200), p_message, p_action_url,
     p_priority, p_data, p_dedupe_key)
  on conflict on constraint idx_notifications_recipient_id_dedupe_key do nothing;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.create_notification(uuid, uuid, text, text, text, text, text, jsonb, text) is
  E'Inserts a notification, keeping the rules: not to yourself, not across a block, not twice; a title longer than 200 characters is cut.';

--------------------------------------------------------------------------------------------------
-- Coalescing: each event once, one unread notification per thing
--------------------------------------------------------------------------------------------------

create table if not exists app_private.handled_notification_events (
  recipient_id  uuid not null
                constraint fk_handled_notification_events_recipient_id
                references app_public.users (id) on delete cascade,
  event_key     text not null,
  handled_at    timestamptz not null default now(),
  constraint pk_handled_notification_events primary key (recipient_id, event_key)
);
create index if not exists idx_handled_notification_events_handled_at
  on app_private.handled_notification_events (handled_at);
comment on table app_private.handled_notification_events is
  E'Events (`like:<like id>`, `message:<message id>`) already folded into a recipient''s coalesced notification: a retried job skips them, so a like or a message never notifies twice. Purged with read notifications.';

drop function if exists app_private.coalesce_notification(uuid, uuid, text, text, text, text, text, text, jsonb);

/**
 * Adds an actor to the recipient's unread notification about the same thing (`group_key`,
 * within the last hour), or starts a new one; each event (`event_key`) once per recipient.
 * `data.actors` holds distinct actor ids, newest first.
 */
create or replace function app_private.coalesce_notification(
  p_recipient uuid, p_actor uuid, p_type text, p_group_key text, p_event_key text,
  p_title text, p_action text, p_action_url text, p_priority text, p_data jsonb
) returns int as $$
declare
  v_existing app_public.notifications;
  v_actors jsonb;
  v_others int;
  v_text text;
  v_handled int;
begin
  if p_recipient is null or p_recipient = p_actor or app_hidden.is_blocked(p_actor, p_recipient) then
    return 0;
  end if;
  -- one job at a time per recipient and thing: two concurrent jobs would both find no unread
  -- notification and both insert one (held until commit; the next statement sees its work)
  perform pg_advisory_xact_lock(
    hashtext('app_private.coalesce_notification'),
    hashtext(p_recipient::text || ':' || p_type || ':' || p_group_key));
  insert into app_private.handled_notification_events (recipient_id, event_key)
  values (p_recipient, p_event_key)
  on conflict do nothing;
  get diagnostics v_handled = row_count;
  if v_handled = 0 then
    return 0; -- this event was handled before (a retried job)
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
  v_actors := jsonb_build_array(p_actor)
              || (coalesce(v_existing.data->'actors', '[]'::jsonb) - p_actor::text);
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
      p_type || ':' || p_group_key || ':' || p_event_key);
  end if;
  -- newest actor, event ids and time; the update is announced like an insert (_900_announce)
  update app_public.notifications n
     set sender_id = p_actor,
         message = v_text,
         data = n.data || p_data || jsonb_build_object('actors', v_actors, 'count', v_others + 1),
         created_at = now()
   where n.id = v_existing.id;
  return 1;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.coalesce_notification(uuid, uuid, text, text, text, text, text, text, text, jsonb) is
  E'Folds a new event into the recipient''s unread notification about the same thing ("Ana and 4 others liked your post"), each event once.';

--------------------------------------------------------------------------------------------------
-- Who is told what
--------------------------------------------------------------------------------------------------

/** Mentions in a comment: those mentioned who can see the post and have not heard of the comment. */
create or replace function app_private.notify_comment_mentions(p_comment app_public.comments) returns int as $$
declare
  v_post app_public.posts;
  v_parent_author uuid;
  v_recipient uuid;
  v_count int := 0;
begin
  select * into v_post from app_public.posts where id = p_comment.post_id;
  select c.author_id into v_parent_author from app_public.comments c where c.id = p_comment.parent_comment_id;
  for v_recipient in select app_private.mentioned_user_ids(p_comment.content) loop
    -- the post's author and the replied-to author have already heard of this comment
    if v_recipient is distinct from v_post.author_id and v_recipient is distinct from v_parent_author
       and app_hidden.post_visible_to(v_post.id, v_recipient) then
      v_count := v_count + app_private.create_notification(
        v_recipient, p_comment.author_id, 'mention', 'You were mentioned',
        app_private.display_name(p_comment.author_id) || ' mentioned you in a comment',
        '/posts/' || v_post.id || '#comment-' || p_comment.id, 'normal',
        jsonb_build_object('actor_id', p_comment.author_id, 'post_id', v_post.id, 'comment_id', p_comment.id),
        'mention:comment:' || p_comment.id);
    end if;
  end loop;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.notify_comment_mentions(app_public.comments) is
  E'Notifies the users a comment mentions (once each per comment, so an edit tells only the newly mentioned).';

/** Creates the notifications for one queued event; returns how many were created or updated. */
create or replace function app_private.notify(event jsonb) returns int as $$
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
        v_post.author_id, v_like.user_id, 'post_like', v_post.id::text, 'like:' || v_like.id,
        'New likes', 'liked your post', '/posts/' || v_post.id, 'low',
        jsonb_build_object('post_id', v_post.id, 'actor_id', v_like.user_id));
    else
      select * into v_comment from app_public.comments where id = v_like.target_id;
      v_count := app_private.coalesce_notification(
        v_comment.author_id, v_like.user_id, 'comment_like', v_comment.id::text, 'like:' || v_like.id,
        'New likes', 'liked your comment', '/posts/' || v_comment.post_id || '#comment-' || v_comment.id, 'low',
        jsonb_build_object('post_id', v_comment.post_id, 'comment_id', v_comment.id, 'actor_id', v_like.user_id));
    end if;

  elsif v_type in ('comment', 'comment_mentions') then
    select * into v_comment from app_public.comments where id = (event->>'comment_id')::uuid;
    if v_comment.id is null then
      return 0;
    end if;
    if v_type = 'comment' then
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
    end if;
    -- an edited comment ('comment_mentions') tells only those it newly mentions (dedupe_key)
    v_count := v_count + app_private.notify_comment_mentions(v_comment);

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
        v_recipient, v_message.sender_id, 'message', v_message.conversation_id::text, 'message:' || v_message.id,
        'New messages', 'sent you a message', '/conversations/' || v_message.conversation_id, 'high',
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
      v_event.created_by, v_attendee.user_id, 'event_rsvp',
      'New answer to ' || app_private.ellipsize(v_event.title, 200 - char_length('New answer to ')),
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
        v_recipient, v_event.created_by, 'event_cancelled',
        app_private.ellipsize(v_event.title, 200 - char_length(' is cancelled')) || ' is cancelled',
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

--------------------------------------------------------------------------------------------------
-- Queueing: one job per event
--------------------------------------------------------------------------------------------------

drop function if exists app_private.enqueue_notification(jsonb, text);
create or replace function app_private.enqueue_notification(event jsonb) returns void as $$
begin
  -- no job_key: adding a key that a running job holds makes graphile-worker give that job up,
  -- and its events would be lost if it then failed; coalescing is done in SQL instead
  perform graphile_worker.add_job('notifications__create', json_build_array(event), max_attempts := 10);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.enqueue_notification(jsonb) is
  E'Queues one event for notifications__create (its own job, run at once).';

create or replace function app_private.tg_likes__notify() returns trigger as $$
begin
  perform app_private.enqueue_notification(jsonb_build_object('type', 'like', 'like_id', NEW.id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_likes__notify() is E'A like notifies (coalesced per target when the job runs).';

create or replace function app_private.tg_messages__notify() returns trigger as $$
begin
  perform app_private.enqueue_notification(jsonb_build_object('type', 'message', 'message_id', NEW.id));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__notify() is E'A message notifies the other participants (coalesced per conversation when the job runs).';

create or replace function app_private.tg_comments__notify() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'comment', 'comment_id', NEW.id));
  elsif NEW.content is distinct from OLD.content and NEW.content ~ '@[A-Za-z0-9_]{3,}' then
    perform app_private.enqueue_notification(jsonb_build_object('type', 'comment_mentions', 'comment_id', NEW.id));
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_comments__notify() is
  E'A comment notifies the post''s author, the replied-to author and those mentioned; an edit, those newly mentioned.';
drop trigger if exists _600_notify on app_public.comments;
create trigger _600_notify after insert or update of content on app_public.comments
  for each row execute function app_private.tg_comments__notify();

--------------------------------------------------------------------------------------------------
-- Maintenance
--------------------------------------------------------------------------------------------------

drop function if exists app_private.purge_read_notifications(interval);
create or replace function app_private.purge_read_notifications(
  retention interval, out notifications int, out handled_events int
) as $$
begin
  delete from app_public.notifications where is_read and coalesce(read_at, created_at) < now() - retention;
  get diagnostics notifications = row_count;
  delete from app_private.handled_notification_events where handled_at < now() - retention;
  get diagnostics handled_events = row_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_read_notifications(interval) is
  E'Deletes notifications read longer ago than the retention period, and the record of events handled that long ago.';
