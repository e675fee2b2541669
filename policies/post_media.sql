-- Who may read and change app_public.post_media: media follow their post (visible when the
-- post is) and are written only by the post's author; at most 10 per post, and a post keeps text
-- or media (triggers _200_limit and _200_require_content, migration 0006).
select app_private.drop_policies('app_public.post_media');
alter table app_public.post_media enable row level security;

-- `offset 0` keeps the EXISTS a per-row primary-key lookup: without it PostgreSQL may turn it
-- into a hash of every visible post, built by scanning the posts table once per query.
create policy select_visible_post on app_public.post_media for select to anonymous, authenticated
  using (exists (select 1 from app_public.posts p where p.id = post_id offset 0));
create policy insert_author on app_public.post_media for insert to authenticated
  with check (exists (select 1 from app_public.posts p
                       where p.id = post_id and p.author_id = (select app_public.current_user_id())));
create policy update_author on app_public.post_media for update to authenticated
  using (exists (select 1 from app_public.posts p
                  where p.id = post_id and p.author_id = (select app_public.current_user_id())))
  with check (exists (select 1 from app_public.posts p
                       where p.id = post_id and p.author_id = (select app_public.current_user_id())));
create policy delete_author on app_public.post_media for delete to authenticated
  using (exists (select 1 from app_public.posts p
                  where p.id = post_id and p.author_id = (select app_public.current_user_id())));

revoke all on app_public.post_media from anonymous, authenticated;
grant select on app_public.post_media to anonymous, authenticated;
grant insert (post_id, media_type, media_url, thumbnail_url, file_size, duration, width, height,
              alt_text, order_index)
  on app_public.post_media to authenticated;
grant update (thumbnail_url, alt_text, order_index) on app_public.post_media to authenticated;
grant delete on app_public.post_media to authenticated;
