-- Who may read and change app_public.group_members.
--
-- Seeing members: members of a group see its member list, everyone sees public groups' lists,
-- you always see your own row (a request, an invitation, a ban); never people on either side of
-- a block with you.
-- Joining: as yourself, a plain member: `active` in a public group, `pending` (a request) in a
-- private one; a secret group only by accepting an invitation. Admins and moderators invite
-- (pending rows with invited_by = themselves), approve, reject and ban — moderators only plain
-- members, admins anyone but themselves; only admins change roles and nobody their own (trigger
-- _200_guard_role). You leave by deleting your row, unless you are banned. A group with other
-- active members keeps an active admin: its last admin cannot leave, step down, be banned or
-- removed by any path (trigger _300_keep_admin, migration 0006).
select app_private.drop_policies('app_public.group_members');
alter table app_public.group_members enable row level security;

create policy select_own on app_public.group_members for select to authenticated
  using (user_id = (select app_public.current_user_id()));
create policy select_visible on app_public.group_members for select to anonymous, authenticated
  using (user_id not in (select app_hidden.blocked_user_ids())
         and (group_id in (select app_hidden.public_group_ids())
              or group_id in (select app_hidden.active_group_ids())));
create policy insert_join on app_public.group_members for insert to authenticated
  with check (
    user_id = (select app_public.current_user_id())
    and role = 'member'
    and invited_by is null
    and ((status = 'active' and group_id in (select app_hidden.public_group_ids()))
         or (status = 'pending'
             and exists (select 1 from app_public.groups g where g.id = group_id and g.group_type = 'private')))
  );
create policy insert_invite on app_public.group_members for insert to authenticated
  with check (
    group_id in (select app_hidden.moderated_group_ids())
    and invited_by = (select app_public.current_user_id())
    and status = 'pending'
    and role = 'member'
    and user_id not in (select app_hidden.blocked_user_ids())
  );
create policy update_accept_invitation on app_public.group_members for update to authenticated
  using (user_id = (select app_public.current_user_id()) and status = 'pending' and invited_by is not null)
  with check (user_id = (select app_public.current_user_id()) and status = 'active' and role = 'member');
create policy update_moderate on app_public.group_members for update to authenticated
  using (user_id <> (select app_public.current_user_id())
         and (group_id in (select app_hidden.admin_group_ids())
              or (group_id in (select app_hidden.moderated_group_ids()) and role = 'member')))
  with check (user_id <> (select app_public.current_user_id())
              and (group_id in (select app_hidden.admin_group_ids())
                   or (group_id in (select app_hidden.moderated_group_ids()) and role = 'member')));
create policy delete_leave on app_public.group_members for delete to authenticated
  using (user_id = (select app_public.current_user_id()) and status <> 'banned');
create policy delete_moderate on app_public.group_members for delete to authenticated
  using (user_id <> (select app_public.current_user_id())
         and (group_id in (select app_hidden.admin_group_ids())
              or (group_id in (select app_hidden.moderated_group_ids()) and role = 'member')));
comment on policy update_moderate on app_public.group_members is
  E'Admins manage anyone but themselves; moderators only plain members (never admins or other moderators).';
comment on policy delete_moderate on app_public.group_members is
  E'Admins remove anyone but themselves; moderators only plain members.';

revoke all on app_public.group_members from anonymous, authenticated;
grant select on app_public.group_members to anonymous, authenticated;
grant insert (group_id, user_id, role, status, invited_by) on app_public.group_members to authenticated;
grant update (role, status, joined_at, left_at) on app_public.group_members to authenticated;
grant delete on app_public.group_members to authenticated;
