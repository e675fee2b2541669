-- Who may read and change app_public.event_attendees. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.event_attendees');
alter table app_public.event_attendees enable row level security;

create policy deny_all on app_public.event_attendees for all to anonymous, authenticated using (false);

revoke all on app_public.event_attendees from anonymous, authenticated;
grant select on app_public.event_attendees to anonymous, authenticated;
