-- Who may read and change app_public.messages: current participants see a conversation's
-- messages; someone who left sees those sent before they left. Only current participants send,
-- as themselves, and never into a direct conversation across a block. You edit and
-- soft-delete (is_deleted) only your own messages; nobody hard-deletes.
select app_private.drop_policies('app_public.messages');
alter table app_public.messages enable row level security;

create policy select_participant on app_public.messages for select to authenticated
  using (conversation_id in (select app_hidden.active_conversation_ids()));
create policy select_until_left on app_public.messages for select to authenticated
  using (created_at <= app_hidden.left_conversation_at(conversation_id));
create policy insert_own on app_public.messages for insert to authenticated
  with check (sender_id = (select app_public.current_user_id())
              and app_hidden.can_send_to(conversation_id));
create policy update_own on app_public.messages for update to authenticated
  using (sender_id = (select app_public.current_user_id()))
  with check (sender_id = (select app_public.current_user_id()));
comment on policy select_until_left on app_public.messages is
  E'After leaving, a participant keeps the history up to the moment they left.';

revoke all on app_public.messages from anonymous, authenticated;
grant select on app_public.messages to anonymous, authenticated;
grant insert (conversation_id, sender_id, message_type, content, media_url, file_name, file_size,
              reply_to_message_id)
  on app_public.messages to authenticated;
grant update (content, media_url, file_name, file_size, is_edited, edited_at, is_deleted, deleted_at)
  on app_public.messages to authenticated;
