-- Who may read and change app_public.posts.
--
-- A post is visible when it is not deleted, its author is not on either side of a block with
-- you, and: you wrote it; or, outside groups and in public groups, it is `public`, or `friends`
-- and you are the author's accepted friend; or, in a private or secret group, you are an active
-- member (and it is not `private`, which is the author's alone).
-- The same read rule is applied inline by app_hidden.feed_page_ids and app_hidden.search_post_ids
-- (they pick ids; the posts are then read under these policies): change them with it
-- (test/api/read-plans.test.ts and test/api/searchPlan.test.ts compare them with the policies).
-- You post only as yourself, into a group only as an active member, and share only posts you
-- can see (checked by the trigger tg_posts__check_share, under your own visibility). The author edits; the author or the group's admins and moderators delete.
select app_private.drop_policies('app_public.posts');
alter table app_public.posts enable row level security;

create policy select_own on app_public.posts for select to authenticated
  using (author_id = (select app_public.current_user_id()) and deleted_at is null);
create policy select_visible on app_public.posts for select to anonymous, authenticated
  using (
    deleted_at is null
    and author_id not in (select app_hidden.blocked_user_ids())
    and case
          -- one primary-key look-up per group post (or the planner's hash of public groups
          -- when it expects many rows): see app_hidden.public_groups in migrations/current.sql
          when group_id is null
            or exists (select 1 from app_hidden.public_groups g where g.id = group_id) then
            privacy_level = 'public'
            or (privacy_level = 'friends' and author_id in (select app_hidden.friend_ids()))
          else
            group_id in (select app_hidden.active_group_ids()) and privacy_level <> 'private'
        end
  );
create policy insert_own on app_public.posts for insert to authenticated
  with check (
    author_id = (select app_public.current_user_id())
    and (group_id is null or group_id in (select app_hidden.active_group_ids()))
  );
create policy update_own on app_public.posts for update to authenticated
  using (author_id = (select app_public.current_user_id()) and deleted_at is null)
  with check (author_id = (select app_public.current_user_id()));
create policy delete_own_or_moderated on app_public.posts for delete to authenticated
  using (author_id = (select app_public.current_user_id())
         or group_id in (select app_hidden.moderated_group_ids()));
comment on policy insert_own on app_public.posts is
  E'Shares are checked by a trigger (tg_posts__check_share): the shared post must be visible to the sharer.';
comment on policy delete_own_or_moderated on app_public.posts is
  E'Group admins and moderators may remove posts in their group.';

revoke all on app_public.posts from anonymous, authenticated;
grant select on app_public.posts to anonymous, authenticated;
grant insert (content, post_type, privacy_level, location, group_id, shared_post_id, author_id)
  on app_public.posts to authenticated;
grant update (content, post_type, privacy_level, location, is_edited, edited_at)
  on app_public.posts to authenticated;
grant delete on app_public.posts to authenticated;
