--! Previous: sha1:01741d6bd613424b48f1bef7717c7a8491c81c6a
--! Hash: sha1:7d184fb2e81fa5324069024703021ddace09bc6d

-- 0009: the home feed reads each of its sources' index instead of filtering all posts.
--
-- homeFeed ordered every post newest first and kept those by "me, a friend, someone I follow, one
-- of my groups": for someone who follows few people that reads tens of thousands of rows per page
-- (0.2-0.4 s at 1M posts). feed_page_ids reads at most a page from each source's own index
-- (posts by author, posts by group; newest first, after the cursor) and keeps the newest of
-- those; plugins/feed.ts restricts the page to them. It runs as the caller: row-level security
-- applies to what it reads, so the page is the same set as before.

create function app_hidden.feed_page_ids(before_created_at timestamptz, before_id uuid, n int)
returns setof uuid as $$
  with sources as (
    select app_public.current_user_id() as author_id
    union select app_hidden.friend_ids()
    union select f.following_id from app_public.followers f where f.follower_id = app_public.current_user_id()
  ), candidates as (
    select c.created_at, c.id
      from sources s
      cross join lateral (
        select p.created_at, p.id from app_public.posts p
         where p.author_id = s.author_id and p.deleted_at is null
           and (before_created_at is null or (p.created_at, p.id) < (before_created_at, before_id))
         order by p.created_at desc, p.id desc
         limit n) c
    union
    select c.created_at, c.id
      from app_hidden.active_group_ids() g(group_id)
      cross join lateral (
        select p.created_at, p.id from app_public.posts p
         where p.group_id = g.group_id and p.deleted_at is null
           and (before_created_at is null or (p.created_at, p.id) < (before_created_at, before_id))
         order by p.created_at desc, p.id desc
         limit n) c
  )
  select id from candidates order by created_at desc, id desc limit n;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.feed_page_ids(timestamptz, uuid, int) is
  E'The ids of the next n posts of the current user''s home feed after the position (created_at, id), or from the start when it is null: the newest of at most n posts from each source, read newest first from each source''s index.';
