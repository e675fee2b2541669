-- Who may read and change app_public.friendships: only the two people involved. A block is
-- seen only by the blocker (the blocked person is not told). You create requests (or blocks)
-- only as the requester; only the addressee accepts; either party may end a request or a
-- friendship, but only the blocker lifts a block. Changes to one pair's rows are serialised
-- (trigger _100_lock_pair, and sendFriendRequest takes the same lock before it looks), so two
-- people asking each other at once end as friends. sendFriendRequest to someone who already
-- asked you accepts their request; the generated createFriendship (status `pending`) is then
-- refused with CONFLICT ("accept with acceptFriendRequest"), never turned into an `accepted` row
-- that insert_as_requester (pending or blocked only) would reject (trigger
-- _200_accept_reverse_request, migrations/current.sql "hardening" section).
select app_private.drop_policies('app_public.friendships');
alter table app_public.friendships enable row level security;

create policy select_party on app_public.friendships for select to authenticated
  using (requester_id = (select app_public.current_user_id())
         or (addressee_id = (select app_public.current_user_id()) and status <> 'blocked'));
create policy insert_as_requester on app_public.friendships for insert to authenticated
  with check (
    requester_id = (select app_public.current_user_id())
    and (status = 'blocked'
         or (status = 'pending' and addressee_id not in (select app_hidden.blocked_user_ids())))
  );
create policy update_accept on app_public.friendships for update to authenticated
  using (addressee_id = (select app_public.current_user_id()) and status = 'pending')
  with check (addressee_id = (select app_public.current_user_id()) and status = 'accepted');
create policy delete_party on app_public.friendships for delete to authenticated
  using (requester_id = (select app_public.current_user_id())
         or (addressee_id = (select app_public.current_user_id()) and status <> 'blocked'));

revoke all on app_public.friendships from anonymous, authenticated;
grant select on app_public.friendships to anonymous, authenticated;
grant insert (requester_id, addressee_id, status) on app_public.friendships to authenticated;
grant update (status) on app_public.friendships to authenticated;
grant delete on app_public.friendships to authenticated;
