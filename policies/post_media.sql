-- Who may read and change app_public.post_media. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.post_media');
alter table app_public.post_media enable row level security;

create policy deny_all on app_public.post_media for all to anonymous, authenticated using (false);

revoke all on app_public.post_media from anonymous, authenticated;
grant select on app_public.post_media to anonymous, authenticated;
