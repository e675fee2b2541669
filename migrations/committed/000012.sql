--! Previous: sha1:e721acf9ecc77d458ce035ffdd6bab8fb5367066
--! Hash: sha1:246d8cd9cadbbe0d484dcef0702969874e5733ba

-- 0012 — personal data (export, deletion with a grace period and erasure, analytics without
-- PII; #13), media uploads and their processing (#14), second factors and OpenID Connect sign-in
-- (#19), and realtime audiences and presence (#15). Grants are in policies/.

-- ==== personal data: export ====
-- "Download my data" (issue #13): requestDataExport queues `data_export__build`
-- (src/tasks/data_export.ts), which writes a zip of everything about the person under
-- DATA_DIR/exports and e-mails a single-use link; GET /exports/:id (src/http/exports.ts) serves
-- it once, to its owner, with the link's token. `data_export__purge` deletes expired archives.

create table if not exists app_public.data_exports (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null
                 constraint fk_data_exports_user_id references app_public.users (id) on delete cascade,
  status         text not null default 'requested'
                 constraint ck_data_exports_status check (status in ('requested', 'building', 'ready', 'failed', 'expired', 'downloaded')),
  requested_at   timestamptz not null default now(),
  ready_at       timestamptz,
  expires_at     timestamptz,
  downloaded_at  timestamptz,
  bytes          bigint
                 constraint ck_data_exports_bytes check (bytes >= 0),
  error          text
);
create index if not exists idx_data_exports_user_id on app_public.data_exports (user_id, requested_at);
create index if not exists idx_data_exports_expires_at on app_public.data_exports (expires_at)
  where status = 'ready';
comment on table app_public.data_exports is
  E'@behavior -insert -update -delete\nA request to download everything the service holds about you, and where it stands. Made with `requestDataExport`, listed by `myDataExports`; the archive itself is served once, by the link e-mailed when it is ready.';
comment on constraint fk_data_exports_user_id on app_public.data_exports is E'@behavior -*';
comment on column app_public.data_exports.status is
  E'`requested` (queued), `building`, `ready` (the link was e-mailed), `failed`, `expired` (not downloaded in time; the archive is deleted) or `downloaded` (the link was used; it works once).';
comment on column app_public.data_exports.user_id is E'Whose data: the person who asked (only they see the request).';
comment on column app_public.data_exports.requested_at is E'When it was asked for (3 a day at most).';
comment on column app_public.data_exports.ready_at is E'When the archive was built and the link e-mailed.';
comment on column app_public.data_exports.expires_at is E'The link stops working then (`DATA_EXPORT_TTL_HOURS` after `ready_at`) and the archive is deleted.';
comment on column app_public.data_exports.downloaded_at is E'When the archive was downloaded (the link works once).';
comment on column app_public.data_exports.bytes is E'Size of the zip archive.';
comment on column app_public.data_exports.error is E'Why building failed (a message for you; details are in the server log).';

create table if not exists app_private.data_export_files (
  export_id   uuid primary key
              constraint fk_data_export_files_export_id references app_public.data_exports (id) on delete cascade,
  file_key    text not null,
  token_hash  text not null unique,
  created_at  timestamptz not null default now()
);
comment on table app_private.data_export_files is
  E'Where a built archive is (`file_key`, relative to DATA_DIR) and the SHA-256 of its download token (the plaintext is only in the e-mail). Kept apart so the API can never read the hash.';

create or replace function app_public.request_data_export() returns app_public.data_exports as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.data_exports;
begin
  -- one request at a time per person, so two concurrent calls cannot both pass the checks
  perform pg_advisory_xact_lock(hashtextextended('data_export:' || v_me::text, 13));
  if exists (
    select 1 from app_public.data_exports e
     where e.user_id = v_me
       and (e.status in ('requested', 'building') or (e.status = 'ready' and e.expires_at > now()))
  ) then
    raise exception 'You already have a data export in progress or waiting to be downloaded'
      using errcode = 'RATEL';
  end if;
  if (select count(*) from app_public.data_exports e
       where e.user_id = v_me and e.requested_at > now() - interval '24 hours') >= 3 then
    raise exception 'At most 3 data exports a day; try again later' using errcode = 'RATEL';
  end if;
  insert into app_public.data_exports (user_id) values (v_me) returning * into v_row;
  perform graphile_worker.add_job(
    'data_export__build', json_build_object('export_id', v_row.id),
    job_key := 'data_export:' || v_row.id, max_attempts := 5
  );
  return v_row;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.request_data_export() is
  E'Asks for an archive of everything the service holds about you (JSON files in a zip, with a README). It is built in the background; a single-use download link is e-mailed when it is ready. One export at a time, at most 3 a day (RATE_LIMITED).';

create or replace function app_public.my_data_exports() returns setof app_public.data_exports as $$
  select e.* from app_public.data_exports e
   where e.user_id = app_public.current_user_id()
   order by e.requested_at desc, e.id desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.my_data_exports() is E'Your data export requests, newest first. Empty when signed out.';

create or replace function app_private.start_data_export(export_id uuid) returns uuid as $$
  update app_public.data_exports e set status = 'building', error = null
   where e.id = start_data_export.export_id and e.status in ('requested', 'building', 'ready')
  returning e.user_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.start_data_export(uuid) is
  E'Worker: marks an export `building` and returns whose it is; null when there is nothing to build (gone, failed, expired or downloaded). A retry builds it again.';

create or replace function app_private.finish_data_export(export_id uuid, file_key text, bytes bigint, ttl interval)
returns text as $$
declare
  v_token text := app_private.random_token();
begin
  update app_public.data_exports e
     set status = 'ready', ready_at = now(), expires_at = now() + ttl, bytes = finish_data_export.bytes
   where e.id = finish_data_export.export_id and e.status = 'building';
  if not found then
    return null;
  end if;
  -- a retry mints a new token: the older link stops working
  insert into app_private.data_export_files (export_id, file_key, token_hash)
  values (finish_data_export.export_id, finish_data_export.file_key, app_private.hash_token(v_token))
  on conflict on constraint data_export_files_pkey do update
    set file_key = excluded.file_key, token_hash = excluded.token_hash, created_at = now();
  return v_token;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.finish_data_export(uuid, text, bigint, interval) is
  E'Worker: the archive is written; marks the export `ready` until now() + ttl and returns its download token in plain (once; only its hash is stored).';

drop function if exists app_private.fail_data_export(uuid, text);
create or replace function app_private.fail_data_export(export_id uuid, message text) returns text as $$
  -- also after `ready` (the e-mail could not be sent): the link dies with the token hash
  with failed as (
    update app_public.data_exports e set status = 'failed', error = message
     where e.id = fail_data_export.export_id and e.status in ('requested', 'building', 'ready')
    returning e.id
  )
  delete from app_private.data_export_files f using failed where f.export_id = failed.id
  returning f.file_key;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.fail_data_export(uuid, text) is
  E'Worker: gives up on an export, saying why; returns the archive to delete, if one was written.';

do $$ begin
  create type app_hidden.data_export_claim as (outcome text, file_key text, bytes bigint);
exception when duplicate_object then null;
end $$;
comment on type app_hidden.data_export_claim is
  E'What claiming a download returns: `outcome` is `ok` (then where the archive is), `not_found`, `expired` or `downloaded`.';

create or replace function app_hidden.claim_data_export(export_id uuid, token text)
returns app_hidden.data_export_claim as $$
declare
  v_me uuid := app_hidden.require_user();
  v_export app_public.data_exports;
  v_file app_private.data_export_files;
begin
  -- the row lock makes concurrent downloads queue here: the first marks it downloaded
  select * into v_export from app_public.data_exports e
   where e.id = claim_data_export.export_id and e.user_id = v_me
   for update;
  select * into v_file from app_private.data_export_files f
   where f.export_id = v_export.id and f.token_hash = app_private.hash_token(coalesce(token, ''));
  -- someone else's export, or a wrong token, looks like no export at all
  if v_export.id is null or v_file.export_id is null then
    return row('not_found', null, null)::app_hidden.data_export_claim;
  end if;
  if v_export.status = 'downloaded' then
    return row('downloaded', null, null)::app_hidden.data_export_claim;
  end if;
  if v_export.status = 'expired' or (v_export.status = 'ready' and v_export.expires_at <= now()) then
    return row('expired', null, null)::app_hidden.data_export_claim;
  end if;
  if v_export.status <> 'ready' then
    return row('not_found', null, null)::app_hidden.data_export_claim;
  end if;
  update app_public.data_exports e set status = 'downloaded', downloaded_at = now() where e.id = v_export.id;
  return row('ok', v_file.file_key, v_export.bytes)::app_hidden.data_export_claim;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.claim_data_export(uuid, text) is
  E'The download route: the signed-in owner with the link''s token gets the archive''s place once (the export becomes `downloaded` in the same transaction); otherwise why not.';

create or replace function app_private.expire_data_exports() returns table (export_id uuid, file_key text) as $$
  with doomed as (
    update app_public.data_exports e set status = 'expired'
     where e.status = 'ready' and e.expires_at <= now()
    returning e.id
  )
  -- (the join sees the statuses from before the update: the newly expired come from `doomed`)
  select f.export_id, f.file_key
    from app_private.data_export_files f
    join app_public.data_exports e on e.id = f.export_id
   where e.status in ('expired', 'downloaded') or f.export_id in (select d.id from doomed d);
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.expire_data_exports() is
  E'Purge, step 1: marks ready exports past their expiry `expired` and lists the archives to delete (expired or downloaded).';

create or replace function app_private.forget_data_export_file(export_id uuid) returns void as $$
  delete from app_private.data_export_files f where f.export_id = forget_data_export_file.export_id;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.forget_data_export_file(uuid) is
  E'Purge, step 2: the archive file is deleted; forget where it was (and its token hash).';

-- ==== media: uploads ====
-- Uploads (issue #14): a client asks createUpload for a signed URL, PUTs the bytes to storage,
-- calls completeUpload, and the worker (media__process) checks and processes the file. The
-- media columns (post_media, avatars, covers, message files) then hold only references the
-- server wrote: 'media:<storage key>', turned into a signed URL per viewer by plugins/media.ts.
-- A client names an upload as 'upload:<id>'; raw http(s) URLs are refused unless
-- MEDIA_ALLOW_EXTERNAL_URLS (the API sets mking.media_external_urls per request).

create table if not exists app_public.uploads (
  id               uuid primary key default gen_random_uuid(),
  owner_id         uuid not null
                   constraint fk_uploads_owner_id references app_public.users (id) on delete cascade,
  purpose          text not null
                   constraint ck_uploads_purpose check (purpose in
                     ('post_media', 'message_attachment', 'avatar', 'cover', 'group_image', 'event_cover')),
  filename         text not null
                   constraint ck_uploads_filename check (char_length(filename) between 1 and 255),
  declared_type    text not null
                   constraint ck_uploads_declared_type check (char_length(declared_type) between 1 and 100),
  declared_bytes   bigint not null
                   constraint ck_uploads_declared_bytes check (declared_bytes > 0),
  status           text not null default 'pending'
                   constraint ck_uploads_status check (status in ('pending', 'uploaded', 'processing', 'ready', 'failed')),
  error_code       text,
  error_message    text,
  storage_key      text not null constraint uq_uploads_storage_key unique,
  media_type       text constraint ck_uploads_media_type check (media_type in ('image', 'video', 'audio')),
  mime_type        text,
  width            int,
  height           int,
  duration_seconds numeric,
  file_size        bigint,
  variants         jsonb not null default '{}',
  created_at       timestamptz not null default now(),
  uploaded_at      timestamptz,
  processed_at     timestamptz,
  attached_at      timestamptz
);
create index if not exists idx_uploads_owner_id_created_at on app_public.uploads (owner_id, created_at);
create index if not exists idx_uploads_status_created_at on app_public.uploads (status, created_at)
  where attached_at is null;

comment on table app_public.uploads is
  E'A file you upload (createUpload, then PUT to its uploadUrl, then completeUpload). Only you see your uploads; what others see are the posts, messages and profiles that use them.';
comment on column app_public.uploads.purpose is E'`post_media`, `message_attachment`, `avatar`, `cover`, `group_image` or `event_cover`.';
comment on column app_public.uploads.declared_type is E'The content type the client declared.';
comment on column app_public.uploads.declared_bytes is E'The size in bytes the client declared; the upload may not be larger.';
comment on column app_public.uploads.status is E'`pending` (waiting for the bytes), `uploaded`, `processing`, `ready` (usable) or `failed` (see errorCode).';
comment on column app_public.uploads.error_code is E'Why processing failed, e.g. TYPE_MISMATCH, TOO_MANY_PIXELS, MALFORMED_FILE, TOO_LARGE, TOO_LONG.';
comment on column app_public.uploads.storage_key is E'@omit\nWhere the bytes are stored.';
comment on column app_public.uploads.variants is E'@omit\nStorage keys of the processed variants (thumbnail, small, large, poster).';
comment on column app_public.uploads.mime_type is E'The type found in the bytes (after processing).';
comment on column app_public.uploads.file_size is E'Size in bytes of the processed file.';
comment on column app_public.uploads.attached_at is E'When a post, message or profile first used it.';
comment on column app_public.uploads.owner_id is E'Who uploaded it (only they see the upload).';
comment on column app_public.uploads.filename is E'The file name the client gave (1 to 255 characters); shown, never used as a path.';
comment on column app_public.uploads.error_message is E'When processing failed: what was wrong, in words (errorCode is the stable code).';
comment on column app_public.uploads.media_type is E'`image`, `video` or `audio`, as found in the bytes by processing.';
comment on column app_public.uploads.width is E'Width in pixels of the processed image or video (null for audio, or video without ffprobe).';
comment on column app_public.uploads.height is E'Height in pixels of the processed image or video (null for audio, or video without ffprobe).';
comment on column app_public.uploads.duration_seconds is E'Length of a video or audio file in seconds (null for images, or without ffprobe).';
comment on column app_public.uploads.uploaded_at is E'When completeUpload confirmed the bytes arrived.';
comment on column app_public.uploads.processed_at is E'When processing finished (ready or failed).';
comment on constraint fk_uploads_owner_id on app_public.uploads is E'@behavior -manyRelation:*:*';

-- The limits the API passes per request (src/media/settings.ts); defaults match src/config.ts.
create or replace function app_private.media_setting(name text, fallback bigint) returns bigint as $$
  select coalesce(nullif(current_setting('mking.media_' || name, true), '')::bigint, fallback);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_setting(text, bigint) is
  E'A media limit set by the API for this request (mking.media_<name>), or the default.';

create or replace function app_private.media_kind_of(content_type text, purpose text) returns text as $$
  select case
    when content_type in ('image/jpeg', 'image/png', 'image/webp', 'image/gif') then 'image'
    when purpose not in ('post_media', 'message_attachment') then null
    when content_type in ('video/mp4', 'video/webm', 'video/quicktime') then 'video'
    when content_type in ('audio/mpeg', 'audio/mp4', 'audio/ogg', 'audio/wav', 'audio/webm', 'audio/aac') then 'audio'
  end;
$$ language sql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_kind_of(text, text) is
  E'image, video or audio for a content type allowed for that purpose; null when not allowed.';

create or replace function app_public.create_upload(
  purpose text,
  filename text,
  content_type text,
  byte_size bigint
) returns app_public.uploads as $$
declare
  v_me uuid := app_hidden.require_user();
  v_type text := lower(btrim(coalesce(content_type, '')));
  v_name text := btrim(regexp_replace(coalesce(filename, ''), '[/\\[:cntrl:]]', '_', 'g'));
  v_kind text;
  v_max bigint;
  v_used bigint;
  v_row app_public.uploads;
  v_id uuid := gen_random_uuid();
begin
  if purpose is null or purpose not in ('post_media', 'message_attachment', 'avatar', 'cover', 'group_image', 'event_cover') then
    raise exception 'purpose must be post_media, message_attachment, avatar, cover, group_image or event_cover'
      using errcode = 'INVAL', detail = 'field=purpose';
  end if;
  if char_length(v_name) not between 1 and 255 then
    raise exception 'filename must be 1 to 255 characters' using errcode = 'INVAL', detail = 'field=filename';
  end if;
  v_kind := app_private.media_kind_of(v_type, purpose);
  if v_kind is null then
    raise exception 'Files of type "%" cannot be uploaded as %', left(v_type, 100), purpose
      using errcode = 'MTYPE', detail = 'field=content_type';
  end if;
  if byte_size is null or byte_size <= 0 then
    raise exception 'byteSize must be positive' using errcode = 'INVAL', detail = 'field=byte_size';
  end if;
  v_max := case v_kind
    when 'image' then app_private.media_setting('max_bytes_image', 20971520)
    when 'video' then app_private.media_setting('max_bytes_video', 524288000)
    else app_private.media_setting('max_bytes_audio', 104857600) end;
  if byte_size > v_max then
    raise exception 'An % upload is at most % bytes', v_kind, v_max
      using errcode = 'MBIGF', detail = 'field=byte_size';
  end if;

  -- one upload decision per user at a time: the quota and the rate are counted, then kept
  perform pg_advisory_xact_lock(hashtextextended('mking.uploads:' || v_me::text, 0));
  if (select count(*) from app_public.uploads u
       where u.owner_id = v_me and u.created_at > now() - interval '1 hour')
     >= app_private.media_setting('uploads_per_hour', 200) then
    raise exception 'Too many uploads; try again later' using errcode = 'RATEL';
  end if;
  select coalesce(sum(coalesce(u.file_size, u.declared_bytes)), 0) into v_used
    from app_public.uploads u where u.owner_id = v_me and u.status <> 'failed';
  if v_used + byte_size > app_private.media_setting('quota_bytes', 5368709120) then
    raise exception 'Your storage quota is used up (% of % bytes)', v_used,
      app_private.media_setting('quota_bytes', 5368709120)
      using errcode = 'MQUOT', detail = 'field=byte_size';
  end if;

  insert into app_public.uploads (id, owner_id, purpose, filename, declared_type, declared_bytes, storage_key)
  values (v_id, v_me, purpose, v_name, v_type, byte_size, 'uploads/' || v_me || '/' || v_id || '/original')
  returning * into v_row;
  return v_row;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_upload(text, text, text, bigint) is
  E'Start an upload: checks the type and size against the purpose''s limits and your quota, and answers with the upload and the URL to PUT the bytes to (uploadUrl, valid for a few minutes).';

create or replace function app_public.complete_upload(upload_id uuid) returns app_public.uploads as $$
declare
  v_me uuid := app_hidden.require_user();
  v_row app_public.uploads;
begin
  select * into v_row from app_public.uploads u
   where u.id = complete_upload.upload_id and u.owner_id = v_me
   for update;
  if not found then
    raise exception 'No such upload' using errcode = 'NTFND', detail = 'field=upload_id';
  end if;
  if v_row.status = 'pending' then
    update app_public.uploads u set status = 'uploaded', uploaded_at = now()
     where u.id = v_row.id returning * into v_row;
    perform graphile_worker.add_job('media__process', json_build_object('uploadId', v_row.id),
                                    job_key := 'media:' || v_row.id);
  end if;
  return v_row;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.complete_upload(uuid) is
  E'Say the bytes are uploaded: the file is then checked and processed (status becomes processing, then ready or failed). Calling it again changes nothing.';

-- An upload named by a client ('upload:<id>'): yours, of that purpose, processed and ready.
create or replace function app_private.media_upload_for(ref text, purpose text, field text)
returns app_public.uploads as $$
declare
  v_me uuid := app_public.current_user_id();
  v_id uuid;
  v_row app_public.uploads;
begin
  if ref !~* '^upload:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception 'Not an upload reference (upload:<id>)' using errcode = 'INVAL', detail = 'field=' || field;
  end if;
  v_id := substr(ref, 8)::uuid;
  select * into v_row from app_public.uploads u
   where u.id = v_id and (v_me is null or u.owner_id = v_me)
   for update;
  if not found then
    raise exception 'No such upload' using errcode = 'NTFND', detail = 'field=' || field;
  end if;
  if v_row.purpose <> media_upload_for.purpose then
    raise exception 'This upload was made for %, not %', v_row.purpose, media_upload_for.purpose
      using errcode = 'INVAL', detail = 'field=' || field;
  end if;
  if v_row.status <> 'ready' then
    raise exception 'The upload is % (not ready)', v_row.status using errcode = 'MNRDY', detail = 'field=' || field;
  end if;
  if v_row.attached_at is null then
    update app_public.uploads u set attached_at = now() where u.id = v_row.id returning * into v_row;
  end if;
  return v_row;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_upload_for(text, text, text) is
  E'The ready upload of the current user that a client reference (upload:<id>) names, marked attached.';

-- What a media column may become: an upload's stored file (media:<key>), unchanged, or an
-- external URL when the API allows them.
create or replace function app_private.media_column(new_value text, old_value text, purpose text, field text)
returns text as $$
declare
  v_row app_public.uploads;
begin
  if new_value is null or new_value is not distinct from old_value then
    return new_value;
  end if;
  if new_value ~* '^upload:' then
    v_row := app_private.media_upload_for(new_value, purpose, field);
    return 'media:' || v_row.storage_key;
  end if;
  if new_value ~ '^media:' then
    raise exception 'Name an upload as upload:<id>' using errcode = 'INVAL', detail = 'field=' || field;
  end if;
  if current_setting('mking.media_external_urls', true) = 'refuse' then
    raise exception 'Upload the file (createUpload) and use its upload:<id>; links are not accepted here'
      using errcode = 'MEXTU', detail = 'field=' || field;
  end if;
  return new_value;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_column(text, text, text, text) is
  E'The value a media column stores for what a client wrote (upload:<id>, an allowed link, or unchanged).';

do $$
begin
  -- media columns hold links (when allowed) or references to stored uploads
  alter table app_public.user_profiles drop constraint if exists ck_user_profiles_avatar_url;
  alter table app_public.user_profiles add constraint ck_user_profiles_avatar_url check (avatar_url ~ '^(https?://|media:uploads/)');
  alter table app_public.user_profiles drop constraint if exists ck_user_profiles_cover_image_url;
  alter table app_public.user_profiles add constraint ck_user_profiles_cover_image_url check (cover_image_url ~ '^(https?://|media:uploads/)');
  alter table app_public.groups drop constraint if exists ck_groups_avatar_url;
  alter table app_public.groups add constraint ck_groups_avatar_url check (avatar_url ~ '^(https?://|media:uploads/)');
  alter table app_public.groups drop constraint if exists ck_groups_cover_image_url;
  alter table app_public.groups add constraint ck_groups_cover_image_url check (cover_image_url ~ '^(https?://|media:uploads/)');
  alter table app_public.conversations drop constraint if exists ck_conversations_avatar_url;
  alter table app_public.conversations add constraint ck_conversations_avatar_url check (avatar_url ~ '^(https?://|media:uploads/)');
  alter table app_public.events drop constraint if exists ck_events_cover_image_url;
  alter table app_public.events add constraint ck_events_cover_image_url check (cover_image_url ~ '^(https?://|media:uploads/)');
  alter table app_public.messages drop constraint if exists ck_messages_media_url;
  alter table app_public.messages add constraint ck_messages_media_url check (media_url ~ '^(https?://|media:uploads/)');
  alter table app_public.post_media drop constraint if exists ck_post_media_media_url;
  alter table app_public.post_media add constraint ck_post_media_media_url check (media_url ~ '^(https?://|media:uploads/)');
  alter table app_public.post_media drop constraint if exists ck_post_media_thumbnail_url;
  alter table app_public.post_media add constraint ck_post_media_thumbnail_url check (thumbnail_url ~ '^(https?://|media:uploads/)');
end $$;

create or replace function app_private.tg_media_profile() returns trigger as $$
begin
  NEW.avatar_url := app_private.media_column(NEW.avatar_url,
    case when TG_OP = 'UPDATE' then OLD.avatar_url end, 'avatar', 'avatar_url');
  NEW.cover_image_url := app_private.media_column(NEW.cover_image_url,
    case when TG_OP = 'UPDATE' then OLD.cover_image_url end, 'cover', 'cover_image_url');
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_profile() is E'Profile avatar and cover: uploads only (see media_column).';
drop trigger if exists _150_media on app_public.user_profiles;
create trigger _150_media before insert or update of avatar_url, cover_image_url on app_public.user_profiles
  for each row execute function app_private.tg_media_profile();

create or replace function app_private.tg_media_group() returns trigger as $$
begin
  NEW.avatar_url := app_private.media_column(NEW.avatar_url,
    case when TG_OP = 'UPDATE' then OLD.avatar_url end, 'group_image', 'avatar_url');
  NEW.cover_image_url := app_private.media_column(NEW.cover_image_url,
    case when TG_OP = 'UPDATE' then OLD.cover_image_url end, 'group_image', 'cover_image_url');
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_group() is E'Group avatar and cover: uploads only (see media_column).';
drop trigger if exists _150_media on app_public.groups;
create trigger _150_media before insert or update of avatar_url, cover_image_url on app_public.groups
  for each row execute function app_private.tg_media_group();

create or replace function app_private.tg_media_conversation() returns trigger as $$
begin
  NEW.avatar_url := app_private.media_column(NEW.avatar_url,
    case when TG_OP = 'UPDATE' then OLD.avatar_url end, 'group_image', 'avatar_url');
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_conversation() is E'Group conversation avatar: uploads only (see media_column).';
drop trigger if exists _150_media on app_public.conversations;
create trigger _150_media before insert or update of avatar_url on app_public.conversations
  for each row execute function app_private.tg_media_conversation();

create or replace function app_private.tg_media_event() returns trigger as $$
begin
  NEW.cover_image_url := app_private.media_column(NEW.cover_image_url,
    case when TG_OP = 'UPDATE' then OLD.cover_image_url end, 'event_cover', 'cover_image_url');
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_event() is E'Event cover: uploads only (see media_column).';
drop trigger if exists _150_media on app_public.events;
create trigger _150_media before insert or update of cover_image_url on app_public.events
  for each row execute function app_private.tg_media_event();

-- A message's file: the upload's name, size and kind come from the upload, not the client.
create or replace function app_private.tg_media_message() returns trigger as $$
declare
  v_row app_public.uploads;
begin
  if NEW.media_url ~* '^upload:' then
    v_row := app_private.media_upload_for(NEW.media_url, 'message_attachment', 'media_url');
    NEW.media_url := 'media:' || v_row.storage_key;
    NEW.file_name := v_row.filename;
    NEW.file_size := v_row.file_size;
    NEW.message_type := coalesce(v_row.media_type, 'file');
  else
    NEW.media_url := app_private.media_column(NEW.media_url,
      case when TG_OP = 'UPDATE' then OLD.media_url end, 'message_attachment', 'media_url');
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_message() is E'Message file: uploads only (see media_column); its metadata from the upload.';
drop trigger if exists _150_media on app_public.messages;
create trigger _150_media before insert or update of media_url on app_public.messages
  for each row execute function app_private.tg_media_message();

-- A post's media item: kind, size, dimensions, duration and thumbnail come from the upload.
create or replace function app_private.tg_media_post_media() returns trigger as $$
declare
  v_row app_public.uploads;
begin
  if NEW.media_url ~* '^upload:' and (TG_OP = 'INSERT' or NEW.media_url is distinct from OLD.media_url) then
    v_row := app_private.media_upload_for(NEW.media_url, 'post_media', 'media_url');
    NEW.media_url := 'media:' || v_row.storage_key;
    NEW.media_type := v_row.media_type;
    NEW.file_size := v_row.file_size;
    NEW.width := v_row.width;
    NEW.height := v_row.height;
    NEW.duration := case when v_row.duration_seconds is null then null else ceil(v_row.duration_seconds)::int end;
    NEW.thumbnail_url := case
      when coalesce(v_row.variants ->> 'thumbnail', v_row.variants ->> 'poster') is null then null
      else 'media:' || coalesce(v_row.variants ->> 'thumbnail', v_row.variants ->> 'poster') end;
  else
    NEW.media_url := app_private.media_column(NEW.media_url,
      case when TG_OP = 'UPDATE' then OLD.media_url end, 'post_media', 'media_url');
    NEW.thumbnail_url := app_private.media_column(NEW.thumbnail_url,
      case when TG_OP = 'UPDATE' then OLD.thumbnail_url end, 'post_media', 'thumbnail_url');
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_media_post_media() is E'Post media: uploads only (see media_column); metadata from the upload.';
drop trigger if exists _150_media on app_public.post_media;
create trigger _150_media before insert or update on app_public.post_media
  for each row execute function app_private.tg_media_post_media();

-- ==== personal data: deletion and erasure ====
-- Issue #13. Deleting an account is asked for with the password (requestAccountDeletion), ends
-- every session at once and starts a grace period (ACCOUNT_DELETION_GRACE_DAYS): the account has
-- status `deleted` and is hidden from everyone (as if it blocked them), and signing in or
-- cancelAccountDeletion brings it back as it was. When the period ends the job account__erase
-- runs app_private.erase_account: what is other people's is handed over or kept, what names the
-- person is scrubbed, then the account row is deleted and the design's cascades remove the rest.

alter table app_public.users add column if not exists deletion_requested_at timestamptz;
alter table app_public.users add column if not exists deletion_scheduled_for timestamptz;
comment on column app_public.users.deletion_requested_at is
  E'@behavior -*\nWhen the owner asked for the account to be deleted (null: not asked, or cancelled). While set, status is `deleted`.';
comment on column app_public.users.deletion_scheduled_for is
  E'@behavior -*\nWhen the account is erased unless its owner signs in or cancels before (the end of the grace period).';

-- Hidden from others during the grace period: every policy and count already hides the people on
-- either side of a block (blocked_user_ids) and the cards of those who blocked you (blocker_ids,
-- the user_cards view); an account awaiting erasure is added to both, so it disappears
-- everywhere at once (card, profile, posts, comments, likes, follows, memberships, answers).
create or replace function app_hidden.blocked_user_ids() returns setof uuid as $$
  select addressee_id from app_public.friendships
   where requester_id = app_public.current_user_id() and status = 'blocked'
  union
  select requester_id from app_public.friendships
   where addressee_id = app_public.current_user_id() and status = 'blocked'
  union
  select u.id from app_public.users u where u.status = 'deleted';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_user_ids() is
  E'Users on either side of a block with the current user, and accounts awaiting erasure: hidden from each other everywhere.';

create or replace function app_hidden.blocker_ids() returns setof uuid as $$
  select requester_id from app_public.friendships
   where addressee_id = app_public.current_user_id() and status = 'blocked'
  union
  select u.id from app_public.users u where u.status = 'deleted';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocker_ids() is
  E'Users who blocked the current user, and accounts awaiting erasure: their cards are hidden.';

/**
 * The password check every sign-in-like action shares (login, requestAccountDeletion,
 * cancelAccountDeletion): rate limited per e-mail and per client address under the same locks
 * as before (0010), failures recorded and audited. Outcome: `ok`, `pending_deletion` (the right
 * password of an account awaiting erasure), or why not (`rate_limited`, `bad_credentials`,
 * `no_password`, `suspended`, `deleted`).
 */
create or replace function app_private.check_sign_in(
  email text, password text, bcrypt_cost int, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval,
  out outcome text, out user_id uuid
) as $$
declare
  v_email text := lower(btrim(email));
  v_user app_public.users;
  v_keys text[] := array['email:' || v_email] || case when ip is null then '{}'::text[] else array['ip:' || host(ip)] end;
  v_key text;
begin
  foreach v_key in array v_keys loop
    perform pg_advisory_xact_lock(hashtextextended('login:' || v_key, 29));
  end loop;
  if exists (
    select 1 from app_private.login_attempts
     where key = any (v_keys) and attempted_at > now() - failure_window
     group by key
    having count(*) >= case when key like 'email:%' then max_failures_per_email else max_failures_per_client end
  ) then
    perform app_private.audit(null, 'login_rate_limited', ip, user_agent, jsonb_build_object('email', v_email));
    outcome := 'rate_limited';
    return;
  end if;

  select * into v_user from app_public.users u where u.email = v_email;
  if v_user.id is null or v_user.password_hash is null
     or v_user.password_hash is distinct from crypt(password, v_user.password_hash) then
    if v_user.id is null then
      perform app_private.hash_password(coalesce(password, ''), bcrypt_cost);
    end if;
    insert into app_private.login_attempts (key) select unnest(v_keys);
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('email', v_email));
    outcome := case when v_user.id is not null and v_user.password_hash is null then 'no_password' else 'bad_credentials' end;
    return;
  end if;
  user_id := v_user.id;
  if v_user.status = 'deleted' and v_user.deletion_requested_at is not null then
    delete from app_private.login_attempts where key = 'email:' || v_email;
    outcome := 'pending_deletion';
    return;
  end if;
  if v_user.status <> 'active' then
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('status', v_user.status));
    outcome := v_user.status;
    user_id := null;
    return;
  end if;
  delete from app_private.login_attempts where key = 'email:' || v_email;
  outcome := 'ok';
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.check_sign_in(text, text, int, inet, text, int, int, interval) is
  E'Checks an e-mail and password (rate limited per e-mail and per client address, one check at a time per each); never raises for a refusal, so the attempt is recorded.';

/** Brings back an account awaiting erasure: active again, the erasure job removed. */
create or replace function app_private.restore_account(user_id uuid, ip inet, user_agent text) returns void as $$
begin
  update app_public.users u
     set status = 'active', deletion_requested_at = null, deletion_scheduled_for = null
   where u.id = restore_account.user_id and u.status = 'deleted' and u.deletion_requested_at is not null;
  if found then
    perform graphile_worker.remove_job('account__erase:' || restore_account.user_id);
    perform app_private.audit(restore_account.user_id, 'account_deletion', ip, user_agent,
                              jsonb_build_object('stage', 'cancelled'));
  end if;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.restore_account(uuid, inet, text) is
  E'Cancels a pending account deletion: status active again, the erasure job removed, audited.';

-- Sign-in, as in 0010, through check_sign_in; the right password of an account awaiting erasure
-- restores it and signs in (outcome `restored`, which the API reports as accountRestored).
create or replace function app_hidden.login(
  email text, password text, bcrypt_cost int, refresh_ttl interval, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns app_hidden.session as $$
declare
  v_check record;
  v_result app_hidden.session;
begin
  select * into v_check from app_private.check_sign_in(
    email, password, bcrypt_cost, ip, user_agent, max_failures_per_email, max_failures_per_client, failure_window);
  if v_check.outcome = 'pending_deletion' then
    perform app_private.restore_account(v_check.user_id, ip, user_agent);
  elsif v_check.outcome <> 'ok' then
    return row(v_check.outcome, null, null, null)::app_hidden.session;
  end if;
  update app_public.users
     set last_login_at = now(), login_count = coalesce(login_count, 0) + 1
   where id = v_check.user_id;
  select case when v_check.outcome = 'pending_deletion' then 'restored' else 'ok' end,
         v_check.user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_check.user_id, ip, user_agent, refresh_ttl) s;
  perform app_private.audit(v_check.user_id, 'login_success', ip, user_agent);
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.login(text, text, int, interval, inet, text, int, int, interval) is
  E'Checks e-mail and password (app_private.check_sign_in), counts the login and opens a session; an account awaiting erasure is restored first (outcome `restored`). Never raises for a failed attempt: it returns why, so the attempt is recorded.';

/**
 * requestAccountDeletion: the signed-in user confirms with their password (rate limited like a
 * sign-in). The account turns `deleted` (hidden; the status trigger of 0010 revokes every
 * session, which every API instance hears at once), and account__erase is queued for the end of
 * the grace period under the job key `account__erase:<user id>`.
 */
create or replace function app_hidden.request_account_deletion(
  password text, grace interval, bcrypt_cost int, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval,
  out outcome text, out scheduled_for timestamptz
) as $$
declare
  v_me uuid := app_hidden.require_user();
  v_email text;
begin
  select u.email into v_email from app_public.users u where u.id = v_me;
  select c.outcome into outcome from app_private.check_sign_in(
    v_email, password, bcrypt_cost, ip, user_agent, max_failures_per_email, max_failures_per_client, failure_window) c;
  if outcome <> 'ok' then
    return;
  end if;
  scheduled_for := now() + grace;
  update app_public.users
     set status = 'deleted', deletion_requested_at = now(), deletion_scheduled_for = scheduled_for
   where id = v_me;
  perform app_private.revoke_sessions(v_me);
  perform graphile_worker.add_job(
    'account__erase', json_build_object('user_id', v_me),
    run_at := scheduled_for, job_key := 'account__erase:' || v_me, max_attempts := 25);
  perform app_private.audit(v_me, 'account_deletion', ip, user_agent,
                            jsonb_build_object('stage', 'requested', 'erase_at', scheduled_for));
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.request_account_deletion(text, interval, int, inet, text, int, int, interval) is
  E'Starts the deletion of the current user''s account after checking their password: signs out every session, hides the account and schedules its erasure after the grace period. Returns why not instead of raising.';

/** cancelAccountDeletion: e-mail and password (no session exists during the grace period). */
create or replace function app_hidden.cancel_account_deletion(
  email text, password text, bcrypt_cost int, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns text as $$
declare
  v_check record;
begin
  select * into v_check from app_private.check_sign_in(
    email, password, bcrypt_cost, ip, user_agent, max_failures_per_email, max_failures_per_client, failure_window);
  if v_check.outcome = 'pending_deletion' then
    perform app_private.restore_account(v_check.user_id, ip, user_agent);
    return 'ok';
  elsif v_check.outcome = 'ok' then
    return 'not_pending';
  end if;
  return v_check.outcome;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.cancel_account_deletion(text, text, int, inet, text, int, int, interval) is
  E'Restores an account awaiting erasure, given its e-mail and password (rate limited like a sign-in), without signing in. `not_pending` when nothing was pending.';

/**
 * Erases an account whose grace period has ended (the worker, as the owner; one transaction):
 *
 * 1. each group it created that has other active members passes to the longest-standing admin,
 *    else moderator, else member (made admin; created_by changes hands); the others are deleted;
 * 2. each upcoming event it organised that others are going or may go to is cancelled and they
 *    are told (event_cancelled, written here, now: the event itself goes with the account);
 * 3. notifications that named the person: about them alone (friend request, follow, join
 *    request, answer) are removed, the rest say 'Someone' and lose the actor's id;
 * 4. '@username' in others' posts, comments and messages becomes 'someone' (the name is free
 *    for someone else to take, who must not inherit the mention);
 * 5. app_private: audit entries keep the event but lose the address, user agent and e-mail;
 *    e-mail delivery records lose the address; failed sign-ins under the address are dropped;
 * 6. the account is deleted: the design's cascades remove profile, friendships, follows,
 *    memberships, posts (with comments and likes on them), comments, likes, answers, the
 *    person's messages, participations, notifications, tokens. Others' conversations, their
 *    messages and their shares of the person's posts stay (shared_post_id becomes null).
 *
 * Returns what it did; `not_due` / `gone` / `not_requested` when there is nothing to do yet.
 */
create or replace function app_private.erase_account(p_user_id uuid) returns jsonb as $$
declare
  v_user app_public.users;
  v_profile app_public.user_profiles;
  v_names text[];
  v_name text;
  v_group record;
  v_heir uuid;
  v_event record;
  v_handed int := 0;
  v_groups_deleted int := 0;
  v_cancelled int := 0;
  v_notified int := 0;
begin
  select * into v_user from app_public.users where id = p_user_id for update;
  if v_user.id is null then
    return jsonb_build_object('outcome', 'gone');
  end if;
  if v_user.status <> 'deleted' or v_user.deletion_requested_at is null then
    return jsonb_build_object('outcome', 'not_requested');
  end if;
  if v_user.deletion_scheduled_for > now() then
    return jsonb_build_object('outcome', 'not_due', 'scheduled_for', v_user.deletion_scheduled_for);
  end if;
  select * into v_profile from app_public.user_profiles where user_id = p_user_id;
  v_names := array(select distinct n from unnest(array[nullif(btrim(v_profile.display_name), ''),
                                                       v_profile.username]) n where n is not null);

  -- 1. groups
  for v_group in select g.id from app_public.groups g where g.created_by = p_user_id order by g.id for update loop
    select m.user_id into v_heir
      from app_public.group_members m
      join app_public.users u on u.id = m.user_id
     where m.group_id = v_group.id and m.user_id <> p_user_id
       and m.status = 'active' and u.status = 'active'
     order by case m.role when 'admin' then 0 when 'moderator' then 1 else 2 end, m.joined_at, m.id
     limit 1;
    if v_heir is null then
      delete from app_public.groups where id = v_group.id;
      v_groups_deleted := v_groups_deleted + 1;
    else
      update app_public.group_members set role = 'admin'
       where group_id = v_group.id and user_id = v_heir and role is distinct from 'admin';
      update app_public.groups set created_by = v_heir where id = v_group.id;
      v_handed := v_handed + 1;
    end if;
  end loop;

  -- 2. events with an audience still to come
  for v_event in
    select e.id from app_public.events e
     where e.created_by = p_user_id and not coalesce(e.is_cancelled, false)
       and coalesce(e.end_date, e.start_date) >= now()
       and exists (select 1 from app_public.event_attendees a
                    where a.event_id = e.id and a.user_id <> p_user_id and a.status in ('going', 'maybe'))
     order by e.id
  loop
    update app_public.events set is_cancelled = true, cancelled_at = now() where id = v_event.id;
    v_notified := v_notified + app_private.notify(jsonb_build_object('type', 'event_cancelled', 'event_id', v_event.id));
    v_cancelled := v_cancelled + 1;
  end loop;

  -- 3. notifications naming the person
  delete from app_public.notifications n
   where n.sender_id = p_user_id
     and n.notification_type in ('friend_request', 'friend_accepted', 'new_follower', 'group_join_request', 'event_rsvp')
     and n.recipient_id <> p_user_id;
  foreach v_name in array v_names loop
    update app_public.notifications n
       set title = replace(n.title, v_name, 'Someone'),
           message = replace(n.message, v_name, 'Someone')
     where n.recipient_id <> p_user_id
       and (n.sender_id = p_user_id or n.data->>'actor_id' = p_user_id::text
            or coalesce(n.data->'actors', '[]') ? p_user_id::text)
       and (strpos(n.title, v_name) > 0 or strpos(coalesce(n.message, ''), v_name) > 0);
  end loop;
  update app_public.notifications n
     set data = case when n.data->>'actor_id' = p_user_id::text then n.data - 'actor_id' else n.data end
                || case when n.data ? 'actors' then jsonb_build_object('actors', (n.data->'actors') - p_user_id::text)
                        else '{}'::jsonb end
   where n.recipient_id <> p_user_id
     and (n.data->>'actor_id' = p_user_id::text or coalesce(n.data->'actors', '[]') ? p_user_id::text);

  -- 4. mentions in others' words
  update app_public.posts p set content = regexp_replace(p.content, '@' || v_profile.username || '\M', 'someone', 'gi')
   where p.author_id <> p_user_id and p.content ~* ('@' || v_profile.username || '\M');
  update app_public.comments c set content = regexp_replace(c.content, '@' || v_profile.username || '\M', 'someone', 'gi')
   where c.author_id <> p_user_id and c.content ~* ('@' || v_profile.username || '\M');
  update app_public.messages m set content = regexp_replace(m.content, '@' || v_profile.username || '\M', 'someone', 'gi')
   where m.sender_id <> p_user_id and not coalesce(m.is_deleted, false)
     and m.content ~* ('@' || v_profile.username || '\M');

  -- 5. bookkeeping
  update app_private.audit_log a
     set ip = null, user_agent = null, details = a.details - 'email'
   where a.user_id = p_user_id or a.details->>'email' = v_user.email;
  update app_private.email_deliveries d
     set recipient = '(erased)', detail = replace(d.detail, v_user.email, '(erased)')
   where d.user_id = p_user_id or lower(d.recipient) = v_user.email;
  delete from app_private.login_attempts where key = 'email:' || v_user.email;

  -- 6. the account and everything that cascades from it
  delete from app_public.users where id = p_user_id;
  return jsonb_build_object('outcome', 'erased', 'groups_handed_over', v_handed,
                            'groups_deleted', v_groups_deleted, 'events_cancelled', v_cancelled,
                            'attendees_notified', v_notified);
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.erase_account(uuid) is
  E'Erases an account whose deletion grace period has ended: hands its groups over, cancels its events with an audience, scrubs its name, e-mail and addresses from what others and the bookkeeping keep, then deletes it (cascades). Idempotent.';

-- The generated deleteAccount is gone (no delete grant either: policies/users.sql).
comment on table app_public.users is
  E'@name account\n@behavior -delete\nA user''s account: how they sign in. Private to its owner (e-mail and phone included); others see people as `User`. Deleted with requestAccountDeletion (grace period, then erasure).';

-- ==== sign-in: second factors ====
-- Issue #19. TOTP (RFC 6238) and passkeys (WebAuthn) as second factors, recovery codes, and
-- passwordless sign-in with a passkey. Codes and signatures are checked in TypeScript
-- (plugins/twoFactor.ts with otplib and @simplewebauthn/server); these functions keep the state
-- and the rules: a password sign-in of an account with a factor becomes a short-lived second-step
-- challenge instead of a session (src/auth/signIn.ts completeSignIn), a TOTP code counts once per
-- 30-second step, a recovery code once, a passkey's counter never goes back, a challenge takes
-- 5 attempts, and failures per user are limited in the sign-in window (login_attempts, key
-- `second_step:<user id>`). Every enrolment, removal and failed second step is audited.
-- logoutEverywhere and resetPassword touch none of this: factors outlive sessions and passwords.

-- The audit actions of 0002, the deletion section's, and those of the sign-in work of issue #19
-- (second factors here; OpenID Connect: identity_linked … oidc_sign_in_failed), in one statement.
alter table app_private.audit_log drop constraint if exists ck_audit_log_action;
alter table app_private.audit_log add constraint ck_audit_log_action check (action in (
  'register', 'login_success', 'login_failure', 'login_rate_limited',
  'password_change', 'password_reset', 'email_verification',
  'logout', 'logout_everywhere', 'refresh_token_reuse', 'account_deletion',
  'totp_enabled', 'totp_disabled', 'recovery_codes_regenerated', 'recovery_code_used',
  'second_step_failed', 'second_step_passed', 'passkey_added', 'passkey_removed', 'passkey_sign_in',
  'identity_linked', 'identity_unlinked', 'oidc_sign_in', 'oidc_sign_in_failed'
));

create table if not exists app_private.totp_factors (
  user_id         uuid primary key
                  constraint fk_totp_factors_user_id references app_public.users (id) on delete cascade,
  -- base32, as the authenticator app has it: the server must read it to check codes, so it lives
  -- here, out of the API roles' reach (docs/SECURITY.md)
  secret          text not null,
  created_at      timestamptz not null default now(),
  -- null: enrolled but not confirmed with a first code, so not required at sign-in
  confirmed_at    timestamptz,
  -- the 30-second step of the last accepted code: a code is accepted once
  last_used_step  bigint
);
comment on table app_private.totp_factors is
  E'One TOTP authenticator per account (RFC 6238, SHA-1, 6 digits, 30 s). Required at sign-in once confirmed.';

create table if not exists app_private.recovery_codes (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null
              constraint fk_recovery_codes_user_id references app_public.users (id) on delete cascade,
  code_hash   text not null,
  created_at  timestamptz not null default now(),
  used_at     timestamptz
);
create index if not exists idx_recovery_codes_user_id on app_private.recovery_codes (user_id);
comment on table app_private.recovery_codes is
  E'Single-use recovery codes (80 random bits each), stored only as SHA-256 hashes; a new set replaces the old.';

create table if not exists app_private.webauthn_credentials (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null
                 constraint fk_webauthn_credentials_user_id references app_public.users (id) on delete cascade,
  -- base64url, as the authenticator names it
  credential_id  text not null constraint uq_webauthn_credentials_credential_id unique,
  public_key     bytea not null,
  counter        bigint not null default 0,
  transports     text[] not null default '{}',
  name           text not null default 'Passkey'
                 constraint ck_webauthn_credentials_name check (char_length(name) between 1 and 100),
  created_at     timestamptz not null default now(),
  last_used_at   timestamptz
);
create index if not exists idx_webauthn_credentials_user_id on app_private.webauthn_credentials (user_id);
comment on table app_private.webauthn_credentials is
  E'Passkeys (WebAuthn credentials): the public key and signature counter; a second factor, or a sign-in on their own.';

create table if not exists app_private.second_step_challenges (
  id                  uuid primary key default gen_random_uuid(),
  token_hash          text not null constraint uq_second_step_challenges_token_hash unique,
  -- null only for a passwordless passkey sign-in without an e-mail (the passkey names the user)
  user_id             uuid constraint fk_second_step_challenges_user_id references app_public.users (id) on delete cascade,
  purpose             text not null
                      constraint ck_second_step_challenges_purpose check (purpose in (
                        'sign_in', 'passkey_sign_in', 'passkey_registration', 'verify')),
  -- the sign-in restored an account awaiting erasure (AuthPayload.accountRestored)
  restored            boolean not null default false,
  webauthn_challenge  text,
  attempts            int not null default 0,
  created_at          timestamptz not null default now(),
  expires_at          timestamptz not null,
  used_at             timestamptz
);
create index if not exists idx_second_step_challenges_user_id on app_private.second_step_challenges (user_id);
create index if not exists idx_second_step_challenges_expires_at on app_private.second_step_challenges (expires_at);
comment on table app_private.second_step_challenges is
  E'Short-lived, single-use challenges: the step between password and second factor, and WebAuthn ceremonies. Stored as token hashes.';

create or replace function app_private.has_second_factor(user_id uuid) returns boolean as $$
  select exists (select 1 from app_private.totp_factors t
                  where t.user_id = has_second_factor.user_id and t.confirmed_at is not null)
      or exists (select 1 from app_private.webauthn_credentials w where w.user_id = has_second_factor.user_id);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.has_second_factor(uuid) is
  E'Whether signing in needs a second step: a confirmed TOTP authenticator or a passkey.';

create or replace function app_private.second_factor_methods(user_id uuid) returns text[] as $$
  select array_remove(array[
    case when exists (select 1 from app_private.totp_factors t
                       where t.user_id = second_factor_methods.user_id and t.confirmed_at is not null) then 'TOTP' end,
    case when exists (select 1 from app_private.recovery_codes r
                       where r.user_id = second_factor_methods.user_id and r.used_at is null) then 'RECOVERY_CODE' end,
    case when exists (select 1 from app_private.webauthn_credentials w
                       where w.user_id = second_factor_methods.user_id) then 'PASSKEY' end
  ], null);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.second_factor_methods(uuid) is
  E'The second steps an account can take: TOTP, RECOVERY_CODE, PASSKEY.';

create or replace function app_private.passkey_descriptors(user_id uuid) returns jsonb as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', w.credential_id, 'transports', to_jsonb(w.transports))
                            order by w.created_at), '[]')
    from app_private.webauthn_credentials w where w.user_id = passkey_descriptors.user_id;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.passkey_descriptors(uuid) is
  E'The account''s passkeys as WebAuthn credential descriptors (allowCredentials / excludeCredentials).';

/** A new set of 10 recovery codes (xxxx-xxxx-xxxx-xxxx, 80 bits), returned in plain once. */
create or replace function app_private.issue_recovery_codes(user_id uuid) returns text[] as $$
declare
  v_alphabet constant text := 'abcdefghjkmnpqrstuvwxyz23456789';
  v_codes text[] := '{}';
  v_code text;
  v_bytes bytea;
begin
  delete from app_private.recovery_codes r where r.user_id = issue_recovery_codes.user_id;
  for i in 1..10 loop
    v_bytes := gen_random_bytes(16);
    v_code := '';
    for j in 0..15 loop
      v_code := v_code || substr(v_alphabet, 1 + (get_byte(v_bytes, j) % 32) % length(v_alphabet), 1);
      if j in (3, 7, 11) then v_code := v_code || '-'; end if;
    end loop;
    v_codes := v_codes || v_code;
    insert into app_private.recovery_codes (user_id, code_hash)
    values (issue_recovery_codes.user_id, app_private.hash_token(v_code));
  end loop;
  return v_codes;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.issue_recovery_codes(uuid) is
  E'Replaces the account''s recovery codes with 10 new ones and returns them in plain (once).';

create or replace function app_private.normalise_recovery_code(code text) returns text as $$
  select regexp_replace(regexp_replace(lower(coalesce(code, '')), '[^a-z0-9]', '', 'g'),
                        '^(.{4})(.{4})(.{4})(.{4})$', '\1-\2-\3-\4');
$$ language sql immutable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.normalise_recovery_code(text) is
  E'A recovery code as typed (any case, spaces, dashes or none) in its stored form.';

create or replace function app_private.new_challenge(
  user_id uuid, purpose text, webauthn_challenge text, ttl interval, restored boolean default false,
  out id uuid, out token text, out expires_at timestamptz
) as $$
begin
  -- long-dead challenges go as new ones come
  delete from app_private.second_step_challenges c where c.expires_at < now() - interval '1 day';
  token := app_private.random_token();
  insert into app_private.second_step_challenges (token_hash, user_id, purpose, restored, webauthn_challenge, expires_at)
  values (app_private.hash_token(token), new_challenge.user_id, purpose, coalesce(restored, false),
          webauthn_challenge, now() + ttl)
  returning second_step_challenges.id, second_step_challenges.expires_at into id, expires_at;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.new_challenge(uuid, text, text, interval, boolean) is
  E'Opens a single-use challenge and returns its token in plain (once).';

create or replace function app_private.factor_failures_exceeded(user_id uuid, max_failures int, failure_window interval)
returns boolean as $$
  select count(*) >= max_failures from app_private.login_attempts a
   where a.key = 'second_step:' || factor_failures_exceeded.user_id and a.attempted_at > now() - failure_window;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.factor_failures_exceeded(uuid, int, interval) is
  E'Whether the account had too many failed second-factor checks in the window.';

create or replace function app_private.record_factor_failure(
  user_id uuid, method text, purpose text, ip inet, user_agent text
) returns void as $$
begin
  insert into app_private.login_attempts (key) values ('second_step:' || record_factor_failure.user_id);
  perform app_private.audit(record_factor_failure.user_id, 'second_step_failed', ip, user_agent,
                            jsonb_build_object('method', lower(method), 'purpose', purpose));
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.record_factor_failure(uuid, text, text, inet, text) is
  E'Counts a failed second-factor check against the account''s limit and audits it.';

/**
 * Checks the factor TypeScript verified (or not) and spends it: a TOTP code's step must be later
 * than the last one accepted; a recovery code must be unused (it is used now); a passkey's counter
 * is stored. Outcome `ok`, or `bad_code` / `replayed` after recording the failure.
 */
create or replace function app_private.spend_factor(
  user_id uuid, method text, purpose text, verified boolean, totp_step bigint, recovery_code text,
  credential_id text, new_counter bigint, ip inet, user_agent text
) returns text as $$
begin
  if method = 'TOTP' and verified then
    update app_private.totp_factors t set last_used_step = totp_step
     where t.user_id = spend_factor.user_id and (t.last_used_step is null or t.last_used_step < totp_step);
    if not found then
      perform app_private.record_factor_failure(user_id, method, purpose, ip, user_agent);
      return 'replayed';
    end if;
    return 'ok';
  elsif method = 'RECOVERY_CODE' then
    update app_private.recovery_codes r set used_at = now()
     where r.id = (select r2.id from app_private.recovery_codes r2
                    where r2.user_id = spend_factor.user_id and r2.used_at is null
                      and r2.code_hash = app_private.hash_token(app_private.normalise_recovery_code(recovery_code))
                    limit 1 for update);
    if found then
      perform app_private.audit(user_id, 'recovery_code_used', ip, user_agent, jsonb_build_object('purpose', purpose));
      return 'ok';
    end if;
  elsif method = 'PASSKEY' and verified then
    update app_private.webauthn_credentials w set counter = greatest(new_counter, 0), last_used_at = now()
     where w.user_id = spend_factor.user_id and w.credential_id = spend_factor.credential_id
       and (w.counter = 0 or new_counter > w.counter);
    if found then
      return 'ok';
    end if;
  end if;
  perform app_private.record_factor_failure(user_id, method, purpose, ip, user_agent);
  return 'bad_code';
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.spend_factor(uuid, text, text, boolean, bigint, text, text, bigint, inet, text) is
  E'Accepts a verified second factor once (TOTP step, recovery code, passkey counter), or records the failure.';

--------------------------------------------------------------------------------------------------
-- Entry points for plugins/twoFactor.ts and src/auth/signIn.ts (security definer)
--------------------------------------------------------------------------------------------------

/**
 * completeSignIn: a session a sign-in function just opened (in this transaction) becomes a
 * second-step challenge when the account has a second factor: the session is removed before it
 * was ever committed and the challenge's token is returned instead. Nothing happens (token null)
 * for an account without a factor. Only the holder of the brand-new refresh token can ask.
 */
create or replace function app_hidden.hold_for_second_step(
  refresh_token text, restored boolean, webauthn_challenge text, ttl interval,
  out token text, out expires_at timestamptz, out methods text[], out passkeys jsonb
) as $$
declare
  v_token app_private.refresh_tokens;
  v_challenge record;
begin
  select * into v_token from app_private.refresh_tokens r
   where r.token_hash = app_private.hash_token(hold_for_second_step.refresh_token)
     and r.used_at is null and r.revoked_at is null and r.created_at > now() - interval '1 minute';
  if v_token.id is null or not app_private.has_second_factor(v_token.user_id) then
    return;
  end if;
  delete from app_private.refresh_tokens r where r.family_id = v_token.family_id;
  methods := app_private.second_factor_methods(v_token.user_id);
  passkeys := app_private.passkey_descriptors(v_token.user_id);
  select * into v_challenge from app_private.new_challenge(
    v_token.user_id, 'sign_in',
    case when 'PASSKEY' = any (methods) then hold_for_second_step.webauthn_challenge end,
    ttl, restored);
  token := v_challenge.token;
  expires_at := v_challenge.expires_at;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.hold_for_second_step(text, boolean, text, interval) is
  E'Turns a session opened in this transaction into a second-step challenge when the account has a second factor (token null otherwise).';

/**
 * Opens a challenge for one attempt (locked until the transaction ends): outcome `ok`, or
 * `invalid` (unknown, used, another purpose, another user), `expired`, `rate_limited` (the
 * challenge's attempts are spent, and it dies; or the account's failures in the window).
 * On `ok`, what the check needs: the TOTP secret and the WebAuthn challenge.
 */
create or replace function app_hidden.open_challenge(
  token text, purpose text, max_attempts int, max_failures int, failure_window interval,
  out outcome text, out challenge_id uuid, out user_id uuid, out totp_secret text,
  out webauthn_challenge text
) as $$
declare
  v_c app_private.second_step_challenges;
begin
  if purpose in ('passkey_registration', 'verify') then
    perform app_hidden.require_user();
  end if;
  select * into v_c from app_private.second_step_challenges c
   where c.token_hash = app_private.hash_token(open_challenge.token) for update;
  if v_c.id is null or v_c.purpose <> open_challenge.purpose
     or (v_c.purpose in ('passkey_registration', 'verify')
         and v_c.user_id is distinct from app_public.current_user_id()) then
    outcome := 'invalid';
    return;
  end if;
  -- the attempts are spent: the challenge is dead (used_at was set with the last one)
  if v_c.attempts >= max_attempts then
    outcome := 'rate_limited';
    return;
  end if;
  if v_c.used_at is not null then
    outcome := 'invalid';
    return;
  end if;
  if v_c.expires_at <= now() then
    outcome := 'expired';
    return;
  end if;
  if v_c.user_id is not null and app_private.factor_failures_exceeded(v_c.user_id, max_failures, failure_window) then
    outcome := 'rate_limited';
    return;
  end if;
  update app_private.second_step_challenges c set attempts = c.attempts + 1,
         used_at = case when c.attempts + 1 >= max_attempts then now() end
   where c.id = v_c.id;
  outcome := 'ok';
  challenge_id := v_c.id;
  user_id := v_c.user_id;
  webauthn_challenge := v_c.webauthn_challenge;
  select t.secret into totp_secret from app_private.totp_factors t
   where t.user_id = v_c.user_id and t.confirmed_at is not null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.open_challenge(text, text, int, int, interval) is
  E'Counts an attempt on a challenge and returns what checking it needs, or why it cannot be used.';

/** The passkey a WebAuthn response names, when it may answer this challenge's user (or any, if none). */
create or replace function app_hidden.challenge_passkey(challenge_id uuid, credential_id text,
  out user_id uuid, out public_key bytea, out counter bigint, out transports text[]
) as $$
  select w.user_id, w.public_key, w.counter, w.transports
    from app_private.webauthn_credentials w
    join app_private.second_step_challenges c on c.id = challenge_passkey.challenge_id
   where w.credential_id = challenge_passkey.credential_id
     and (c.user_id is null or c.user_id = w.user_id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.challenge_passkey(uuid, text) is
  E'The public key and counter of the passkey answering a challenge (its own user''s, if the challenge has one).';

/**
 * Finishes a sign-in challenge (`sign_in` after a password, or `passkey_sign_in`) with a factor
 * TypeScript checked: spends it, closes the challenge and opens the session. A passkey sign-in
 * counts as both factors. Outcome `ok`/`restored`, or why not (`bad_code`, `replayed`, the
 * account's status).
 */
create or replace function app_hidden.finish_sign_in_challenge(
  challenge_id uuid, method text, verified boolean, totp_step bigint, recovery_code text,
  credential_id text, new_counter bigint, refresh_ttl interval, ip inet, user_agent text
) returns app_hidden.session as $$
declare
  v_c app_private.second_step_challenges;
  v_user_id uuid;
  v_user app_public.users;
  v_outcome text;
  v_result app_hidden.session;
begin
  select * into v_c from app_private.second_step_challenges c
   where c.id = finish_sign_in_challenge.challenge_id and c.purpose in ('sign_in', 'passkey_sign_in')
     and c.expires_at > now();
  if v_c.id is null then
    return row('invalid', null, null, null)::app_hidden.session;
  end if;
  v_user_id := v_c.user_id;
  if v_user_id is null then
    select w.user_id into v_user_id from app_private.webauthn_credentials w where w.credential_id = finish_sign_in_challenge.credential_id;
    if v_user_id is null then
      -- a passkey nobody has: nothing to count it against
      return row('bad_code', null, null, null)::app_hidden.session;
    end if;
  end if;
  v_outcome := app_private.spend_factor(v_user_id, method, v_c.purpose, verified, totp_step, recovery_code,
                                        credential_id, new_counter, ip, user_agent);
  if v_outcome <> 'ok' then
    return row(v_outcome, null, null, null)::app_hidden.session;
  end if;
  update app_private.second_step_challenges c set used_at = now() where c.id = v_c.id;
  select * into v_user from app_public.users u where u.id = v_user_id;
  if v_c.purpose = 'passkey_sign_in' and v_user.status = 'deleted' and v_user.deletion_requested_at is not null then
    perform app_private.restore_account(v_user_id, ip, user_agent);
    v_c.restored := true;
  elsif v_user.status is distinct from 'active' then
    perform app_private.audit(v_user_id, 'login_failure', ip, user_agent, jsonb_build_object('status', v_user.status));
    return row(coalesce(v_user.status, 'deleted'), null, null, null)::app_hidden.session;
  end if;
  if v_c.purpose = 'passkey_sign_in' then
    update app_public.users set last_login_at = now(), login_count = coalesce(login_count, 0) + 1 where id = v_user_id;
    perform app_private.audit(v_user_id, 'passkey_sign_in', ip, user_agent);
  else
    perform app_private.audit(v_user_id, 'second_step_passed', ip, user_agent, jsonb_build_object('method', lower(method)));
  end if;
  select case when v_c.restored then 'restored' else 'ok' end, v_user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_user_id, ip, user_agent, refresh_ttl) s;
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.finish_sign_in_challenge(uuid, text, boolean, bigint, text, text, bigint, interval, inet, text) is
  E'Finishes a second step or a passkey sign-in with a checked factor and opens the session; records a failure instead.';

/** startPasskeySignIn: a challenge for a passwordless sign-in (the e-mail narrows it to one account). */
create or replace function app_hidden.start_passkey_sign_in(email text, webauthn_challenge text, ttl interval,
  out token text, out expires_at timestamptz, out passkeys jsonb
) as $$
declare
  v_user_id uuid;
  v_challenge record;
begin
  if email is not null then
    select u.id into v_user_id from app_public.users u where u.email = lower(btrim(start_passkey_sign_in.email));
    -- an unknown address gets a challenge no passkey can answer: the answer does not tell
    if v_user_id is null then
      v_user_id := '00000000-0000-0000-0000-000000000000';
    end if;
  end if;
  select * into v_challenge from app_private.new_challenge(
    nullif(v_user_id, '00000000-0000-0000-0000-000000000000'), 'passkey_sign_in', webauthn_challenge, ttl);
  if v_user_id = '00000000-0000-0000-0000-000000000000' then
    -- the challenge must not accept any account's passkey: bind it to nobody's
    update app_private.second_step_challenges c set used_at = now() where c.id = v_challenge.id;
  end if;
  token := v_challenge.token;
  expires_at := v_challenge.expires_at;
  passkeys := case when v_user_id is null then '[]'::jsonb else app_private.passkey_descriptors(v_user_id) end;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.start_passkey_sign_in(text, text, interval) is
  E'Opens a passwordless passkey sign-in challenge (for one account when an e-mail is given).';

/** The signed-in user's factors, for the checks TypeScript does (its own rows only). */
create or replace function app_hidden.my_second_factors(max_failures int, failure_window interval,
  out user_id uuid, out email text, out totp_secret text, out totp_confirmed boolean,
  out methods text[], out passkeys jsonb, out rate_limited boolean
) as $$
begin
  user_id := app_hidden.require_user();
  select u.email into email from app_public.users u where u.id = my_second_factors.user_id;
  select t.secret, t.confirmed_at is not null into totp_secret, totp_confirmed
    from app_private.totp_factors t where t.user_id = my_second_factors.user_id;
  totp_confirmed := coalesce(totp_confirmed, false);
  methods := app_private.second_factor_methods(user_id);
  passkeys := app_private.passkey_descriptors(user_id);
  rate_limited := app_private.factor_failures_exceeded(user_id, max_failures, failure_window);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.my_second_factors(int, interval) is
  E'The signed-in user''s TOTP secret, methods and passkeys, and whether their factor checks are rate limited.';

/** A fresh second factor for a sensitive change (disableTotp, regenerateRecoveryCodes, removePasskey). */
create or replace function app_hidden.use_fresh_factor(
  purpose text, method text, verified boolean, totp_step bigint, recovery_code text,
  verify_token text, credential_id text, new_counter bigint, ip inet, user_agent text
) returns text as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if method = 'PASSKEY' then
    -- the passkey answered a `verify` challenge of this user, opened by open_challenge just now
    if not exists (select 1 from app_private.second_step_challenges c
                    where c.token_hash = app_private.hash_token(verify_token) and c.user_id = v_me
                      and c.purpose = 'verify' and c.expires_at > now()) then
      return 'invalid';
    end if;
    update app_private.second_step_challenges c set used_at = now()
     where c.token_hash = app_private.hash_token(verify_token);
  end if;
  return app_private.spend_factor(v_me, method, purpose, verified, totp_step, recovery_code,
                                  credential_id, new_counter, ip, user_agent);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.use_fresh_factor(text, text, boolean, bigint, text, text, text, bigint, inet, text) is
  E'Spends a fresh second factor of the signed-in user (or records the failure) before a sensitive change.';

create or replace function app_hidden.enrol_totp(secret text) returns text as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if exists (select 1 from app_private.totp_factors t where t.user_id = v_me and t.confirmed_at is not null) then
    raise exception 'An authenticator app is already set up; disable it first' using errcode = 'CNFLT';
  end if;
  insert into app_private.totp_factors (user_id, secret) values (v_me, enrol_totp.secret)
  on conflict (user_id) do update set secret = excluded.secret, created_at = now(), last_used_step = null;
  return (select u.email from app_public.users u where u.id = v_me);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.enrol_totp(text) is
  E'Stores a new, unconfirmed TOTP secret for the signed-in user (replacing an unconfirmed one); returns their e-mail for the QR code.';

/** confirmTotp: the first code proves the app has the secret; the factor is on, new recovery codes. */
create or replace function app_hidden.confirm_totp(verified boolean, totp_step bigint, ip inet, user_agent text,
  out outcome text, out recovery_codes text[]
) as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  if not exists (select 1 from app_private.totp_factors t where t.user_id = v_me and t.confirmed_at is null) then
    outcome := 'not_enrolled';
    return;
  end if;
  if not verified then
    perform app_private.record_factor_failure(v_me, 'TOTP', 'confirm_totp', ip, user_agent);
    outcome := 'bad_code';
    return;
  end if;
  update app_private.totp_factors set confirmed_at = now(), last_used_step = totp_step where user_id = v_me;
  recovery_codes := app_private.issue_recovery_codes(v_me);
  perform app_private.audit(v_me, 'totp_enabled', ip, user_agent);
  outcome := 'ok';
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.confirm_totp(boolean, bigint, inet, text) is
  E'Turns the enrolled TOTP factor on after a correct first code and issues recovery codes.';

create or replace function app_hidden.disable_totp(ip inet, user_agent text) returns void as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  delete from app_private.totp_factors where user_id = v_me;
  if not app_private.has_second_factor(v_me) then
    delete from app_private.recovery_codes where user_id = v_me;
  end if;
  perform app_private.audit(v_me, 'totp_disabled', ip, user_agent);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.disable_totp(inet, text) is
  E'Removes the TOTP factor (after use_fresh_factor); without any factor left, the recovery codes go too.';

create or replace function app_hidden.regenerate_recovery_codes(ip inet, user_agent text) returns text[] as $$
declare
  v_me uuid := app_hidden.require_user();
  v_codes text[];
begin
  if not app_private.has_second_factor(v_me) then
    raise exception 'Turn on a second factor first' using errcode = 'CNFLT';
  end if;
  v_codes := app_private.issue_recovery_codes(v_me);
  perform app_private.audit(v_me, 'recovery_codes_regenerated', ip, user_agent);
  return v_codes;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.regenerate_recovery_codes(inet, text) is
  E'Replaces the signed-in user''s recovery codes (after use_fresh_factor) and returns the new ones.';

/** A WebAuthn ceremony of the signed-in user (passkey registration, or a fresh-factor check). */
create or replace function app_hidden.start_my_challenge(purpose text, webauthn_challenge text, ttl interval,
  out token text, out expires_at timestamptz, out email text, out passkeys jsonb
) as $$
declare
  v_me uuid := app_hidden.require_user();
  v_challenge record;
begin
  if purpose not in ('passkey_registration', 'verify') then
    raise exception 'Unknown challenge purpose' using errcode = 'INVAL';
  end if;
  if purpose = 'verify' and not exists (select 1 from app_private.webauthn_credentials w where w.user_id = v_me) then
    raise exception 'This account has no passkey' using errcode = 'NTFND';
  end if;
  select * into v_challenge from app_private.new_challenge(v_me, purpose, webauthn_challenge, ttl);
  token := v_challenge.token;
  expires_at := v_challenge.expires_at;
  select u.email into email from app_public.users u where u.id = v_me;
  passkeys := app_private.passkey_descriptors(v_me);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.start_my_challenge(text, text, interval) is
  E'Opens a WebAuthn challenge for the signed-in user: registering a passkey, or proving one for a sensitive change.';

/** finishPasskeyRegistration: stores the verified credential; the first factor brings recovery codes. */
create or replace function app_hidden.add_passkey(
  challenge_id uuid, credential_id text, public_key bytea, counter bigint, transports text[], name text,
  ip inet, user_agent text, out passkey_id uuid, out recovery_codes text[]
) as $$
declare
  v_me uuid := app_hidden.require_user();
  v_first boolean;
begin
  update app_private.second_step_challenges c set used_at = now()
   where c.id = add_passkey.challenge_id and c.user_id = v_me and c.purpose = 'passkey_registration';
  if not found then
    raise exception 'This registration is not yours' using errcode = 'DNIED';
  end if;
  v_first := not app_private.has_second_factor(v_me);
  insert into app_private.webauthn_credentials (user_id, credential_id, public_key, counter, transports, name)
  values (v_me, add_passkey.credential_id, add_passkey.public_key, add_passkey.counter,
          coalesce(add_passkey.transports, '{}'), coalesce(nullif(btrim(add_passkey.name), ''), 'Passkey'))
  returning id into passkey_id;
  if v_first and not exists (select 1 from app_private.recovery_codes r where r.user_id = v_me and r.used_at is null) then
    recovery_codes := app_private.issue_recovery_codes(v_me);
  end if;
  perform app_private.audit(v_me, 'passkey_added', ip, user_agent, jsonb_build_object('passkey_id', passkey_id));
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.add_passkey(uuid, text, bytea, bigint, text[], text, inet, text) is
  E'Stores a verified passkey for the signed-in user; the account''s first factor also issues recovery codes.';

create or replace function app_hidden.remove_passkey(passkey_id uuid, ip inet, user_agent text) returns void as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  delete from app_private.webauthn_credentials w where w.id = remove_passkey.passkey_id and w.user_id = v_me;
  if not found then
    raise exception 'No such passkey' using errcode = 'NTFND';
  end if;
  if not app_private.has_second_factor(v_me) then
    delete from app_private.recovery_codes where user_id = v_me;
  end if;
  perform app_private.audit(v_me, 'passkey_removed', ip, user_agent, jsonb_build_object('passkey_id', passkey_id));
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.remove_passkey(uuid, inet, text) is
  E'Removes one of the signed-in user''s passkeys (after use_fresh_factor); without any factor left, the recovery codes go too.';

/** myPasskeys and the second-factor summary of the signed-in user. */
create or replace function app_hidden.my_passkeys()
returns table (id uuid, name text, created_at timestamptz, last_used_at timestamptz) as $$
  select w.id, w.name, w.created_at, w.last_used_at from app_private.webauthn_credentials w
   where w.user_id = app_hidden.require_user() order by w.created_at, w.id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.my_passkeys() is E'The signed-in user''s passkeys (no keys).';

create or replace function app_hidden.my_second_factor_status(
  out totp_enabled boolean, out recovery_codes_left int, out passkeys int
) as $$
declare
  v_me uuid := app_hidden.require_user();
begin
  totp_enabled := exists (select 1 from app_private.totp_factors t where t.user_id = v_me and t.confirmed_at is not null);
  select count(*)::int into recovery_codes_left from app_private.recovery_codes r where r.user_id = v_me and r.used_at is null;
  select count(*)::int into passkeys from app_private.webauthn_credentials w where w.user_id = v_me;
end;
$$ language plpgsql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.my_second_factor_status() is
  E'Whether the signed-in user has TOTP on, how many recovery codes are left, how many passkeys.';

-- ==== sign-in: openid connect ====
-- Issue #19. Sign-in with any OpenID Connect provider (OIDC_PROVIDERS; src/auth/oidc.ts with
-- openid-client). The browser's round trip: startOidcSignIn / startOidcLink store a single-use
-- state (with the nonce and PKCE verifier) → the provider → GET /auth/oidc/<provider>/callback
-- (src/http/oidc.ts) takes the state, exchanges the code and verifies the ID token, then
-- oidc_resolve decides and hands the client app a one-time code: a sign-in code
-- (completeOidcSignIn, which ends through src/auth/signIn.ts completeSignIn, so second factors
-- apply) or a link code (linkIdentity, signed in as the account it names). A provider identity
-- whose e-mail matches an existing account is never linked silently: the person must sign in
-- to that account first. Identities are app_private.user_authentications rows with service
-- 'oidc:<provider>' and identifier = the ID token's `sub`. (The audit actions identity_linked,
-- identity_unlinked, oidc_sign_in and oidc_sign_in_failed are in the constraint of the
-- "sign-in: second factors" section.)

create table if not exists app_private.oidc_states (
  id                uuid primary key default gen_random_uuid(),
  state_hash        text not null constraint uq_oidc_states_state_hash unique,
  provider          text not null,
  purpose           text not null constraint ck_oidc_states_purpose check (purpose in ('sign_in', 'link')),
  -- purpose `link`: the signed-in account that asked
  user_id           uuid constraint fk_oidc_states_user_id references app_public.users (id) on delete cascade,
  nonce             text not null,
  code_verifier     text not null,
  app_redirect_uri  text not null,
  created_at        timestamptz not null default now(),
  expires_at        timestamptz not null,
  -- taken by the callback (once), then resolved (once) with the verified identity
  used_at           timestamptz,
  resolved_at       timestamptz
);
create index if not exists idx_oidc_states_expires_at on app_private.oidc_states (expires_at);
create index if not exists idx_oidc_states_user_id on app_private.oidc_states (user_id);
comment on table app_private.oidc_states is
  E'OpenID Connect authorisation requests in flight: the state (as a SHA-256 hash), nonce and PKCE verifier, single use, short-lived.';

create table if not exists app_private.oidc_grants (
  id          uuid primary key default gen_random_uuid(),
  code_hash   text not null constraint uq_oidc_grants_code_hash unique,
  kind        text not null constraint ck_oidc_grants_kind check (kind in ('sign_in', 'link')),
  -- sign_in: the account to sign in; link: the only account that may link the identity
  user_id     uuid not null constraint fk_oidc_grants_user_id references app_public.users (id) on delete cascade,
  provider    text not null,
  subject     text not null,
  email       text,
  details     jsonb not null default '{}',
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  used_at     timestamptz
);
create index if not exists idx_oidc_grants_user_id on app_private.oidc_grants (user_id);
create index if not exists idx_oidc_grants_expires_at on app_private.oidc_grants (expires_at);
comment on table app_private.oidc_grants is
  E'One-time codes the OpenID Connect callback hands the client app: sign in (completeOidcSignIn) or link an identity (linkIdentity). Stored as SHA-256 hashes.';

/** startOidcSignIn / startOidcLink: remembers a state (TypeScript made state, nonce and verifier). */
create or replace function app_hidden.oidc_begin(
  provider text, purpose text, state text, nonce text, code_verifier text, app_redirect_uri text, ttl interval
) returns timestamptz as $$
declare
  v_user uuid;
  v_expires timestamptz := now() + ttl;
begin
  if purpose = 'link' then
    v_user := app_hidden.require_user();
  elsif purpose <> 'sign_in' then
    raise exception 'Unknown purpose' using errcode = 'INVAL';
  end if;
  delete from app_private.oidc_states s where s.expires_at < now() - interval '1 day';
  delete from app_private.oidc_grants g where g.expires_at < now() - interval '1 day';
  insert into app_private.oidc_states (state_hash, provider, purpose, user_id, nonce, code_verifier, app_redirect_uri, expires_at)
  values (app_private.hash_token(state), oidc_begin.provider, oidc_begin.purpose, v_user, oidc_begin.nonce,
          oidc_begin.code_verifier, oidc_begin.app_redirect_uri, v_expires);
  return v_expires;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_begin(text, text, text, text, text, text, interval) is
  E'Stores an OpenID Connect authorisation request (state hash, nonce, PKCE verifier, where to send the browser back); `link` needs a signed-in user.';

/**
 * The callback takes the state once (committed before the code is exchanged, so a replayed
 * callback is refused whatever happens next). Outcome `ok` (with what the exchange needs),
 * `invalid` (unknown, used, or another provider's) or `expired`.
 */
create or replace function app_hidden.oidc_take_state(
  provider text, state text,
  out outcome text, out state_id uuid, out nonce text, out code_verifier text, out app_redirect_uri text
) as $$
declare
  v_s app_private.oidc_states;
begin
  update app_private.oidc_states s set used_at = now()
   where s.state_hash = app_private.hash_token(coalesce(oidc_take_state.state, ''))
     and s.provider = oidc_take_state.provider and s.used_at is null
  returning * into v_s;
  if v_s.id is null then
    outcome := 'invalid';
    return;
  end if;
  if v_s.expires_at <= now() then
    outcome := 'expired';
    return;
  end if;
  outcome := 'ok';
  state_id := v_s.id;
  nonce := v_s.nonce;
  code_verifier := v_s.code_verifier;
  app_redirect_uri := v_s.app_redirect_uri;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_take_state(text, text) is
  E'Uses up an OpenID Connect state (once) and returns its nonce, PKCE verifier and the client app''s redirect URI.';

/** A state taken in the last 10 minutes and not resolved yet: resolved now (null otherwise). */
create or replace function app_private.oidc_claim_state(state_id uuid) returns app_private.oidc_states as $$
  update app_private.oidc_states s set resolved_at = now()
   where s.id = oidc_claim_state.state_id and s.used_at > now() - interval '10 minutes' and s.resolved_at is null
  returning *;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.oidc_claim_state(uuid) is
  E'Marks a taken OpenID Connect state resolved (once), returning it; null when it is not there to resolve.';

/** The callback could not verify the provider's answer: audited, the state resolved. */
create or replace function app_hidden.oidc_fail(state_id uuid, reason text, ip inet, user_agent text) returns void as $$
declare
  v_s app_private.oidc_states := app_private.oidc_claim_state(state_id);
begin
  if v_s.id is not null then
    perform app_private.audit(v_s.user_id, 'oidc_sign_in_failed', ip, user_agent,
                              jsonb_build_object('provider', v_s.provider, 'reason', left(reason, 200)));
  end if;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_fail(uuid, text, inet, text) is
  E'Records a failed OpenID Connect callback (token exchange or ID token refused) in the audit log.';

create or replace function app_private.new_oidc_grant(
  kind text, user_id uuid, provider text, subject text, email text, details jsonb, ttl interval
) returns text as $$
declare
  v_code text := app_private.random_token();
begin
  insert into app_private.oidc_grants (code_hash, kind, user_id, provider, subject, email, details, expires_at)
  values (app_private.hash_token(v_code), kind, user_id, provider, subject, email, coalesce(details, '{}'), now() + ttl);
  return v_code;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.new_oidc_grant(text, uuid, text, text, text, jsonb, interval) is
  E'A one-time code for the client app (returned in plain once; its hash is stored).';

/** A free username like the wish (preferred_username or the e-mail's local part). */
create or replace function app_private.unique_username(wish text) returns text as $$
declare
  v_base text := left(regexp_replace(lower(coalesce(wish, '')), '[^a-z0-9_]+', '_', 'g'), 40);
  v_name text;
begin
  v_base := btrim(v_base, '_');
  if char_length(v_base) < 3 then
    v_base := left('user_' || v_base, 40);
  end if;
  v_name := v_base;
  while exists (select 1 from app_public.user_profiles p where lower(p.username) = v_name) loop
    v_name := v_base || '_' || (1000 + floor(random() * 9000))::int;
  end loop;
  return v_name;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.unique_username(text) is
  E'A username (letters, digits, _) derived from the wish and not taken (a number appended when it is).';

/**
 * What a verified identity means (the ID token's claims, checked by TypeScript), for a state
 * oidc_take_state took. Outcome and a one-time code for the client app:
 *
 * - `sign_in` (code: completeOidcSignIn): a linked identity, or a new person (account created:
 *   username derived, e-mail verified only if the provider says so, no password);
 * - `link_required` (code: linkIdentity): the e-mail is an existing account's and the provider
 *   verified it; the person must sign in to that account and link — never silently;
 * - `link` (code: linkIdentity): startOidcLink's flow; only the account that asked may link;
 * - refusals, audited: `email_not_verified` (an existing account's e-mail that the provider has
 *   not verified: never linked), `email_required` (a new identity without e-mail),
 *   `identity_in_use` (linking an identity another account has), `invalid` (state).
 */
create or replace function app_hidden.oidc_resolve(
  state_id uuid, subject text, email text, email_verified boolean, name text, preferred_username text,
  issuer text, ttl interval, ip inet, user_agent text,
  out outcome text, out code text
) as $$
declare
  v_s app_private.oidc_states := app_private.oidc_claim_state(state_id);
  v_service text;
  v_email text := nullif(lower(btrim(email)), '');
  v_verified boolean := coalesce(email_verified, false);
  v_details jsonb;
  v_auth app_private.user_authentications;
  v_user_id uuid;
  v_username text;
  v_reason text;
begin
  if v_s.id is null or subject is null or subject = '' then
    outcome := 'invalid';
    return;
  end if;
  v_service := 'oidc:' || v_s.provider;
  v_details := jsonb_strip_nulls(jsonb_build_object('issuer', issuer, 'email', v_email, 'email_verified', v_verified,
                                                    'name', name, 'preferred_username', preferred_username));
  select * into v_auth from app_private.user_authentications a
   where a.service = v_service and a.identifier = oidc_resolve.subject;

  if v_s.purpose = 'link' then
    if v_auth.id is not null and v_auth.user_id <> v_s.user_id then
      v_reason := 'identity_in_use';
    else
      outcome := 'link';
      code := app_private.new_oidc_grant('link', v_s.user_id, v_s.provider, subject, v_email, v_details, ttl);
      return;
    end if;
  elsif v_auth.id is not null then
    update app_private.user_authentications a set details = v_details where a.id = v_auth.id;
    outcome := 'sign_in';
    code := app_private.new_oidc_grant('sign_in', v_auth.user_id, v_s.provider, subject, v_email, v_details, ttl);
    return;
  elsif v_email is null or v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' or length(v_email) > 255 then
    v_reason := 'email_required';
  else
    select u.id into v_user_id from app_public.users u where u.email = v_email;
    if v_user_id is not null and not v_verified then
      v_reason := 'email_not_verified';
    elsif v_user_id is not null then
      outcome := 'link_required';
      code := app_private.new_oidc_grant('link', v_user_id, v_s.provider, subject, v_email, v_details, ttl);
      perform app_private.audit(v_user_id, 'oidc_sign_in_failed', ip, user_agent,
                                jsonb_build_object('provider', v_s.provider, 'reason', 'link_required'));
      return;
    else
      -- a new person: an account without a password, signed in through this identity
      v_username := app_private.unique_username(coalesce(nullif(btrim(preferred_username), ''), split_part(v_email, '@', 1)));
      insert into app_public.users (email, password_hash, email_verified)
      values (v_email, null, v_verified)
      returning id into v_user_id;
      insert into app_public.user_profiles (user_id, username, display_name)
      values (v_user_id, v_username, coalesce(left(nullif(btrim(name), ''), 100), v_username));
      insert into app_private.user_authentications (user_id, service, identifier, details)
      values (v_user_id, v_service, subject, v_details);
      perform app_private.audit(v_user_id, 'register', ip, user_agent, jsonb_build_object('provider', v_s.provider));
      perform app_private.audit(v_user_id, 'identity_linked', ip, user_agent,
                                jsonb_build_object('provider', v_s.provider, 'subject', subject));
      if not v_verified then
        perform graphile_worker.add_job(
          'send_email', json_build_object('template', 'verify_email', 'user_id', v_user_id),
          job_key := 'send_email:verify_email:' || v_user_id, max_attempts := 10);
      end if;
      outcome := 'sign_in';
      code := app_private.new_oidc_grant('sign_in', v_user_id, v_s.provider, subject, v_email, v_details, ttl);
      return;
    end if;
  end if;
  perform app_private.audit(coalesce(v_s.user_id, v_user_id, v_auth.user_id), 'oidc_sign_in_failed', ip, user_agent,
                            jsonb_build_object('provider', v_s.provider, 'reason', v_reason));
  outcome := v_reason;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_resolve(uuid, text, text, boolean, text, text, text, interval, inet, text) is
  E'Decides what a verified OpenID Connect identity means (sign in, sign up, link required, link) and returns a one-time code for the client app, or why not (audited).';

/**
 * completeOidcSignIn: the sign-in code (once, in time) opens a session like login does (an
 * account awaiting erasure is restored: `restored`); the API then ends it through
 * completeSignIn (second factors). Never raises for a refusal: it returns why.
 */
create or replace function app_hidden.oidc_complete_sign_in(code text, refresh_ttl interval, ip inet, user_agent text)
returns app_hidden.session as $$
declare
  v_g app_private.oidc_grants;
  v_user app_public.users;
  v_restored boolean := false;
  v_result app_hidden.session;
begin
  update app_private.oidc_grants g set used_at = now()
   where g.code_hash = app_private.hash_token(coalesce(oidc_complete_sign_in.code, ''))
     and g.kind = 'sign_in' and g.used_at is null and g.expires_at > now()
  returning * into v_g;
  if v_g.id is null then
    return row('invalid', null, null, null)::app_hidden.session;
  end if;
  select * into v_user from app_public.users u where u.id = v_g.user_id;
  if v_user.status = 'deleted' and v_user.deletion_requested_at is not null then
    perform app_private.restore_account(v_user.id, ip, user_agent);
    v_restored := true;
  elsif v_user.status is distinct from 'active' then
    perform app_private.audit(v_g.user_id, 'oidc_sign_in_failed', ip, user_agent,
                              jsonb_build_object('provider', v_g.provider, 'reason', v_user.status));
    return row(coalesce(v_user.status, 'deleted'), null, null, null)::app_hidden.session;
  end if;
  update app_public.users set last_login_at = now(), login_count = coalesce(login_count, 0) + 1 where id = v_g.user_id;
  perform app_private.audit(v_g.user_id, 'oidc_sign_in', ip, user_agent, jsonb_build_object('provider', v_g.provider));
  select case when v_restored then 'restored' else 'ok' end, v_g.user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_g.user_id, ip, user_agent, refresh_ttl) s;
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_complete_sign_in(text, interval, inet, text) is
  E'Exchanges a one-time OpenID Connect sign-in code for a session (once); returns why not instead of raising.';

/** linkIdentity: the link code, used by the signed-in account it names. */
create or replace function app_hidden.link_identity(code text, ip inet, user_agent text) returns uuid as $$
declare
  v_me uuid := app_hidden.require_user();
  v_g app_private.oidc_grants;
  v_auth app_private.user_authentications;
begin
  update app_private.oidc_grants g set used_at = now()
   where g.code_hash = app_private.hash_token(coalesce(link_identity.code, ''))
     and g.kind = 'link' and g.used_at is null and g.expires_at > now() and g.user_id = v_me
  returning * into v_g;
  if v_g.id is null then
    raise exception 'This link code is invalid, used, expired or meant for another account'
      using errcode = 'INVAL', detail = 'field=code';
  end if;
  select * into v_auth from app_private.user_authentications a
   where a.service = 'oidc:' || v_g.provider and a.identifier = v_g.subject;
  if v_auth.id is not null and v_auth.user_id <> v_me then
    raise exception 'This identity is already linked to another account' using errcode = 'OLINK';
  elsif v_auth.id is not null then
    return v_auth.id;
  end if;
  insert into app_private.user_authentications (user_id, service, identifier, details)
  values (v_me, 'oidc:' || v_g.provider, v_g.subject, v_g.details)
  returning id into v_auth.id;
  perform app_private.audit(v_me, 'identity_linked', ip, user_agent,
                            jsonb_build_object('provider', v_g.provider, 'subject', v_g.subject));
  return v_auth.id;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.link_identity(text, inet, text) is
  E'Links the identity a link code names to the signed-in account (which must be the one the code names); returns the identity''s id.';

/** unlinkIdentity: never the last way to sign in (a password, another identity or a passkey). */
create or replace function app_hidden.unlink_identity(identity_id uuid, ip inet, user_agent text) returns void as $$
declare
  v_me uuid := app_hidden.require_user();
  v_auth app_private.user_authentications;
begin
  -- one change of sign-in methods at a time per account
  perform 1 from app_public.users u where u.id = v_me for update;
  select * into v_auth from app_private.user_authentications a
   where a.id = unlink_identity.identity_id and a.user_id = v_me;
  if v_auth.id is null then
    raise exception 'No such identity' using errcode = 'NTFND', detail = 'field=id';
  end if;
  if not exists (select 1 from app_public.users u where u.id = v_me and u.password_hash is not null)
     and not exists (select 1 from app_private.user_authentications a where a.user_id = v_me and a.id <> v_auth.id)
     and not exists (select 1 from app_private.webauthn_credentials w where w.user_id = v_me) then
    raise exception 'This is your only way to sign in: set a password or link another identity first'
      using errcode = 'OLAST';
  end if;
  delete from app_private.user_authentications a where a.id = v_auth.id;
  perform app_private.audit(v_me, 'identity_unlinked', ip, user_agent,
                            jsonb_build_object('provider', replace(v_auth.service, 'oidc:', ''), 'subject', v_auth.identifier));
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.unlink_identity(uuid, inet, text) is
  E'Removes one of the signed-in account''s external identities, unless it is the last way to sign in.';

create or replace function app_hidden.my_identities()
returns table (id uuid, provider text, subject text, email text, linked_at timestamptz) as $$
  select a.id, replace(a.service, 'oidc:', ''), a.identifier, a.details ->> 'email', a.created_at
    from app_private.user_authentications a
   where a.user_id = app_hidden.require_user()
   order by a.created_at, a.id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.my_identities() is E'The signed-in account''s external identities (provider, subject, e-mail, when linked).';

-- ==== realtime: presence and audiences ====
/*
 * Who of a topic's subscribers may see an event, decided in one statement per event for all of
 * an API instance's subscribers (src/realtime/hub.ts) instead of one transaction per subscriber.
 * Each function restates, for a set of users, the check a subscriber's own role and claims made
 * before (plugins/realtime.ts): row-level security stays the source of truth, and
 * test/realtime/audience.property.test.ts compares the two over random histories.
 * Callable by `authenticated` only through the API's own code (app_hidden is not exposed).
 */
create or replace function app_hidden.message_audience(conversation_id uuid, message_id uuid, user_ids uuid[])
returns setof uuid as $$
  select p.user_id
    from app_public.messages m
    join app_public.conversation_participants p
      on p.conversation_id = m.conversation_id and p.left_at is null
   where m.id = message_audience.message_id
     and m.conversation_id = message_audience.conversation_id
     and p.user_id = any (message_audience.user_ids)
     and not app_hidden.is_blocked(m.sender_id, p.user_id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.message_audience(uuid, uuid, uuid[]) is
  E'Of user_ids, those who may receive the message live: participants of its conversation who have not left and are not on either side of a block with its sender (messageAdded, messageUpdated).';

create or replace function app_hidden.typing_audience(conversation_id uuid, typist uuid, user_ids uuid[])
returns setof uuid as $$
  select p.user_id
    from app_public.conversation_participants p
   where p.conversation_id = typing_audience.conversation_id
     and p.left_at is null
     and p.user_id = any (typing_audience.user_ids)
     and p.user_id <> typing_audience.typist
     and exists (select 1 from app_public.user_profiles t
                  where t.user_id = typing_audience.typist)
     and not exists (select 1 from app_public.users d
                      where d.id = typing_audience.typist and d.status = 'deleted')
     and not exists (select 1 from app_public.friendships f
                      where f.status = 'blocked' and f.requester_id = typing_audience.typist
                        and f.addressee_id = p.user_id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.typing_audience(uuid, uuid, uuid[]) is
  E'Of user_ids, those who hear that `typist` is typing: the other participants who have not left and may see the typist''s card (not blocked by them; not an account awaiting erasure).';

create or replace function app_hidden.notification_audience(notification_id uuid, user_ids uuid[])
returns table (user_id uuid, unread_count integer) as $$
  select n.recipient_id,
         (select count(*)::int from app_public.notifications u
           where u.recipient_id = n.recipient_id and not u.is_read)
    from app_public.notifications n
   where n.id = notification_audience.notification_id
     and n.recipient_id = any (notification_audience.user_ids);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.notification_audience(uuid, uuid[]) is
  E'Of user_ids, the notification''s recipient (if among them) with their unread count now (notificationAdded).';

create or replace function app_hidden.conversation_audience(conversation_id uuid, user_ids uuid[])
returns setof uuid as $$
  select p.user_id
    from app_public.conversation_participants p
   where p.conversation_id = conversation_audience.conversation_id
     and p.user_id = any (conversation_audience.user_ids)
     and exists (select 1 from app_public.conversations c where c.id = conversation_audience.conversation_id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.conversation_audience(uuid, uuid[]) is
  E'Of user_ids, those who may see the conversation (participants, current or past): myConversationsUpdated.';

revoke all on function app_hidden.message_audience(uuid, uuid, uuid[]) from public;
revoke all on function app_hidden.typing_audience(uuid, uuid, uuid[]) from public;
revoke all on function app_hidden.notification_audience(uuid, uuid[]) from public;
revoke all on function app_hidden.conversation_audience(uuid, uuid[]) from public;
grant execute on function app_hidden.message_audience(uuid, uuid, uuid[]) to authenticated;
grant execute on function app_hidden.typing_audience(uuid, uuid, uuid[]) to authenticated;
grant execute on function app_hidden.notification_audience(uuid, uuid[]) to authenticated;
grant execute on function app_hidden.conversation_audience(uuid, uuid[]) to authenticated;

/*
 * Presence (src/realtime/presence.ts): who is online lives in the API instances' memory, told
 * to each other by NOTIFY; only the moment someone went fully offline is stored, one row per
 * user (never a row per heartbeat).
 */
create table if not exists app_private.last_seen (
  user_id uuid primary key
          constraint fk_last_seen_user_id references app_public.users (id) on delete cascade,
  seen_at timestamptz not null default now()
);
comment on table app_private.last_seen is
  E'When each user last closed their last live websocket (on any API instance): User.lastSeenAt.';

alter table app_public.user_profiles
  add column if not exists show_last_seen boolean not null default true;
comment on column app_public.user_profiles.show_last_seen is
  E'Whether your friends see when you were last online (User.lastSeenAt); you always see your own.';

create or replace function app_hidden.record_last_seen(user_id uuid) returns void as $$
  insert into app_private.last_seen as l (user_id, seen_at)
  select u.id, now() from app_public.users u where u.id = record_last_seen.user_id
  on conflict (user_id) do update set seen_at = greatest(l.seen_at, excluded.seen_at);
$$ language sql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.record_last_seen(uuid) is
  E'Records that the user has just gone offline everywhere (their last websocket closed, or the instance holding it stopped answering).';

create or replace function app_public.user_cards_last_seen_at(u app_public.user_cards) returns timestamptz as $$
  select l.seen_at
    from app_private.last_seen l
    join app_public.user_profiles p on p.user_id = l.user_id
   where l.user_id = u.id
     and (u.id = app_public.current_user_id()
          or (p.show_last_seen
              and app_hidden.is_friend(u.id, app_public.current_user_id())
              and not app_hidden.is_blocked(u.id, app_public.current_user_id())));
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_last_seen_at(app_public.user_cards) is
  E'When this user was last online (their last live connection closed): shown to themselves, and to their friends unless they hide it (`showLastSeen`); null to everyone else and across a block.';

create or replace function app_hidden.presence_audience(user_id uuid, user_ids uuid[])
returns setof uuid as $$
  select s.id
    from unnest(presence_audience.user_ids) s(id)
   where app_hidden.is_friend(presence_audience.user_id, s.id)
     and not app_hidden.is_blocked(presence_audience.user_id, s.id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.presence_audience(uuid, uuid[]) is
  E'Of user_ids, those who hear that user_id came online or went offline: their accepted friends, never across a block (presenceChanged).';

revoke all on function app_hidden.record_last_seen(uuid) from public;
revoke all on function app_hidden.presence_audience(uuid, uuid[]) from public;
revoke all on function app_public.user_cards_last_seen_at(app_public.user_cards) from public;
grant execute on function app_hidden.record_last_seen(uuid) to authenticated;
grant execute on function app_hidden.presence_audience(uuid, uuid[]) to authenticated;

-- ==== media: processing ====
-- Issue #14, the worker's side (src/tasks/media.ts): media__cleanup_orphans deletes, with
-- their stored files, the uploads nobody uses: never attached within 24 hours, or attached
-- once but named by no media column any more (a purged post or message, a replaced avatar).

-- Every column that may hold 'media:uploads/<owner>/<id>/…' says so in its check constraint
-- (section "media: uploads"); a column added that way later is covered without a change here.
create or replace function app_private.media_referenced_upload_ids() returns setof uuid as $$
declare
  v_col record;
  v_sql text := '';
begin
  for v_col in
    select c.conrelid::regclass::text as tbl, a.attname::text as col
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
     where c.contype = 'c' and c.connamespace = 'app_public'::regnamespace
       and pg_get_constraintdef(c.oid) like '%media:uploads/%'
     order by 1, 2
  loop
    v_sql := v_sql || case when v_sql = '' then '' else ' union ' end || format(
      'select substring(%1$I from ''^media:uploads/[^/]+/([0-9a-fA-F-]{36})/'')::uuid from %2$s where %1$I like ''media:uploads/%%''',
      v_col.col, v_col.tbl);
  end loop;
  if v_sql <> '' then
    return query execute 'select id from (' || v_sql || ') r(id) where id is not null';
  end if;
end;
$$ language plpgsql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_referenced_upload_ids() is
  E'Ids of the uploads some media column (one whose check constraint allows media:uploads/) names.';

create or replace function app_private.media_orphan_uploads(max_rows int, unattached_for interval)
returns setof app_public.uploads as $$
declare
  v_ids uuid[];
  v_refs uuid[] := array(select app_private.media_referenced_upload_ids());
begin
  select array_agg(c.id) into v_ids from (
    select u.id from app_public.uploads u
     where (u.attached_at is null and u.created_at < now() - unattached_for)
        or (u.attached_at is not null and not (u.id = any (v_refs)))
     order by u.created_at
     limit max_rows
     for update of u skip locked) c;
  if v_ids is null then
    return;
  end if;
  -- look again now the rows are locked: an attach (media_upload_for locks the row) that
  -- committed since the first look is seen by this statement's fresh snapshot
  v_refs := array(select app_private.media_referenced_upload_ids());
  return query
    select u.* from app_public.uploads u
     where u.id = any (v_ids)
       and ((u.attached_at is null and u.created_at < now() - unattached_for)
            or (u.attached_at is not null and not (u.id = any (v_refs))));
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.media_orphan_uploads(int, interval) is
  E'Locks (skip locked) and returns up to max_rows uploads nobody uses: never attached for unattached_for, or attached but named by no media column. The caller deletes their files, then the rows, in the same transaction.';

-- ==== personal data: analytics ====
-- Issue #13: an `analytics` schema of views for the reporting role mking_analyst (created by
-- src/db/roles.ts; grants in policies/analytics.sql). Every id is replaced by a pseudonym, a
-- keyed hash (HMAC-SHA256 under app_private.analytics_key), so ids join across views but do not
-- reveal the account; no e-mail, phone, name, username, free text, content or IP address; dates
-- of birth become age bands, timestamps days (or months), locations a coarse, common value.
-- docs/SECURITY.md, "Analytics without personal data".

create schema if not exists analytics;
comment on schema analytics is
  E'Pseudonymous reporting views for the mking_analyst role: no e-mail, phone, names, content or IP addresses; ids are keyed hashes (app_private.pseudonym). docs/SECURITY.md.';

create table if not exists app_private.analytics_key (
  id      boolean primary key default true
          constraint ck_analytics_key_id check (id),
  key     bytea not null
          constraint ck_analytics_key_key check (octet_length(key) >= 32),
  set_at  timestamptz not null default now()
);
comment on table app_private.analytics_key is
  E'The one key of the analytics pseudonyms (HMAC-SHA256). Random at the first migration; ANALYTICS_PSEUDONYM_KEY, when set, replaces it at every start (src/analytics/pseudonymKey.ts). Changing it changes every pseudonym.';
insert into app_private.analytics_key (id, key) values (true, public.gen_random_bytes(32))
  on conflict (id) do nothing;

create or replace function app_private.set_analytics_key(new_key bytea) returns boolean as $$
declare
  v_key bytea := coalesce(new_key, public.gen_random_bytes(32));
  v_changed int;
begin
  if octet_length(v_key) < 32 then
    raise exception 'the analytics pseudonym key must be at least 32 bytes long' using errcode = 'INVAL';
  end if;
  insert into app_private.analytics_key as k (id, key) values (true, v_key)
    on conflict (id) do update set key = excluded.key, set_at = now()
    where k.key is distinct from excluded.key;
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.set_analytics_key(bytea) is
  E'Sets the analytics pseudonym key (null: a new random one); true when it changed, i.e. every pseudonym changed. Owner only.';

create or replace function app_private.pseudonym(target uuid) returns text as $$
  select left(encode(public.hmac(convert_to(target::text, 'UTF8'), k.key, 'sha256'), 'hex'), 32)
    from app_private.analytics_key k
   where target is not null;
$$ language sql stable strict security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.pseudonym(uuid) is
  E'The pseudonym of an id: the first 128 bits of HMAC-SHA256(id, analytics key), hex. Security definer so the analytics views can use the key without their reader seeing it; the analyst may execute it only through the views (no usage on app_private).';

create or replace function app_private.age_band(birth_date date) returns text as $$
  select case
    when birth_date is null then 'unknown'
    when age(current_date, birth_date) < interval '18 years' then 'under 18'
    when age(current_date, birth_date) < interval '25 years' then '18-24'
    when age(current_date, birth_date) < interval '35 years' then '25-34'
    when age(current_date, birth_date) < interval '45 years' then '35-44'
    when age(current_date, birth_date) < interval '55 years' then '45-54'
    when age(current_date, birth_date) < interval '65 years' then '55-64'
    else '65+'
  end;
$$ language sql stable set search_path to pg_catalog, pg_temp;
comment on function app_private.age_band(date) is
  E'An age band (under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65+, unknown) instead of a date of birth.';

create or replace function app_private.coarse_location(location text) returns text as $$
  -- the free text's last comma-separated part ("Lyon, France" -> "france"), or null
  select nullif(lower(btrim(regexp_replace(location, '^.*,', ''))), '');
$$ language sql immutable set search_path to pg_catalog, pg_temp;
comment on function app_private.coarse_location(text) is
  E'The coarse part of a free-text location: its last comma-separated part, trimmed and lower-cased. analytics.users shows it only when at least 10 people share it.';

create or replace function app_private.utc_day(t timestamptz) returns date as $$
  select (t at time zone 'UTC')::date;
$$ language sql immutable set search_path to pg_catalog, pg_temp;
comment on function app_private.utc_day(timestamptz) is E'The UTC day of a moment (analytics show days, not times).';

create or replace function app_private.utc_month(t timestamptz) returns date as $$
  select date_trunc('month', t at time zone 'UTC')::date;
$$ language sql immutable set search_path to pg_catalog, pg_temp;
comment on function app_private.utc_month(timestamptz) is E'The first day of the UTC month of a moment.';

create or replace view analytics.users as
  select app_private.pseudonym(u.id) as user_pseudonym,
         app_private.utc_month(u.created_at) as signup_month,
         app_private.utc_month(u.last_login_at) as last_login_month,
         u.status,
         coalesce(u.email_verified, false) as email_verified,
         app_private.age_band(p.birth_date) as age_band,
         -- a place named by fewer than 10 people could point at one of them
         case when count(*) over (partition by app_private.coarse_location(p.location)) >= 10
              then app_private.coarse_location(p.location) end as coarse_location,
         p.privacy_level as profile_privacy_level
    from app_public.users u
    left join app_public.user_profiles p on p.user_id = u.id;
comment on view analytics.users is
  E'One row per account: pseudonym, signup and last sign-in month, status, age band, a coarse location shared by at least 10 people (else null), profile privacy. No e-mail, phone, names or dates of birth.';

create or replace view analytics.posts as
  select app_private.pseudonym(po.id) as post_pseudonym,
         app_private.pseudonym(po.author_id) as author_pseudonym,
         app_private.pseudonym(po.group_id) as group_pseudonym,
         app_private.pseudonym(po.shared_post_id) as shared_post_pseudonym,
         app_private.utc_day(po.created_at) as created_day,
         po.post_type,
         po.privacy_level,
         po.deleted_at is not null as is_deleted,
         po.likes_count,
         po.comments_count,
         po.shares_count,
         (select count(*) from app_public.post_media m where m.post_id = po.id) as media_count
    from app_public.posts po;
comment on view analytics.posts is
  E'One row per post: pseudonyms of the post, author, group and shared post, the day, type, privacy and counts. No content, location or media URLs.';

create or replace view analytics.comments as
  select app_private.pseudonym(c.id) as comment_pseudonym,
         app_private.pseudonym(c.post_id) as post_pseudonym,
         app_private.pseudonym(c.author_id) as author_pseudonym,
         app_private.pseudonym(c.parent_comment_id) as parent_comment_pseudonym,
         app_private.utc_day(c.created_at) as created_day,
         c.likes_count,
         c.replies_count
    from app_public.comments c;
comment on view analytics.comments is E'One row per comment: pseudonyms, the day and counts. No content.';

create or replace view analytics.likes as
  select app_private.pseudonym(l.user_id) as user_pseudonym,
         l.target_type,
         app_private.pseudonym(l.target_id) as target_pseudonym,
         app_private.utc_day(l.created_at) as created_day
    from app_public.likes l;
comment on view analytics.likes is
  E'One row per like: who (pseudonym), what (post or comment, pseudonym) and the day.';

create or replace view analytics.messages as
  select app_private.pseudonym(m.conversation_id) as conversation_pseudonym,
         app_private.pseudonym(m.sender_id) as sender_pseudonym,
         app_private.utc_day(m.created_at) as created_day,
         m.message_type,
         coalesce(m.is_deleted, false) as is_deleted
    from app_public.messages m;
comment on view analytics.messages is
  E'One row per message: conversation and sender pseudonyms, the day, the type. No content, file names or URLs.';

create or replace view analytics.conversations as
  select app_private.pseudonym(c.id) as conversation_pseudonym,
         c.conversation_type,
         app_private.utc_day(c.created_at) as created_day,
         coalesce(c.is_active, true) as is_active,
         (select count(*) from app_public.conversation_participants cp
           where cp.conversation_id = c.id and cp.left_at is null) as participant_count
    from app_public.conversations c;
comment on view analytics.conversations is
  E'One row per conversation: pseudonym, type, day created, whether active, current participants. No titles.';

create or replace view analytics.groups as
  select app_private.pseudonym(g.id) as group_pseudonym,
         app_private.pseudonym(g.created_by) as creator_pseudonym,
         g.group_type,
         app_private.utc_day(g.created_at) as created_day,
         coalesce(g.is_active, true) as is_active,
         g.member_count,
         g.post_count
    from app_public.groups g;
comment on view analytics.groups is
  E'One row per group: pseudonyms, type, day created, counts. No name, description, category or location (free text).';

create or replace view analytics.group_members as
  select app_private.pseudonym(gm.group_id) as group_pseudonym,
         app_private.pseudonym(gm.user_id) as user_pseudonym,
         gm.role,
         gm.status,
         app_private.utc_day(gm.joined_at) as joined_day,
         app_private.utc_day(gm.left_at) as left_day
    from app_public.group_members gm;
comment on view analytics.group_members is E'One row per membership: group and member pseudonyms, role, status, days.';

create or replace view analytics.events as
  select app_private.pseudonym(e.id) as event_pseudonym,
         app_private.pseudonym(e.created_by) as creator_pseudonym,
         app_private.pseudonym(e.group_id) as group_pseudonym,
         app_private.utc_day(e.created_at) as created_day,
         app_private.utc_day(e.start_date) as start_day,
         coalesce(e.is_online, false) as is_online,
         e.privacy_level,
         e.max_attendees,
         e.current_attendees,
         coalesce(e.is_cancelled, false) as is_cancelled
    from app_public.events e;
comment on view analytics.events is
  E'One row per event: pseudonyms, days, online or not, privacy, capacity and attendance. No title, description, type, place, coordinates or URLs (free text can name people).';

create or replace view analytics.event_attendees as
  select app_private.pseudonym(a.event_id) as event_pseudonym,
         app_private.pseudonym(a.user_id) as user_pseudonym,
         a.status,
         app_private.utc_day(a.registered_at) as registered_day
    from app_public.event_attendees a;
comment on view analytics.event_attendees is E'One row per answer to an event: pseudonyms, status, the day.';

create or replace view analytics.follows as
  select app_private.pseudonym(f.follower_id) as follower_pseudonym,
         app_private.pseudonym(f.following_id) as following_pseudonym,
         app_private.utc_day(f.created_at) as created_day
    from app_public.followers f;
comment on view analytics.follows is E'One row per follow: who follows whom (pseudonyms) and since which day.';

create or replace view analytics.friendships as
  select app_private.pseudonym(f.requester_id) as requester_pseudonym,
         app_private.pseudonym(f.addressee_id) as addressee_pseudonym,
         f.status,
         app_private.utc_day(f.created_at) as created_day
    from app_public.friendships f;
comment on view analytics.friendships is
  E'One row per friend request, friendship or block: the pair (pseudonyms), status, the day.';

create or replace view analytics.daily_activity as
  with actions as (
    select app_private.utc_day(created_at) as day, author_id as user_id, 'post' as kind from app_public.posts
    union all
    select app_private.utc_day(created_at), author_id, 'comment' from app_public.comments
    union all
    select app_private.utc_day(created_at), user_id, 'like' from app_public.likes
    union all
    select app_private.utc_day(created_at), sender_id, 'message' from app_public.messages
    union all
    select app_private.utc_day(created_at), follower_id, 'follow' from app_public.followers
  ), signups as (
    select app_private.utc_day(created_at) as day, count(*) as new_users from app_public.users group by 1
  ), per_day as (
    select day,
           count(distinct user_id) as active_users,
           count(*) filter (where kind = 'post') as posts,
           count(*) filter (where kind = 'comment') as comments,
           count(*) filter (where kind = 'like') as likes,
           count(*) filter (where kind = 'message') as messages,
           count(*) filter (where kind = 'follow') as follows
      from actions group by day
  )
  select coalesce(d.day, s.day) as day,
         coalesce(d.active_users, 0) as active_users,
         coalesce(d.posts, 0) as posts,
         coalesce(d.comments, 0) as comments,
         coalesce(d.likes, 0) as likes,
         coalesce(d.messages, 0) as messages,
         coalesce(d.follows, 0) as follows,
         coalesce(s.new_users, 0) as new_users
    from per_day d
    full join signups s on s.day = d.day;
comment on view analytics.daily_activity is
  E'Per day (UTC): active users (who posted, commented, liked, messaged or followed), posts, comments, likes, messages, follows and new accounts.';
