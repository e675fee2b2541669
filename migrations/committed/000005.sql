--! Previous: sha1:f41cf81fca2d8bcdebd75a4b344086d0ce3ba737
--! Hash: sha1:26f536972c5052d5667aecb75a24bccad9ce3f92

/*
 * 0005 — realtime: what changes are announced, on which channel.
 *
 * Triggers publish ids only (pg_notify, delivered at commit); the API's subscriptions
 * (plugins/realtime.ts) re-read every row under the subscriber's own role, so row-level
 * security decides what anyone receives. Channels:
 *
 * - `conversation:<id>`          {"op": "insert" | "update", "id": <message id>}
 * - `conversation:<id>:typing`   {"user_id": <who is typing>}   (app_hidden.send_typing; never stored)
 * - `user:<id>:conversations`    {"conversation_id": …, "reason": "message" | "conversation" | "participants" | "read" | "muted"}
 * - `user:<id>:notifications`    {"id": …, "op": …}             (migration 0004)
 */

create function app_private.tg_messages__announce() returns trigger as $$
declare
  v_user uuid;
begin
  perform pg_notify(
    'conversation:' || NEW.conversation_id,
    json_build_object('op', lower(TG_OP), 'id', NEW.id)::text
  );
  if TG_OP = 'INSERT' then
    for v_user in
      select p.user_id from app_public.conversation_participants p
       where p.conversation_id = NEW.conversation_id and p.left_at is null
    loop
      perform pg_notify(
        'user:' || v_user || ':conversations',
        json_build_object('conversation_id', NEW.conversation_id, 'reason', 'message')::text
      );
    end loop;
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__announce() is
  E'A new or changed message is announced on conversation:<id>, and a new one also on each participant''s user:<id>:conversations.';
create trigger _900_announce after insert or update on app_public.messages
  for each row execute function app_private.tg_messages__announce();

create function app_private.tg_conversations__announce() returns trigger as $$
declare
  v_user uuid;
begin
  if (NEW.title, NEW.description, NEW.avatar_url) is distinct from (OLD.title, OLD.description, OLD.avatar_url) then
    for v_user in
      select p.user_id from app_public.conversation_participants p
       where p.conversation_id = NEW.id and p.left_at is null
    loop
      perform pg_notify(
        'user:' || v_user || ':conversations',
        json_build_object('conversation_id', NEW.id, 'reason', 'conversation')::text
      );
    end loop;
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversations__announce() is
  E'A renamed (or re-described) conversation is announced to its participants.';
create trigger _900_announce after update on app_public.conversations
  for each row execute function app_private.tg_conversations__announce();

create function app_private.tg_conversation_participants__announce() returns trigger as $$
declare
  v_row app_public.conversation_participants := coalesce(NEW, OLD);
  v_user uuid;
begin
  if TG_OP = 'UPDATE' and NEW.left_at is not distinct from OLD.left_at
     and NEW.role is not distinct from OLD.role then
    -- only this participant's own state changed: read up to, or muted
    if NEW.last_read_at is distinct from OLD.last_read_at or NEW.is_muted is distinct from OLD.is_muted then
      perform pg_notify(
        'user:' || NEW.user_id || ':conversations',
        json_build_object('conversation_id', NEW.conversation_id,
                          'reason', case when NEW.is_muted is distinct from OLD.is_muted then 'muted' else 'read' end)::text
      );
    end if;
    return null;
  end if;
  -- someone joined, left, was removed or changed role: everyone in it (and they) hear of it
  for v_user in
    select p.user_id from app_public.conversation_participants p
     where p.conversation_id = v_row.conversation_id and (p.left_at is null or p.user_id = v_row.user_id)
    union
    select v_row.user_id
  loop
    perform pg_notify(
      'user:' || v_user || ':conversations',
      json_build_object('conversation_id', v_row.conversation_id, 'reason', 'participants')::text
    );
  end loop;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversation_participants__announce() is
  E'Joining, leaving and role changes are announced to the conversation''s participants; reading and muting to the participant.';
create trigger _900_announce after insert or update or delete on app_public.conversation_participants
  for each row execute function app_private.tg_conversation_participants__announce();

create function app_hidden.send_typing(conversation_id uuid) returns boolean as $$
begin
  if app_public.current_user_id() is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  if not app_hidden.can_send_to(send_typing.conversation_id) then
    raise exception 'You cannot send to this conversation' using errcode = 'DNIED';
  end if;
  perform pg_notify(
    'conversation:' || send_typing.conversation_id || ':typing',
    json_build_object('user_id', app_public.current_user_id())::text
  );
  return true;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.send_typing(uuid) is
  E'Announces that the current user is typing in a conversation they may send to. Nothing is stored.';

/** Whether the current user may follow a conversation live: a participant who has not left. */
create function app_hidden.is_active_participant(conversation_id uuid) returns boolean as $$
  select exists (select 1 from app_hidden.active_conversation_ids() c where c = is_active_participant.conversation_id);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.is_active_participant(uuid) is
  E'Whether the current user takes part in the conversation now (subscriptions check it at the start and for every event).';
