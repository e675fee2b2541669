-- Who may read and change app_public.followers: signed-in users see who follows whom, minus
-- anyone on either side of a block with them. You follow and unfollow only as yourself, never
-- yourself (a check constraint), and not across a block.
select app_private.drop_policies('app_public.followers');
alter table app_public.followers enable row level security;

create policy select_unblocked on app_public.followers for select to authenticated
  using (follower_id not in (select app_hidden.blocked_user_ids())
         and following_id not in (select app_hidden.blocked_user_ids()));
create policy insert_own on app_public.followers for insert to authenticated
  with check (follower_id = (select app_public.current_user_id())
              and following_id not in (select app_hidden.blocked_user_ids()));
create policy delete_own on app_public.followers for delete to authenticated
  using (follower_id = (select app_public.current_user_id()));

revoke all on app_public.followers from anonymous, authenticated;
grant select on app_public.followers to anonymous, authenticated;
grant insert (follower_id, following_id) on app_public.followers to authenticated;
grant delete on app_public.followers to authenticated;
