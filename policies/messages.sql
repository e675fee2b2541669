-- Who may read and change app_public.messages: current participants see a conversation's
-- messages; someone who left sees those sent before they left. Only current participants send,
-- as themselves, and never into a direct conversation across a block. You edit and
-- soft-delete (is_deleted) only your own messages; nobody hard-deletes, and a deleted message
-- stays deleted with its content cleared (trigger _150_keep_deleted, migration 0006). A reply
-- answers a message of the same conversation, through sendMessage or the generated
-- createMessage alike (trigger _200_check_reply), with one error whether the other message
-- exists elsewhere or not at all.
-- Group conversations are not filtered by blocks: everyone in one sees all its messages (people
-- on either side of a block cannot be added to one together by each other, see
-- policies/conversation_participants.sql).
select app_private.drop_policies('app_public.messages');
alter table app_public.messages enable row level security;

create policy select_participant on app_public.messages for select to authenticated
  using (conversation_id = any (array(select app_hidden.conversation_ids()))
         and (conversation_id = any (array(select app_hidden.active_conversation_ids()))
              or created_at <= app_hidden.left_conversation_at(conversation_id)));
create policy insert_own on app_public.messages for insert to authenticated
  with check (sender_id = (select app_public.current_user_id())
              and app_hidden.can_send_to(conversation_id));
create policy update_own on app_public.messages for update to authenticated
  using (sender_id = (select app_public.current_user_id()))
  with check (sender_id = (select app_public.current_user_id()));
comment on policy select_participant on app_public.messages is
  E'Participants see the conversation''s messages; after leaving, those up to the moment they left. The id arrays are computed once per query (an index condition on conversation_id); left_conversation_at runs only for rows of conversations the user left.';

revoke all on app_public.messages from anonymous, authenticated;
grant select on app_public.messages to anonymous, authenticated;
grant insert (conversation_id, sender_id, message_type, content, media_url, file_name, file_size,
              reply_to_message_id)
  on app_public.messages to authenticated;
grant update (content, media_url, file_name, file_size, is_edited, edited_at, is_deleted, deleted_at)
  on app_public.messages to authenticated;
