-- Who may read and change app_public.users. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.users');
alter table app_public.users enable row level security;

create policy deny_all on app_public.users for all to anonymous, authenticated using (false);

revoke all on app_public.users from anonymous, authenticated;
grant select (id, email, email_verified, phone, phone_verified, status, last_login_at, login_count, created_at, updated_at) on app_public.users to anonymous, authenticated;
