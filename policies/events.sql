-- Who may read and change app_public.events. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.events');
alter table app_public.events enable row level security;

create policy deny_all on app_public.events for all to anonymous, authenticated using (false);

revoke all on app_public.events from anonymous, authenticated;
grant select on app_public.events to anonymous, authenticated;
