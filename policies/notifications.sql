-- Who may read and change app_public.notifications: only the recipient sees them, marks them
-- read and deletes them. Nobody creates them through the API: the worker does (as the owner).
select app_private.drop_policies('app_public.notifications');
alter table app_public.notifications enable row level security;

create policy select_own on app_public.notifications for select to authenticated
  using (recipient_id = (select app_public.current_user_id()));
create policy update_own on app_public.notifications for update to authenticated
  using (recipient_id = (select app_public.current_user_id()))
  with check (recipient_id = (select app_public.current_user_id()));
create policy delete_own on app_public.notifications for delete to authenticated
  using (recipient_id = (select app_public.current_user_id()));

revoke all on app_public.notifications from anonymous, authenticated;
grant select on app_public.notifications to anonymous, authenticated;
grant update (is_read, read_at) on app_public.notifications to authenticated;
grant delete on app_public.notifications to authenticated;
