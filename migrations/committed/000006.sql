--! Previous: sha1:26f536972c5052d5667aecb75a24bccad9ce3f92
--! Hash: sha1:aeab693844d589149ca08d02a4bed44f65635d6b

/*
 * 0006 — the rules hold on every path: generated CRUD, the SQL functions and direct SQL as the
 * API roles (audit of issues #3 and #4).
 *
 * What was a check inside one mutation is now a trigger or a constraint, so the generated
 * createX/updateX/deleteX mutations obey it too:
 *
 * - a block, however it is written, ends the pair's friendship or requests and their follows;
 * - a group keeps an active admin while it has other active members (leaving, demotion, ban,
 *   removal); deleting the group or the account still cascades;
 * - a deleted message stays deleted, its content gone;
 * - a post has at most 10 media files, and needs text or media (checked at commit, so a post
 *   and then its media can be written in one transaction); a message needs text or a file
 *   unless deleted; replies nest one level (a reply to a reply answers the top comment);
 * - group conversations refuse people on either side of a block, like direct ones;
 * - `created_at` of the keyset-paginated tables is never null (a check, the column stays
 *   nullable as the design says; `@notNull` tells PostGraphile, whose cursor conditions then
 *   compare (created_at, id) as a tuple, index-friendly);
 * - every mutation that needs a signed-in user calls app_hidden.require_user() first, so an
 *   anonymous caller gets UNAUTHENTICATED rather than a permission error (policies/ grants
 *   them EXECUTE);
 * - account deletions record the client address and user agent of the request.
 */

--------------------------------------------------------------------------------------------------
-- Blocking
--------------------------------------------------------------------------------------------------

-- A block (one row per blocker, status `blocked`) ends any request or friendship between the
-- two, and their follows both ways: before the row is written, so a block may replace the
-- blocker's own request (unique per requester/addressee). idx_friendships_pair keeps at most
-- one request or friendship per pair and ignores blocks; with this trigger a block and a
-- request or friendship of the same pair never coexist (new requests across a block are refused
-- by the insert policy and the friend functions).
create or replace function app_private.tg_friendships__block() returns trigger as $$
begin
  if NEW.status = 'blocked' then
    delete from app_public.friendships f
     where f.status <> 'blocked' and f.id <> NEW.id
       and ((f.requester_id = NEW.requester_id and f.addressee_id = NEW.addressee_id)
         or (f.requester_id = NEW.addressee_id and f.addressee_id = NEW.requester_id));
    delete from app_public.followers f
     where (f.follower_id = NEW.requester_id and f.following_id = NEW.addressee_id)
        or (f.follower_id = NEW.addressee_id and f.following_id = NEW.requester_id);
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_friendships__block() is
  E'A block ends the pair''s requests, friendship and follows (both ways), however it is written.';
drop trigger if exists _150_block on app_public.friendships;
create trigger _150_block before insert or update of status on app_public.friendships
  for each row execute function app_private.tg_friendships__block();

--------------------------------------------------------------------------------------------------
-- Groups keep an admin
--------------------------------------------------------------------------------------------------

-- The last active admin of a group with other active members cannot leave, step down, be
-- banned or removed, by any path. Deleting the group, or the admin's account, still cascades
-- (the group or user is gone by the time the cascade reaches the membership). One change per
-- group at a time, so two admins leaving at once cannot both be "not the last".
create or replace function app_private.tg_group_members__keep_admin() returns trigger as $$
begin
  if OLD.role = 'admin' and OLD.status = 'active'
     and (TG_OP = 'DELETE' or NEW.role is distinct from 'admin' or NEW.status is distinct from 'active'
          or NEW.group_id <> OLD.group_id) then
    perform pg_advisory_xact_lock(hashtextextended(OLD.group_id::text, 17));
    if exists (select 1 from app_public.groups g where g.id = OLD.group_id)
       and exists (select 1 from app_public.users u where u.id = OLD.user_id)
       and not exists (select 1 from app_public.group_members m
                        where m.group_id = OLD.group_id and m.id <> OLD.id
                          and m.role = 'admin' and m.status = 'active')
       and exists (select 1 from app_public.group_members m
                    where m.group_id = OLD.group_id and m.id <> OLD.id and m.status = 'active') then
      raise exception 'The group''s last admin cannot leave or lose the role while others remain: make someone else admin first'
        using errcode = 'CNFLT', detail = 'field=user_id';
    end if;
  end if;
  return coalesce(NEW, OLD);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_group_members__keep_admin() is
  E'A group with active members keeps an active admin (deleting the group or the account still cascades).';
drop trigger if exists _300_keep_admin on app_public.group_members;
create trigger _300_keep_admin before update or delete on app_public.group_members
  for each row execute function app_private.tg_group_members__keep_admin();

--------------------------------------------------------------------------------------------------
-- Messages
--------------------------------------------------------------------------------------------------

-- Soft deletion is final, and clears the content however it is done (deleteMessage or the
-- generated updateMessage).
create or replace function app_private.tg_messages__keep_deleted() returns trigger as $$
begin
  if coalesce(OLD.is_deleted, false) then
    if (NEW.is_deleted, NEW.deleted_at, NEW.content, NEW.media_url, NEW.file_name, NEW.file_size, NEW.is_edited, NEW.edited_at)
       is distinct from (OLD.is_deleted, OLD.deleted_at, OLD.content, OLD.media_url, OLD.file_name, OLD.file_size, OLD.is_edited, OLD.edited_at) then
      raise exception 'This message was deleted' using errcode = 'CNFLT', detail = 'field=is_deleted';
    end if;
  elsif coalesce(NEW.is_deleted, false) then
    NEW.content := null;
    NEW.media_url := null;
    NEW.file_name := null;
    NEW.file_size := null;
    NEW.deleted_at := coalesce(NEW.deleted_at, now());
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__keep_deleted() is
  E'A deleted message stays deleted; deleting one clears its content and file.';
drop trigger if exists _150_keep_deleted on app_public.messages;
create trigger _150_keep_deleted before update on app_public.messages
  for each row execute function app_private.tg_messages__keep_deleted();

-- A message has text or a file, unless it was deleted (the design's length limit stays part of
-- the same check, so the error names the `content` field).
alter table app_public.messages drop constraint if exists ck_messages_content;
alter table app_public.messages add constraint ck_messages_content check (
  (content is null or char_length(content) <= 10000)
  and (coalesce(is_deleted, false) or coalesce(btrim(content), '') <> '' or media_url is not null)
);

--------------------------------------------------------------------------------------------------
-- Posts, media and comments
--------------------------------------------------------------------------------------------------

-- At most 10 media files per post (what publishPost allows), counted under a per-post lock so
-- concurrent inserts cannot overshoot.
create or replace function app_private.tg_post_media__limit() returns trigger as $$
begin
  perform pg_advisory_xact_lock(hashtextextended(NEW.post_id::text, 13));
  if (select count(*) from app_public.post_media m where m.post_id = NEW.post_id and m.id <> NEW.id) >= 10 then
    raise exception 'A post has at most 10 media files' using errcode = 'INVAL', detail = 'field=media';
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_post_media__limit() is E'Refuses an 11th media file on a post.';
drop trigger if exists _200_limit on app_public.post_media;
create trigger _200_limit before insert or update of post_id on app_public.post_media
  for each row execute function app_private.tg_post_media__limit();

-- A post needs text or at least one media file (a share may be wordless: it carries the shared
-- post). Checked when the transaction commits, so a post can be written before its media.
create or replace function app_private.tg_posts__require_content() returns trigger as $$
declare
  v_post_id uuid;
begin
  if TG_TABLE_NAME = 'posts' then
    v_post_id := NEW.id;
  else
    v_post_id := OLD.post_id;
  end if;
  if exists (
    select 1 from app_public.posts p
     where p.id = v_post_id
       and p.deleted_at is null
       and p.shared_post_id is null
       and btrim(p.content) = ''
       and not exists (select 1 from app_public.post_media m where m.post_id = p.id)
  ) then
    raise exception 'A post needs some text or at least one media file' using errcode = 'INVAL', detail = 'field=content';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_posts__require_content() is
  E'At commit: a post (not a share, not deleted) has text or media.';
drop trigger if exists _200_require_content on app_public.posts;
create constraint trigger _200_require_content after insert or update of content on app_public.posts
  deferrable initially deferred
  for each row execute function app_private.tg_posts__require_content();
drop trigger if exists _200_require_content on app_public.post_media;
create constraint trigger _200_require_content after delete or update of post_id on app_public.post_media
  deferrable initially deferred
  for each row execute function app_private.tg_posts__require_content();

-- Replies nest one level, as addComment does: a reply to a reply answers its top comment.
create or replace function app_private.tg_comments__flatten_reply() returns trigger as $$
declare
  v_top uuid;
begin
  if NEW.parent_comment_id is not null then
    select c.parent_comment_id into v_top from app_public.comments c where c.id = NEW.parent_comment_id;
    if v_top is not null then
      NEW.parent_comment_id := v_top;
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_comments__flatten_reply() is
  E'Attaches a reply to a reply to the top comment (one level of replies).';
drop trigger if exists _190_flatten_reply on app_public.comments;
create trigger _190_flatten_reply before insert or update of parent_comment_id on app_public.comments
  for each row execute function app_private.tg_comments__flatten_reply();

--------------------------------------------------------------------------------------------------
-- Keyset pagination: created_at is never null
--------------------------------------------------------------------------------------------------

-- The design keeps created_at nullable (with a default); these checks make it never null in
-- fact, and @notNull tells PostGraphile so: its cursor condition becomes
-- `(created_at, id) < ($1, $2)`, which the (created_at, id) indexes answer directly, instead
-- of an OR over `created_at is null` that costs more the deeper the page.
alter table app_public.posts drop constraint if exists ck_posts_created_at;
alter table app_public.posts add constraint ck_posts_created_at check (created_at is not null);
alter table app_public.comments drop constraint if exists ck_comments_created_at;
alter table app_public.comments add constraint ck_comments_created_at check (created_at is not null);
alter table app_public.messages drop constraint if exists ck_messages_created_at;
alter table app_public.messages add constraint ck_messages_created_at check (created_at is not null);
alter table app_public.notifications drop constraint if exists ck_notifications_created_at;
alter table app_public.notifications add constraint ck_notifications_created_at check (created_at is not null);
comment on column app_public.posts.created_at is E'@notNull\nWhen the post was published (never null: ck_posts_created_at).';
comment on column app_public.comments.created_at is E'@notNull\nWhen the comment was written (never null: ck_comments_created_at).';
comment on column app_public.messages.created_at is E'@notNull\nWhen the message was sent (never null: ck_messages_created_at).';
comment on column app_public.notifications.created_at is E'@notNull\nWhen it happened (never null: ck_notifications_created_at).';

--------------------------------------------------------------------------------------------------
-- Group conversations and blocks
--------------------------------------------------------------------------------------------------

/** Refuses adding someone to a conversation across a block, with the argument's name. */
create or replace function app_hidden.require_addable_user(user_id uuid, field text) returns void as $$
begin
  -- someone who blocked you does not exist for you; someone you blocked you must unblock first
  if user_id is null or not app_hidden.can_see_user(user_id) then
    raise exception 'No such user: %', user_id using errcode = 'NTFND', detail = 'field=' || field;
  end if;
  if app_hidden.is_blocked(app_public.current_user_id(), user_id) then
    raise exception 'You blocked this user; unblock them first' using errcode = 'DNIED', detail = 'field=' || field;
  end if;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.require_addable_user(uuid, text) is
  E'Refuses someone invisible to the current user (NOT_FOUND) or blocked by them (FORBIDDEN), naming the argument.';

create or replace function app_public.create_group_conversation(title text, participant_ids uuid[]) returns app_public.conversations as $$
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
  foreach v_id in array coalesce(participant_ids, '{}') loop
    if v_id <> v_me then
      insert into app_public.conversation_participants (conversation_id, user_id)
      values (v_conversation.id, v_id)
      on conflict (conversation_id, user_id) do nothing;
    end if;
  end loop;
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
  if (select count(*) from app_public.conversation_participants p
       where p.conversation_id = add_conversation_participants.conversation_id and p.left_at is null) > 256 then
    raise exception 'A group conversation has at most 256 participants' using errcode = 'INVAL', detail = 'field=user_ids';
  end if;
  return (select c from app_public.conversations c where c.id = add_conversation_participants.conversation_id);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.add_conversation_participants(uuid, uuid[]) is
  E'Add people to a group conversation you administer (people who left come back); not across a block.';

--------------------------------------------------------------------------------------------------
-- Signed-out callers: UNAUTHENTICATED first
--------------------------------------------------------------------------------------------------

-- These reached a permission check or another refusal before asking who is calling.
create or replace function app_hidden.own_post(post_id uuid) returns app_public.posts as $$
declare
  v_me uuid := app_hidden.require_user();
  v_post app_public.posts;
begin
  select * into v_post from app_public.posts p where p.id = own_post.post_id;
  if v_post.id is null then
    raise exception 'No such post' using errcode = 'NTFND', detail = 'field=post_id';
  end if;
  if v_post.author_id is distinct from v_me then
    raise exception 'Only the author may do that' using errcode = 'DNIED';
  end if;
  return v_post;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;

create or replace function app_public.mark_conversation_read(conversation_id uuid) returns app_public.conversation_participants as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.conversation_participants;
begin
  update app_public.conversation_participants p set last_read_at = now()
   where p.conversation_id = mark_conversation_read.conversation_id
     and p.user_id = v_me and p.left_at is null
  returning * into v_row;
  if v_row.id is null then
    raise exception 'You are not in this conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;

create or replace function app_public.mute_conversation(conversation_id uuid, muted boolean default true)
returns app_public.conversation_participants as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.conversation_participants;
begin
  update app_public.conversation_participants p set is_muted = coalesce(muted, true)
   where p.conversation_id = mute_conversation.conversation_id and p.user_id = v_me
  returning * into v_row;
  if v_row.id is null then
    raise exception 'You are not in this conversation' using errcode = 'NTFND', detail = 'field=conversation_id';
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;

create or replace function app_public.mark_all_notifications_read() returns integer as $$
declare
  v_me uuid := app_hidden.require_user();
  v_count int;
begin
  update app_public.notifications n set is_read = true, read_at = now()
   where n.recipient_id = v_me and not n.is_read;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;

--------------------------------------------------------------------------------------------------
-- Audit: where an account deletion came from
--------------------------------------------------------------------------------------------------

-- The API puts the request's client address and user agent in `mking.client_ip` and
-- `mking.user_agent` (src/auth/request.ts); absent (the worker, psql) they stay null.
create or replace function app_private.tg_users__audit_delete() returns trigger as $$
declare
  v_ip inet;
begin
  begin
    v_ip := nullif(pg_catalog.current_setting('mking.client_ip', true), '')::inet;
  exception when invalid_text_representation then
    v_ip := null;
  end;
  insert into app_private.audit_log (user_id, action, ip, user_agent, details)
  values (OLD.id, 'account_deletion', v_ip,
          nullif(pg_catalog.current_setting('mking.user_agent', true), ''),
          jsonb_build_object('by', app_public.current_user_id()));
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_users__audit_delete() is
  E'Records account deletions in the audit log, with the client address and user agent of the request.';
