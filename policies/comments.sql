-- Who may read and change app_public.comments: visible when their post is visible to you and
-- their author is not on either side of a block with you. You comment as yourself on posts you
-- can see; you edit your own; you delete your own, or any on your post. Replies nest one level
-- (trigger _190_flatten_reply, migration 0006: a reply to a reply answers the top comment).
select app_private.drop_policies('app_public.comments');
alter table app_public.comments enable row level security;

-- `offset 0` keeps the EXISTS a per-row primary-key lookup: without it PostgreSQL may turn it
-- into a hash of every visible post, built by scanning the posts table once per query.
create policy select_visible on app_public.comments for select to anonymous, authenticated
  using (author_id not in (select app_hidden.blocked_user_ids())
         and exists (select 1 from app_public.posts p where p.id = post_id offset 0));
create policy insert_own on app_public.comments for insert to authenticated
  with check (author_id = (select app_public.current_user_id())
              and exists (select 1 from app_public.posts p where p.id = post_id));
create policy update_own on app_public.comments for update to authenticated
  using (author_id = (select app_public.current_user_id()))
  with check (author_id = (select app_public.current_user_id()));
create policy delete_own_or_on_own_post on app_public.comments for delete to authenticated
  using (author_id = (select app_public.current_user_id())
         or exists (select 1 from app_public.posts p
                     where p.id = post_id and p.author_id = (select app_public.current_user_id())));

revoke all on app_public.comments from anonymous, authenticated;
grant select on app_public.comments to anonymous, authenticated;
grant insert (post_id, author_id, parent_comment_id, content) on app_public.comments to authenticated;
grant update (content, is_edited, edited_at) on app_public.comments to authenticated;
grant delete on app_public.comments to authenticated;
