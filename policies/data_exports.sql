-- Who may read app_public.data_exports (issue #13, "download my data"): only the person who asked
-- sees their requests and where they stand. Nobody writes them directly: requestDataExport
-- (security definer) creates them, the worker builds them, the download route claims them
-- (app_hidden.claim_data_export). The token hash and the archive's place live in
-- app_private.data_export_files, which the API roles cannot reach at all.
select app_private.drop_policies('app_public.data_exports');
alter table app_public.data_exports enable row level security;

create policy select_own on app_public.data_exports for select to authenticated
  using (user_id = (select app_public.current_user_id()));

revoke all on app_public.data_exports from anonymous, authenticated;
-- anonymous may read too (myDataExports signed out): no policy lets it see a row
grant select on app_public.data_exports to anonymous, authenticated;

-- requestDataExport starts with require_user(): anonymous may call it to hear UNAUTHENTICATED.
grant execute on function app_public.request_data_export() to anonymous, authenticated;
grant execute on function app_public.my_data_exports() to anonymous, authenticated;
-- The download route (src/http/exports.ts) runs this as the signed-in caller.
grant execute on function app_hidden.claim_data_export(uuid, text) to authenticated;
