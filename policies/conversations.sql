-- Who may read and change app_public.conversations: only participants (current, or who left
-- and still see the history) see a conversation. Anyone signed in may start a group
-- conversation as its creator (a trigger makes them its admin); direct conversations are
-- started through startDirectConversation, which finds or creates the one per pair. A group
-- conversation's admins edit it.
select app_private.drop_policies('app_public.conversations');
alter table app_public.conversations enable row level security;

create policy select_participant on app_public.conversations for select to authenticated
  using (id in (select app_hidden.conversation_ids()));
create policy insert_group on app_public.conversations for insert to authenticated
  with check (created_by = (select app_public.current_user_id()) and conversation_type = 'group');
create policy update_admin on app_public.conversations for update to authenticated
  using (id in (select app_hidden.admin_conversation_ids()))
  with check (id in (select app_hidden.admin_conversation_ids()));

revoke all on app_public.conversations from anonymous, authenticated;
grant select on app_public.conversations to anonymous, authenticated;
grant insert (id, conversation_type, title, description, avatar_url, created_by)
  on app_public.conversations to authenticated;
grant update (title, description, avatar_url) on app_public.conversations to authenticated;
