-- What the PostGraphile 4 peer (bench/peer/postgraphile4.ts) needs that the schema lacks.
-- Applied by the owner; idempotent. Touches nothing outside the schema bench_pg4.
--
-- Query.homeFeed is a TypeScript plugin in the V5 API (plugins/feed.ts), with no SQL function
-- behind it. PostGraphile 4 exposes a `stable` function returning `setof` a table as a query
-- connection, so bench_pg4.home_feed(n) gives PG4 the same SQL as V5's plugin: the posts that
-- app_hidden.feed_page_ids names (the newest n of your sources — you, accepted friends, people
-- you follow, your active groups — each read newest first from its own index), read under
-- row-level security and ordered by (created_at, id). PG4 pages a function connection by row
-- number (an OFFSET: its cursors are `natural`), so the client asks for the rows up to the end
-- of the page it wants: n = offset + first + 1 (21 for page 1, 1001 for page 50).
--
-- The first version was the plain filter "posts whose author is one of my sources, newest
-- first" that V5 gave up in migration 0009: it walks the whole posts time index until enough
-- rows pass (7k–125k posts for page 1, 400k–1M for page 50 at scale 1, every one through the
-- posts policy), so PG4's feed hit the 5-s statement timeout under load. That was the
-- benchmark's doing, not PostGraphile 4's.

create schema if not exists bench_pg4;
comment on schema bench_pg4 is E'Functions for the PostGraphile 4 benchmark peer only.';

drop function if exists bench_pg4.home_feed();
create or replace function bench_pg4.home_feed(n int) returns setof app_public.posts as $$
  select p.*
    from app_public.posts p
   where p.deleted_at is null
     and p.id = any (array(select app_hidden.feed_page_ids(null, null, n)))
   order by p.created_at desc, p.id desc
$$ language sql stable;
comment on function bench_pg4.home_feed(int) is
  E'The first n posts of your home feed (from you, your friends, people you follow and your groups), newest first. Empty when signed out.';

revoke all on schema bench_pg4 from public;
grant usage on schema bench_pg4 to anonymous, authenticated;
revoke all on function bench_pg4.home_feed(int) from public;
grant execute on function bench_pg4.home_feed(int) to anonymous, authenticated;
