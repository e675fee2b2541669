-- Who may read and change app_public.user_profiles. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.user_profiles');
alter table app_public.user_profiles enable row level security;

create policy deny_all on app_public.user_profiles for all to anonymous, authenticated using (false);

revoke all on app_public.user_profiles from anonymous, authenticated;
grant select on app_public.user_profiles to anonymous, authenticated;
