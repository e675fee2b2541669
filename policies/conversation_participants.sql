-- Who may read and change app_public.conversation_participants. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.conversation_participants');
alter table app_public.conversation_participants enable row level security;

create policy deny_all on app_public.conversation_participants for all to anonymous, authenticated using (false);

revoke all on app_public.conversation_participants from anonymous, authenticated;
grant select on app_public.conversation_participants to anonymous, authenticated;
