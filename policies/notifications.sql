-- Who may read and change app_public.notifications. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.notifications');
alter table app_public.notifications enable row level security;

create policy deny_all on app_public.notifications for all to anonymous, authenticated using (false);

revoke all on app_public.notifications from anonymous, authenticated;
grant select on app_public.notifications to anonymous, authenticated;
