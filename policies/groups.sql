-- Who may read and change app_public.groups: public and private groups are visible to signed-in
-- users, secret groups only to their members. Anyone signed in creates a group as themselves
-- (a trigger makes them its admin); only admins edit or delete it.
select app_private.drop_policies('app_public.groups');
alter table app_public.groups enable row level security;

create policy select_listed on app_public.groups for select to authenticated
  using (group_type in ('public', 'private'));
create policy select_member on app_public.groups for select to authenticated
  using (id in (select app_hidden.active_group_ids()));
create policy insert_own on app_public.groups for insert to authenticated
  with check (created_by = (select app_public.current_user_id()));
create policy update_admin on app_public.groups for update to authenticated
  using (id in (select app_hidden.admin_group_ids()))
  with check (id in (select app_hidden.admin_group_ids()));
create policy delete_admin on app_public.groups for delete to authenticated
  using (id in (select app_hidden.admin_group_ids()));

revoke all on app_public.groups from anonymous, authenticated;
grant select on app_public.groups to anonymous, authenticated;
grant insert (id, name, description, avatar_url, cover_image_url, group_type, category, location, created_by)
  on app_public.groups to authenticated;
grant update (name, description, avatar_url, cover_image_url, group_type, category, location, is_active)
  on app_public.groups to authenticated;
grant delete on app_public.groups to authenticated;
