--! Previous: sha1:f05df14ff81be86a1ea9722a736a620f7675f89d
--! Hash: sha1:4a4b4d2bfc8fee30fe661d50c1d2a4046970f783
--! Message: One group size limit: app_hidden.max_group_participants()

-- Enter migration here

-- ==== one group size limit ====
/*
 * The size limit of a group conversation was written in three functions (migration 000015):
 * now one function says it, and the three read it. addConversationParticipants' own count after
 * its loop is dropped: the participants trigger refuses the one too many first (same code,
 * message and field), so it could never fire. No behaviour changes
 * (test/api/groupConversationSize.test.ts: 1,024 accepted, 1,025 refused, both mutations).
 */
create or replace function app_hidden.max_group_participants() returns integer as $$
  select 1024
$$ language sql immutable parallel safe;
comment on function app_hidden.max_group_participants() is
  E'The most current participants a group conversation may have (the creator included).';

create or replace function app_public.create_group_conversation(title text, participant_ids uuid[]) returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_user();
  v_conversation app_public.conversations;
  v_id uuid;
begin
  if coalesce(btrim(title), '') = '' or char_length(title) > 100 then
    raise exception 'A group conversation needs a title of at most 100 characters' using errcode = 'INVAL', detail = 'field=title';
  end if;
  if cardinality(participant_ids) > app_hidden.max_group_participants() - 1 then
    raise exception 'A group conversation has at most % participants', app_hidden.max_group_participants()
      using errcode = 'INVAL', detail = 'field=participant_ids';
  end if;
  foreach v_id in array coalesce(participant_ids, '{}') loop
    if v_id is distinct from v_me then
      perform app_hidden.require_addable_user(v_id, 'participant_ids');
    end if;
  end loop;
  -- no RETURNING: the new row is visible to its creator only once the trigger has made them
  -- a participant, and RETURNING is checked against the select policy before that
  v_conversation.id := gen_random_uuid();
  insert into app_public.conversations (id, conversation_type, title, created_by)
  values (v_conversation.id, 'group', btrim(title), v_me);
  select * into v_conversation from app_public.conversations c where c.id = v_conversation.id;
  -- one statement for everyone (was one per person): the policies' subqueries run once
  insert into app_public.conversation_participants (conversation_id, user_id)
  select v_conversation.id, p.id
    from unnest(participant_ids) with ordinality p(id, k)
   where p.id <> v_me
   order by p.k
  on conflict (conversation_id, user_id) do nothing;
  return v_conversation;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_group_conversation(text, uuid[]) is
  E'Start a group conversation with a title and people you can see (not across a block); you are its admin.';

create or replace function app_public.add_conversation_participants(conversation_id uuid, user_ids uuid[])
returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_conversation_admin(conversation_id);
  v_id uuid;
begin
  foreach v_id in array coalesce(user_ids, '{}') loop
    if v_id = v_me then
      continue;
    end if;
    perform app_hidden.require_addable_user(v_id, 'user_ids');
    insert into app_public.conversation_participants (conversation_id, user_id)
    values (add_conversation_participants.conversation_id, v_id)
    on conflict on constraint conversation_participants_conversation_id_user_id_key
    do update set left_at = null, joined_at = now() where conversation_participants.left_at is not null;
  end loop;
  -- the size limit is the participants trigger's (_200_limit): it refuses the insert or return
  -- that would make one too many, before this loop ends
  return (select c from app_public.conversations c where c.id = add_conversation_participants.conversation_id);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.add_conversation_participants(uuid, uuid[]) is
  E'Add people to a group conversation you administer (people who left come back); not across a block.';

create or replace function app_private.tg_conversation_participants__limit() returns trigger as $$
begin
  if NEW.left_at is null and (TG_OP = 'INSERT' or OLD.left_at is not null) then
    perform pg_advisory_xact_lock(hashtextextended(NEW.conversation_id::text, 31));
    if (select count(*) from app_public.conversation_participants p
         where p.conversation_id = NEW.conversation_id and p.left_at is null and p.id <> NEW.id)
       >= app_hidden.max_group_participants() then
      raise exception 'A group conversation has at most % participants', app_hidden.max_group_participants()
        using errcode = 'INVAL', detail = 'field=user_ids';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversation_participants__limit() is
  E'Refuses a current participant beyond app_hidden.max_group_participants().';
