-- Who may read and change app_public.conversations. Re-applied after every migrate; this file is the
-- truth: it drops every policy on the table first.
-- Placeholder until the auth/RLS issue: row-level security is on and denies every row.
select app_private.drop_policies('app_public.conversations');
alter table app_public.conversations enable row level security;

create policy deny_all on app_public.conversations for all to anonymous, authenticated using (false);

revoke all on app_public.conversations from anonymous, authenticated;
grant select on app_public.conversations to anonymous, authenticated;
