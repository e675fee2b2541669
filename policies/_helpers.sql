-- Shared by every policies/<table>.sql: the policy-dropping helper and who may call the
-- helper functions policies are written with. Sorted first (`_`); applied in the same
-- transaction as the rest, after migrations. Safe to re-run.
--
-- Why no table uses FORCE ROW LEVEL SECURITY: the tables' owner is the migration and worker
-- role (mking_owner), and it is meant to see every row — migrations, the worker's recounts,
-- notifications and purges, and the `security definer` functions whose check is written in the
-- function (blocking, direct conversations, the triggers in migration 0006). The API never
-- connects as the owner: PostGraphile uses the authenticator, which can only become `anonymous`
-- or `authenticated`, and those are not owners, so plain ENABLE already binds every request.

create or replace function app_private.drop_policies(tbl regclass) returns void as $$
declare
  v_name name;
begin
  for v_name in select polname from pg_catalog.pg_policy where polrelid = tbl loop
    execute format('drop policy %I on %s', v_name, tbl);
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.drop_policies(regclass) is
  E'Drops every policy on a table, so that its policies file alone states what is allowed.';

-- Policy helpers run as the requesting role: it must be allowed to call them.
grant execute on function app_public.current_user_id() to anonymous, authenticated;
grant execute on function app_hidden.blocked_user_ids() to anonymous, authenticated;
grant execute on function app_hidden.is_blocked(uuid, uuid) to anonymous, authenticated;
grant execute on function app_hidden.friend_ids() to anonymous, authenticated;
grant execute on function app_hidden.is_friend(uuid, uuid) to anonymous, authenticated;
grant execute on function app_hidden.public_group_ids() to anonymous, authenticated;
grant execute on function app_hidden.active_group_ids() to anonymous, authenticated;
grant execute on function app_hidden.moderated_group_ids() to anonymous, authenticated;
grant execute on function app_hidden.admin_group_ids() to anonymous, authenticated;
grant execute on function app_hidden.conversation_ids() to anonymous, authenticated;
grant execute on function app_hidden.active_conversation_ids() to anonymous, authenticated;
grant execute on function app_hidden.admin_conversation_ids() to anonymous, authenticated;
grant execute on function app_hidden.left_conversation_at(uuid) to anonymous, authenticated;
grant execute on function app_hidden.can_send_to(uuid) to anonymous, authenticated;
grant execute on function app_hidden.event_attendee_ids(uuid) to anonymous, authenticated;
