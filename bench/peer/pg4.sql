-- What the PostGraphile 4 peer (bench/peer/postgraphile4.ts) needs that the schema lacks.
-- Applied by the owner; idempotent. Touches nothing outside the schema bench_pg4.
--
-- Query.homeFeed is a TypeScript plugin in the V5 API (plugins/feed.ts), with no SQL function
-- behind it. PostGraphile 4 exposes a `stable` function returning `setof` a table as a query
-- connection, so bench_pg4.home_feed() is the same filter and order as that plugin: posts from
-- you, your accepted friends, people you follow and your active groups, newest first by
-- (created_at, id). Visibility stays row-level security's (the function runs as the caller).
-- It is plain `language sql stable` without `set` clauses or `security definer`, so the planner
-- may inline it into PostGraphile 4's query.

create schema if not exists bench_pg4;
comment on schema bench_pg4 is E'Functions for the PostGraphile 4 benchmark peer only.';

create or replace function bench_pg4.home_feed() returns setof app_public.posts as $$
  select p.*
    from app_public.posts p
   where p.deleted_at is null
     and (
       p.author_id = app_public.current_user_id()
       or p.author_id in (select app_hidden.friend_ids())
       or p.author_id in (
         select f.following_id from app_public.followers f
          where f.follower_id = app_public.current_user_id())
       or p.group_id in (select app_hidden.active_group_ids())
     )
   order by p.created_at desc, p.id desc
$$ language sql stable;
comment on function bench_pg4.home_feed() is
  E'Posts from you, your friends, people you follow and your groups, newest first. Empty when signed out.';

revoke all on schema bench_pg4 from public;
grant usage on schema bench_pg4 to anonymous, authenticated;
revoke all on function bench_pg4.home_feed() from public;
grant execute on function bench_pg4.home_feed() to anonymous, authenticated;
