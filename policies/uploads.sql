-- Who may read and change app_public.uploads: the owner reads their own rows; nobody else reads
-- them directly (others see media through the posts, messages and profiles that use them, as
-- signed URLs made per viewer: plugins/media.ts). Rows are written only by createUpload,
-- completeUpload (migrations, section "media: uploads") and the worker (as the owner role).
select app_private.drop_policies('app_public.uploads');
alter table app_public.uploads enable row level security;

create policy select_own on app_public.uploads for select to authenticated
  using (owner_id = (select app_public.current_user_id()));

revoke all on app_public.uploads from anonymous, authenticated;
grant select on app_public.uploads to authenticated;

-- The mutations check who calls (app_hidden.require_user) and what they may upload.
grant execute on function app_public.create_upload(text, text, text, bigint) to anonymous, authenticated;
grant execute on function app_public.complete_upload(uuid) to anonymous, authenticated;
