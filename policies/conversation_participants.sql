-- Who may read and change app_public.conversation_participants: participants see who else is
-- in their conversations. Group conversation admins add people (not anyone on either side of a
-- block with them) and remove others. Everyone manages their own row's read position and mute.
-- Leaving (left_at) happens only through leaveConversation or an admin's removal, and coming
-- back only when an admin adds you again (or you reopen a direct conversation): left_at has no
-- update grant, so nobody clears it to rejoin. Roles change only through the messaging
-- mutations.
select app_private.drop_policies('app_public.conversation_participants');
alter table app_public.conversation_participants enable row level security;

create policy select_participant on app_public.conversation_participants for select to authenticated
  using (conversation_id in (select app_hidden.conversation_ids()));
create policy insert_by_admin on app_public.conversation_participants for insert to authenticated
  with check (conversation_id in (select app_hidden.admin_conversation_ids())
              and user_id not in (select app_hidden.blocked_user_ids())
              and role = 'member');
create policy update_own on app_public.conversation_participants for update to authenticated
  using (user_id = (select app_public.current_user_id()))
  with check (user_id = (select app_public.current_user_id()));
create policy delete_by_admin on app_public.conversation_participants for delete to authenticated
  using (conversation_id in (select app_hidden.admin_conversation_ids())
         and user_id <> (select app_public.current_user_id()));

revoke all on app_public.conversation_participants from anonymous, authenticated;
grant select on app_public.conversation_participants to anonymous, authenticated;
grant insert (conversation_id, user_id, role) on app_public.conversation_participants to authenticated;
grant update (last_read_at, is_muted) on app_public.conversation_participants to authenticated;
grant delete on app_public.conversation_participants to authenticated;
