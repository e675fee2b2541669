--! Previous: sha1:39ebfad99fd4eda9bfd4f27fa6bb22784d59f904
--! Hash: sha1:bd708c836c49ab3e555efabfc59047cf8e1e81e6

-- Enter migration here

-- ==== counters: serialised recount ====
/*
 * The chaos soak found a post storing 3 likes while 2 existed after the queue drained
 * (test/tasks/countersRace.test.ts forces each race below):
 *
 * 1. A like whose recount was lost: graphile-worker's add_job (job_key, 0.18) clears the key of a
 *    queued job that is locked, then inserts `on conflict (key) do update … where locked_at is
 *    null`. When a worker takes the job between those two statements (or while the conflicting
 *    insert waits for the worker's transaction), the update is skipped and no job is queued at
 *    all; the job the worker runs counts before the like commits.
 * 2. A recount given up: the running job whose key add_job clears gets attempts = max_attempts,
 *    so when its worker is killed it is never retried and stays "failed for good" (no error).
 * 3. A stale count written last: the recount was one UPDATE whose counts come from the
 *    statement's snapshot; when it waits for the row held by a newer recount, it re-checks the
 *    row (EvalPlanQual) but not the counts, and overwrites the newer count with an older one.
 *
 * So enqueue_recount queues with app_private.add_keyed_job (section "keyed jobs": it locks the
 * queued job first — a worker skips locked jobs until the like commits —, takes the key from a
 * job already running — it finishes, or is retried, with what it saw —, then queues with
 * add_job, again if that queued nothing); and recount locks the row
 * before it counts, in a statement of its own (a snapshot taken once the row is its own).
 */
create or replace function app_private.enqueue_recount(p_table text, p_id uuid) returns void as $$
begin
  if p_id is null then
    return;
  end if;
  -- add_job's key races (lost job, running job given up) are handled by add_keyed_job
  -- (section "keyed jobs", defined below: plpgsql resolves it when this runs)
  perform app_private.add_keyed_job(
    'counters__recount',
    json_build_object('table', p_table, 'id', p_id),
    format('recount:%s:%s', p_table, p_id),
    run_at := now() + interval '500 milliseconds',
    max_attempts := 10,
    preserve_run_at := true
  );
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.enqueue_recount(text, uuid) is
  E'Queues one recount of a row''s counters; calls within half a second share one job, and a call while that job runs queues another (the running one keeps its retries).';

/** Recomputes the counters of one row from the source rows; returns whether anything changed. */
create or replace function app_private.recount(p_table text, p_id uuid) returns boolean as $$
declare
  v_changed int;
begin
  perform set_config('mking.counters_only', 'on', true);
  -- the row first (until commit: recounts of one row take turns), then the counts, in a
  -- statement of their own: its snapshot sees every recount and change committed before
  if p_table = 'posts' then
    perform 1 from app_public.posts where id = p_id for no key update;
    update app_public.posts p set
      likes_count = c.likes, comments_count = c.comments, shares_count = c.shares
    from (select
            (select count(*) from app_public.likes l where l.target_type = 'post' and l.target_id = p_id)::int as likes,
            (select count(*) from app_public.comments m where m.post_id = p_id)::int as comments,
            (select count(*) from app_public.posts s where s.shared_post_id = p_id and s.deleted_at is null)::int as shares) c
    where p.id = p_id
      and (p.likes_count, p.comments_count, p.shares_count) is distinct from (c.likes, c.comments, c.shares);
  elsif p_table = 'comments' then
    perform 1 from app_public.comments where id = p_id for no key update;
    update app_public.comments m set likes_count = c.likes, replies_count = c.replies
    from (select
            (select count(*) from app_public.likes l where l.target_type = 'comment' and l.target_id = p_id)::int as likes,
            (select count(*) from app_public.comments r where r.parent_comment_id = p_id)::int as replies) c
    where m.id = p_id and (m.likes_count, m.replies_count) is distinct from (c.likes, c.replies);
  elsif p_table = 'groups' then
    perform 1 from app_public.groups where id = p_id for no key update;
    update app_public.groups g set member_count = c.members, post_count = c.posts
    from (select
            (select count(*) from app_public.group_members gm where gm.group_id = p_id and gm.status = 'active')::int as members,
            (select count(*) from app_public.posts p where p.group_id = p_id and p.deleted_at is null)::int as posts) c
    where g.id = p_id and (g.member_count, g.post_count) is distinct from (c.members, c.posts);
  elsif p_table = 'events' then
    perform 1 from app_public.events where id = p_id for no key update;
    update app_public.events e set current_attendees = c.going
    from (select (select count(*) from app_public.event_attendees a where a.event_id = p_id and a.status = 'going')::int as going) c
    where e.id = p_id and e.current_attendees is distinct from c.going;
  else
    raise exception 'recount: unknown table %', p_table;
  end if;
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.recount(text, uuid) is
  E'Sets a post''s, comment''s, group''s or event''s counters from the source rows (idempotent); recounts of one row take turns and count after their turn came.';

-- ==== realtime shared reads (#15) ====
/*
 * One subscription event, one read: when several subscribers of an API instance read the same
 * payload (the same statement with the same values), the API runs it once per subscriber inside
 * this one statement, each time under that subscriber's own settings (role, claims), instead of
 * one transaction per subscriber (src/realtime/sharedReads.ts). Row-level security judges every
 * read as before. Security invoker: it can do nothing its caller could not.
 */
create or replace function app_hidden.read_as_each(viewers json, query text)
returns table (viewer integer, rows text[]) as $$
declare
  settings json;
  setting record;
  i integer := 0;
begin
  for settings in select value from json_array_elements(viewers) loop
    for setting in select el->>0 as k, el->>1 as v from json_array_elements(settings) el loop
      perform pg_catalog.set_config(setting.k, setting.v, true);
    end loop;
    viewer := i;
    execute format('select array(select shared_read::text from (%s) as shared_read)', query)
       into rows;
    return next;
    i := i + 1;
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.read_as_each(json, text) is
  E'Runs `query` once for each element of `viewers` (an array of [setting, value] pair lists, applied with set_config(…, true) first) and returns each run''s rows as composite literals: a subscription event''s payload read for every subscriber of an API instance in one statement, each under their own role and claims (src/realtime/sharedReads.ts).';
revoke all on function app_hidden.read_as_each(json, text) from public;
grant execute on function app_hidden.read_as_each(json, text) to authenticated;

-- ==== conversations and feed speed ====
/*
 * Query.myConversations, Conversation.lastMessage and Conversation.unreadCount are read in one
 * statement by plugins/messaging.ts (from the conversations table, with the last message and
 * the unread count as subqueries). The SQL functions stay for SQL callers; their own GraphQL
 * fields are hidden, the plugin's take their names.
 */
comment on function app_public.my_conversations() is
  E'@behavior -*\nYour conversations, the most recently active first. (The API''s Query.myConversations reads the table in one statement: plugins/messaging.ts.)';
comment on function app_public.conversations_last_message(app_public.conversations) is
  E'@behavior -*\nThe newest message you can see. (The API''s Conversation.lastMessage is a subquery of the reading statement: plugins/messaging.ts.)';
comment on function app_public.conversations_unread_count(app_public.conversations) is
  E'@behavior -*\nMessages from others you have not read yet. (The API''s Conversation.unreadCount is a subquery of the reading statement: plugins/messaging.ts.)';

/*
 * Home feed (plugins/feed.ts): feed_page_ids picked each source's newest posts under row-level
 * security, so every candidate row ran the posts policy, and each of its two reads built the
 * policy's set of all public groups (~3,500 ids at scale 1, ~1.5 ms each) on top of the one the
 * reading statement builds. It now reads as its owner and applies the same rule as the
 * select_own / select_visible policies of policies/posts.sql itself, with the viewer's blocked,
 * friend and group ids computed once and a primary-key look-up for the rare group post, so the
 * ids are the same. The reading statement still reads the posts under row-level security: that
 * decides what is shown (keep this rule in step with the policies; test/api/read-plans.test.ts
 * compares the two).
 */
create or replace function app_hidden.feed_page_ids(before_created_at timestamptz, before_id uuid, n int)
returns setof uuid as $$
  with viewer as (
    select app_public.current_user_id() as id,
           array(select app_hidden.blocked_user_ids()) as blocked,
           array(select app_hidden.friend_ids()) as friends,
           array(select app_hidden.active_group_ids()) as groups
  ), sources as (
    select v.id as author_id from viewer v where v.id is not null
    union select unnest(v.friends) from viewer v
    union select f.following_id from app_public.followers f, viewer v where f.follower_id = v.id
  ), candidates as (
    select c.created_at, c.id
      from viewer v, sources s
      cross join lateral (
        select p.created_at, p.id from app_public.posts p
         where p.author_id = s.author_id and p.deleted_at is null
           and (before_created_at is null or (p.created_at, p.id) < (before_created_at, before_id))
           and (p.author_id = v.id
                or (p.author_id <> all (v.blocked)
                    and case
                          when p.group_id is null
                            or exists (select 1 from app_public.groups g
                                        where g.id = p.group_id and g.group_type = 'public')
                          then p.privacy_level = 'public'
                            or (p.privacy_level = 'friends' and p.author_id = any (v.friends))
                          else p.group_id = any (v.groups) and p.privacy_level <> 'private'
                        end))
         order by p.created_at desc, p.id desc
         limit n) c
    union
    select c.created_at, c.id
      from viewer v, unnest(v.groups) g(group_id)
      cross join lateral (
        select p.created_at, p.id from app_public.posts p
         where p.group_id = g.group_id and p.deleted_at is null
           and (before_created_at is null or (p.created_at, p.id) < (before_created_at, before_id))
           and (p.author_id = v.id
                or (p.author_id <> all (v.blocked)
                    and case
                          when exists (select 1 from app_public.groups pg
                                        where pg.id = p.group_id and pg.group_type = 'public')
                          then p.privacy_level = 'public'
                            or (p.privacy_level = 'friends' and p.author_id = any (v.friends))
                          else p.privacy_level <> 'private'
                        end))
         order by p.created_at desc, p.id desc
         limit n) c
  )
  select id from candidates order by created_at desc, id desc limit n;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.feed_page_ids(timestamptz, uuid, int) is
  E'The ids of the next n posts of the current user''s home feed after the position (created_at, id), or from the start when it is null: the newest of at most n posts from each source (you, friends, people you follow, your groups), read newest first from each source''s index. Reads as its owner with the posts policies'' rule applied inline (row-level security''s sets computed once); the caller reads the posts themselves under row-level security.';

-- ==== search speed ====
-- Issue #16: post search in milliseconds at 1M posts, with row-level security still deciding
-- what anyone sees. No new column or index: nothing to build at deployment.
--
-- A search now lists the matching posts you can see, newest first (web-search syntax as
-- before), every one of them reachable page by page (keyset on created_at, id). It used to rank
-- only the 1,000 newest matches by ts_rank, which meant reading every match of a common word
-- (280k for "coffee": 0.24 s) to find those 1,000.
--
-- How: app_hidden.search_post_matches names the next matches in time order without row-level
-- security (ids and times only). It walks the newest posts in windows along the posts' time
-- index (2n posts, 64 to 256, then as many as the hit rate so far says the page still needs;
-- 4,096 + 32n in all): a common word fills a page within a window or two ("coffee": ~150
-- posts). When the hit rate says more walking would cost more than reading the word's matches,
-- it reads the rest from the text index (idx_posts_search) and sorts them: a rare word costs what its matches
-- cost ("zyzzyva": ~100 posts). The choice is made on what the walk found, not on the planner's
-- guess of how common a word is (it keeps no statistics for the partial text index's
-- expression, and a LIMIT under a misguess walks the whole table). app_hidden.search_post_ids
-- runs as the caller and keeps only the posts the caller may read, asking for more matches (4x
-- each time) until the page is full or the matches run out. Query.searchPosts
-- (plugins/search.ts) reads those posts through row-level security again, with their authors,
-- in one statement.
create or replace function app_hidden.search_post_matches(
  q tsquery, before_created_at timestamptz, before_id uuid, n int
) returns table (id uuid, created_at timestamptz) as $$
declare
  -- from the position, or from the newest post
  v_at timestamptz := coalesce(before_created_at, 'infinity');
  v_id uuid := coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  v_window int := least(256, greatest(64, 2 * n));
  v_walked int := 0;
  v_hits int := 0;
  v_ids uuid[];
  v_times timestamptz[];
  v_rows int;
  v_end_at timestamptz;
  v_end_id uuid;
begin
  if n is null or n < 1 then
    return;
  end if;
  loop
    -- the next v_window posts, newest first, and which of them match
    select coalesce(array_agg(w.id order by w.created_at desc, w.id desc) filter (where w.hit), '{}'),
           coalesce(array_agg(w.created_at order by w.created_at desc, w.id desc) filter (where w.hit), '{}'),
           count(*),
           (array_agg(w.created_at order by w.created_at, w.id))[1],
           (array_agg(w.id order by w.created_at, w.id))[1]
      into v_ids, v_times, v_rows, v_end_at, v_end_id
      from (select p.id, p.created_at, to_tsvector('simple', p.content) @@ q as hit
              from app_public.posts p
             where p.deleted_at is null and (p.created_at, p.id) < (v_at, v_id)
             order by p.created_at desc, p.id desc
             limit v_window) w;
    return query
      select m.id, m.created_at from unnest(v_ids, v_times) as m(id, created_at) limit n - v_hits;
    v_hits := least(n, v_hits + cardinality(v_ids));
    v_walked := v_walked + v_rows;
    if v_hits >= n or v_rows < v_window then
      return;  -- a full page, or no older posts
    end if;
    v_at := v_end_at;
    v_id := v_end_id;
    -- the posts the page still needs at the hit rate so far (counting one hit less: a lone hit
    -- says little); past the budget, the text index
    v_window := case when v_hits <= 1 then 0
                     else ceil((n - v_hits)::numeric * v_walked / (v_hits - 1) * 1.25)::int end;
    exit when v_window = 0 or v_walked + v_window > 4096 + 32 * n;
  end loop;
  -- every older match, from the text index, newest first
  return query
    with m as materialized (
      select p.id, p.created_at
        from app_public.posts p
       where p.deleted_at is null and to_tsvector('simple', p.content) @@ q
         and (p.created_at, p.id) < (v_at, v_id))
    select m.id, m.created_at from m order by m.created_at desc, m.id desc limit n - v_hits;
end;
$$ language plpgsql stable security definer set search_path to pg_catalog, public, pg_temp
   -- planned with the window's actual size and position (a generic plan guesses both)
   set plan_cache_mode to force_custom_plan;
comment on function app_hidden.search_post_matches(tsquery, timestamptz, uuid, int) is
  E'The next n posts matching a search after the position (created_at, id), newest first, visible or not (ids and times only): search_post_ids keeps those the caller may read.';

create or replace function app_hidden.search_post_ids(
  q tsquery, before_created_at timestamptz, before_id uuid, n int
) returns setof uuid as $$
declare
  v_batch int := greatest(2 * n, 32);
  v_found int := 0;
  v_rows int;
  v_ids uuid[];
  v_times timestamptz[];
  v_at timestamptz := before_created_at;
  v_id uuid := before_id;
begin
  if n is null or n < 1 then
    return;
  end if;
  loop
    select coalesce(array_agg(m.id order by m.created_at desc, m.id desc), '{}'),
           coalesce(array_agg(m.created_at order by m.created_at desc, m.id desc), '{}')
      into v_ids, v_times
      from app_hidden.search_post_matches(q, v_at, v_id, v_batch) m;
    -- row-level security (the caller's) decides which of them count
    return query
      select p.id from app_public.posts p
       where p.id = any (v_ids)
       order by p.created_at desc, p.id desc
       limit n - v_found;
    get diagnostics v_rows = row_count;
    v_found := v_found + v_rows;
    exit when v_found >= n or cardinality(v_ids) < v_batch;
    v_at := v_times[cardinality(v_times)];
    v_id := v_ids[cardinality(v_ids)];
    v_batch := least(4 * v_batch, 20000);
  end loop;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.search_post_ids(tsquery, timestamptz, uuid, int) is
  E'The ids of the next n posts matching a search that the current user may read, after the position (created_at, id) or from the newest, newest first.';

-- Kept for SQL callers (and PostGraphile 4 in the benchmark): the same answer as searchPosts'
-- first 1,000 results, newest first. The API's searchPosts is plugins/search.ts.
create or replace function app_public.search_posts(query text) returns setof app_public.posts as $$
  select p.*
    from app_public.posts p
   where p.id = any (array(
           select app_hidden.search_post_ids(
             websearch_to_tsquery('simple', app_hidden.require_search_text(query)), null, null, 1000)))
   order by p.created_at desc, p.id desc
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_posts(text) is
  E'@behavior -*\nFind posts you can see by their words (web-search syntax: "quoted phrases", -excluded, or), newest first; at most 1,000. The API''s Query.searchPosts pages through all of them.';

grant execute on function app_hidden.search_post_matches(tsquery, timestamptz, uuid, int) to anonymous, authenticated;
grant execute on function app_hidden.search_post_ids(tsquery, timestamptz, uuid, int) to anonymous, authenticated;

-- ==== cache invalidation ====
-- The API's read cache (src/cache/, docs/SCALING.md "Cache") keeps viewer-independent values and
-- drops one when the database announces at commit, on channel `mking_cache`, that it changed:
-- payload `<kind>:<id>`. Cached today: the trending ranking (`trending:all`), which changes only
-- when the materialised view is refreshed.
create or replace function app_private.refresh_views() returns void as $$
begin
  refresh materialized view concurrently app_private.trending_post_scores;
  -- sent at commit: every API instance drops its cached ranking (src/cache/feed.ts)
  perform pg_notify('mking_cache', 'trending:all');
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.refresh_views() is
  E'Refreshes the materialised views (concurrently: readers are never blocked), and tells the API''s read cache (NOTIFY mking_cache ''trending:all'').';

-- The uncached Query.trendingPosts: app_public.trending_posts() had `set search_path`, which
-- keeps PostgreSQL from inlining a SQL function, so every page ran it whole: all of the view's
-- posts (5,248 at scale 1) checked by row-level security, then sorted, to return 20 (121 ms).
-- Now it is inlined (no setting: every name in it is schema-qualified, and it is security
-- invoker, so there is nothing to hijack) and sorts the ranking first, in a subquery (a few
-- thousand ids and scores, no row-level security), so the page query's LIMIT stops reading
-- posts by primary key, in that order, once the page is full (4 ms). Sorting after the join, as
-- before, would still check every post.
create or replace function app_public.trending_posts() returns setof app_public.posts as $$
  select p.* from (select t.post_id, t.score from app_hidden.trending_scores() t
                    order by t.score desc, t.post_id) s
    join app_public.posts p on p.id = s.post_id
   order by s.score desc, s.post_id;
$$ language sql stable;
comment on function app_public.trending_posts() is
  E'Posts of the last two days you can see, most popular first (refreshed every ten minutes).';

-- The cached Query.trendingPosts (plugins/cache.ts): the API keeps the whole ranking (ids, best
-- first) and passes only the slice after the cursor: `window_ids`, ranks `after_rank` + 1, + 2, …
-- This returns those of them the caller may see (row-level security on posts: it runs as the
-- caller) with their rank. When they are fewer than `need` (the page, its offset and one more
-- to tell whether there is a next page) and the ranking goes on past the window (`more`), it
-- continues in the view's own ranking, after the window's last post, with the ranks that
-- ranking gives (the same as the cached one's, unless the view was refreshed and the cache has
-- not yet heard of it: then the page may be short, never wrong about who sees what).
create or replace function app_hidden.trending_window(
  window_ids uuid[], after_rank int, need int, more boolean
) returns table (post_id uuid, rank int) as $$
declare
  v_found int;
  v_size int := coalesce(cardinality(window_ids), 0);
  v_last uuid;
  v_score numeric;
begin
  return query
    select w.id, after_rank + w.ord::int
      from unnest(window_ids) with ordinality w(id, ord)
      join app_public.posts p on p.id = w.id;
  get diagnostics v_found = row_count;
  if not more or need is null or v_found >= need or v_size = 0 then
    return;
  end if;
  -- row-level security hid too many: read on in the view's ranking
  v_last := window_ids[v_size];
  select s.score into v_score from app_hidden.trending_scores() s where s.post_id = v_last;
  if v_score is null then
    return; -- refreshed without it: the cached ranking is being dropped
  end if;
  return query
    select r.post_id, (after_rank + v_size + r.n)::int
      from (select s.post_id, row_number() over (order by s.score desc, s.post_id) as n
              from app_hidden.trending_scores() s
             where s.score < v_score or (s.score = v_score and s.post_id > v_last)) r
      join app_public.posts p on p.id = r.post_id
     order by r.n
     limit need - v_found;
end;
$$ language plpgsql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.trending_window(uuid[], int, int, boolean) is
  E'The cached trending page: which posts of a slice of the cached ranking the caller may see, with their rank; reads on in the view''s ranking when row-level security hides too many.';
grant execute on function app_hidden.trending_window(uuid[], int, int, boolean) to anonymous, authenticated;

-- ==== people search speed ====
-- Issue #16: people search in milliseconds at 100k users. It used to rank every person whose
-- name contains or resembles the text (11,000 for "ana") before returning the first 20.
--
-- The order (what a good result is): the person whose username is the text; then usernames
-- that start with it (alphabetical); then display names that start with it (alphabetical, then
-- by username); then the rest whose username or display name contains the text or is spelled
-- similarly (pg_trgm `%`), most similar first, then by username. Never shown: accounts that are
-- not active (suspended, or deleted and awaiting erasure), people on either side of a block
-- with the viewer, and to a signed-out visitor anyone whose profile is not public.
--
-- How: app_hidden.search_user_matches takes the tiers in that order and stops when it has n
-- people. The first three read a btree in the tier's own order (the unique lower(username)
-- index for the exact match, the two "C"-collated indexes below for the prefixes), so a common
-- text reads about a page of index entries; only when they do not fill the page are the
-- trigram indexes asked for the rest (which are then ranked: a rare text has few). It runs
-- outside row-level security and returns ids and positions only; Query.searchUsers
-- (plugins/searchUsers.ts) reads those people through the user_cards view (its rule decides
-- again), in one statement.
create index if not exists idx_user_profiles_username_prefix
  on app_public.user_profiles ((lower(username) collate "C"));
comment on index app_public.idx_user_profiles_username_prefix is
  E'People search: usernames starting with a text, in alphabetical order (app_hidden.search_user_matches).';
create index if not exists idx_user_profiles_display_name_prefix
  on app_public.user_profiles ((lower(display_name) collate "C"), (lower(username) collate "C"));
comment on index app_public.idx_user_profiles_display_name_prefix is
  E'People search: display names starting with a text, alphabetical, then by username (app_hidden.search_user_matches).';

create or replace function app_hidden.search_user_matches(search_text text, n int)
returns table (id uuid, ord int) as $$
declare
  v_q text := lower(app_hidden.require_search_text(search_text));
  -- the text as a LIKE pattern: its own % _ and \ match themselves
  v_text text := replace(replace(replace(v_q, '\', '\\'), '%', '\%'), '_', '\_');
  v_me uuid := app_public.current_user_id();
  v_hidden uuid[];
  v_ids uuid[];
  v_found int := 0;
begin
  if n is null or n < 1 then
    return;
  end if;
  v_hidden := case when v_me is null then '{}'::uuid[]
                   else array(select app_hidden.blocked_user_ids()) end;

  -- 1. the username itself
  v_ids := array(
    select p.user_id
      from app_public.user_profiles p
      join app_public.users u on u.id = p.user_id and u.status = 'active'
     where lower(p.username) = v_q
       and p.user_id <> all (v_hidden) and (v_me is not null or p.privacy_level = 'public'));
  return query select m.id, (v_found + m.o)::int from unnest(v_ids) with ordinality m(id, o);
  v_found := v_found + cardinality(v_ids);
  if v_found >= n then
    return;
  end if;

  -- 2. usernames starting with the text
  v_ids := array(
    select p.user_id
      from app_public.user_profiles p
      join app_public.users u on u.id = p.user_id and u.status = 'active'
     where lower(p.username) collate "C" like v_text || '%' and lower(p.username) <> v_q
       and p.user_id <> all (v_hidden) and (v_me is not null or p.privacy_level = 'public')
     order by lower(p.username) collate "C"
     limit n - v_found);
  return query select m.id, (v_found + m.o)::int from unnest(v_ids) with ordinality m(id, o);
  v_found := v_found + cardinality(v_ids);
  if v_found >= n then
    return;
  end if;

  -- 3. display names starting with the text (the username does not: tiers 1 and 2)
  v_ids := array(
    select p.user_id
      from app_public.user_profiles p
      join app_public.users u on u.id = p.user_id and u.status = 'active'
     where lower(p.display_name) collate "C" like v_text || '%'
       and lower(p.username) not like v_text || '%'
       and p.user_id <> all (v_hidden) and (v_me is not null or p.privacy_level = 'public')
     order by lower(p.display_name) collate "C", lower(p.username) collate "C"
     limit n - v_found);
  return query select m.id, (v_found + m.o)::int from unnest(v_ids) with ordinality m(id, o);
  v_found := v_found + cardinality(v_ids);
  if v_found >= n then
    return;
  end if;

  -- 4. the text inside the username or display name (the trigram indexes), most similar first
  v_ids := array(
    select p.user_id
      from app_public.user_profiles p
      join app_public.users u on u.id = p.user_id and u.status = 'active'
     where (lower(p.username) like '%' || v_text || '%' or lower(p.display_name) like '%' || v_text || '%')
       and lower(p.username) not like v_text || '%'
       and (p.display_name is null or lower(p.display_name) not like v_text || '%')
       and p.user_id <> all (v_hidden) and (v_me is not null or p.privacy_level = 'public')
     order by greatest(similarity(lower(p.username), v_q),
                       similarity(lower(coalesce(p.display_name, '')), v_q)) desc,
              lower(p.username) collate "C"
     limit n - v_found);
  return query select m.id, (v_found + m.o)::int from unnest(v_ids) with ordinality m(id, o);
  v_found := v_found + cardinality(v_ids);
  if v_found >= n then
    return;
  end if;

  -- 5. names spelled similarly (pg_trgm's `%`), most similar first: only when the rest did not
  -- fill the page (a similarity search reads every name sharing a few trigrams with the text)
  v_ids := array(
    select p.user_id
      from app_public.user_profiles p
      join app_public.users u on u.id = p.user_id and u.status = 'active'
     where (lower(p.username) % v_q or lower(p.display_name) % v_q)
       and lower(p.username) not like '%' || v_text || '%'
       and (p.display_name is null or lower(p.display_name) not like '%' || v_text || '%')
       and p.user_id <> all (v_hidden) and (v_me is not null or p.privacy_level = 'public')
     order by greatest(similarity(lower(p.username), v_q),
                       similarity(lower(coalesce(p.display_name, '')), v_q)) desc,
              lower(p.username) collate "C"
     limit n - v_found);
  return query select m.id, (v_found + m.o)::int from unnest(v_ids) with ordinality m(id, o);
end;
$$ language plpgsql stable security definer rows 20 set search_path to pg_catalog, public, pg_temp
   -- planned with the text itself: a LIKE prefix can use a btree only when the planner sees it
   set plan_cache_mode to force_custom_plan;
comment on function app_hidden.search_user_matches(text, int) is
  E'The first n people matching a search the current user may see, best first (ord 1, 2, …): the exact username, usernames then display names starting with the text, then names containing it or spelled similarly. Ids only; Query.searchUsers reads them through user_cards.';

-- Kept for SQL callers (and PostGraphile 4 in the benchmark): searchUsers' first 1,000 results,
-- in its order. The API's searchUsers is plugins/searchUsers.ts.
create or replace function app_public.search_users(query text) returns setof app_public.user_cards as $$
  select c.*
    from app_hidden.search_user_matches(query, 1000) m
    join app_public.user_cards c on c.id = m.id
   order by m.ord
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_users(text) is
  E'@behavior -*\nFind people by username or display name: the exact username first, then usernames and display names starting with the text, then similar names; at most 1,000. The API''s Query.searchUsers pages through them.';

grant execute on function app_hidden.search_user_matches(text, int) to anonymous, authenticated;

-- ==== keyed jobs ====
/*
 * graphile-worker 0.18's add_job with a job_key has two flaws (found by the chaos soak, #20; the
 * "counters: serialised recount" section explains them for recounts):
 *
 * 1. A lost job: add_jobs clears the key of a locked (running) job, then inserts
 *    `on conflict (key) do update … where locked_at is null`. A worker that takes the queued job
 *    between those statements (or while the insert waits for its transaction) makes the update a
 *    no-op: nothing new is queued, and the job the worker runs saw the world before this call.
 * 2. A running job given up: the job whose key it clears gets attempts = max_attempts, so when its
 *    worker dies it is never retried, and stays behind as "failed for good" with no error.
 *
 * add_keyed_job does it safely, for every keyed enqueue: it locks the queued job of the key (a
 * worker's get_job skips locked rows until this transaction commits), takes the key off a job
 * already running itself (that job keeps its attempts: it finishes, or is retried, with what it
 * saw), then calls add_job, and again if that queued nothing.
 *
 * Per caller (a keyed add_job elsewhere goes through here, or says why not):
 * - counters__recount (app_private.enqueue_recount): a lost recount leaves a counter wrong.
 * - send_email from request_password_reset and request_email_verification: the key may be held by
 *   a running job (the user asked again); a given-up job would be left "failed for good".
 * - not needed, each key is queued once and never again: media__process ('media:<upload>',
 *   complete_upload queues it only on the pending → uploaded change, under the row's lock),
 *   data_export__build ('data_export:<new export id>'), send_email from register (a new user's
 *   id), account__erase (scheduled days ahead, once per request). oidc_resolve's verify e-mail
 *   (an unverified account signing in) can meet a running one: the worse case is a running job
 *   left unretried while the new one sends (it mints its own token), so it is left as it is.
 */
create or replace function app_private.add_keyed_job(
  identifier text,
  payload json,
  job_key text,
  run_at timestamptz default null,
  max_attempts int default null,
  preserve_run_at boolean default false
) returns bigint as $$
declare
  v_job_id bigint;
  v_running boolean;
  v_queued bigint;
begin
  if job_key is null then
    raise exception 'add_keyed_job: job_key is required';
  end if;
  for attempt in 1..5 loop
    -- the queued job of the key, locked: no worker takes it until we commit
    select j.id, j.locked_at is not null into v_job_id, v_running
      from graphile_worker._private_jobs j
     where j.key = add_keyed_job.job_key
       for update;
    if v_running then
      -- running: it keeps its key's work and its retries; the new job gets the key
      update graphile_worker._private_jobs set key = null, updated_at = now() where id = v_job_id;
    end if;
    select q.id into v_queued
      from graphile_worker.add_job(
        add_keyed_job.identifier,
        add_keyed_job.payload,
        job_key := add_keyed_job.job_key,
        job_key_mode := case when add_keyed_job.preserve_run_at then 'preserve_run_at' else 'replace' end,
        run_at := add_keyed_job.run_at,
        max_attempts := add_keyed_job.max_attempts
      ) q;
    if v_queued is not null then
      return v_queued;
    end if;
  end loop;
  raise exception 'add_keyed_job: no % job queued for key %', identifier, job_key;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.add_keyed_job(text, json, text, timestamptz, int, boolean) is
  E'graphile_worker.add_job with a job_key, without its races: a job taken by a worker while this runs is never lost, and a running job whose key is taken over keeps its retries. Returns the queued job''s id.';
revoke all on function app_private.add_keyed_job(text, json, text, timestamptz, int, boolean) from public;

create or replace function app_hidden.request_password_reset(email text) returns void as $$
declare
  v_user_id uuid;
begin
  select id into v_user_id from app_public.users u
   where u.email = lower(btrim(request_password_reset.email)) and u.status = 'active';
  -- at most one reset e-mail a minute per account; the answer is the same either way
  if v_user_id is not null and not exists (
    select 1 from app_private.user_tokens
     where user_id = v_user_id and kind = 'password_reset' and created_at > now() - interval '1 minute'
  ) then
    perform app_private.add_keyed_job(
      'send_email', json_build_object('template', 'password_reset', 'user_id', v_user_id),
      'send_email:password_reset:' || v_user_id, max_attempts := 10
    );
  end if;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.request_password_reset(text) is
  E'Queues a password-reset e-mail if the address belongs to an active account; says nothing either way.';

create or replace function app_hidden.request_email_verification() returns boolean as $$
declare
  v_me uuid := app_public.current_user_id();
begin
  if v_me is null then
    raise exception 'Sign in first' using errcode = 'LOGIN';
  end if;
  if exists (select 1 from app_public.users where id = v_me and email_verified) then
    return false;
  end if;
  if not exists (
    select 1 from app_private.user_tokens
     where user_id = v_me and kind = 'email_verification' and created_at > now() - interval '1 minute'
  ) then
    perform app_private.add_keyed_job(
      'send_email', json_build_object('template', 'verify_email', 'user_id', v_me),
      'send_email:verify_email:' || v_me, max_attempts := 10
    );
  end if;
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.request_email_verification() is
  E'Queues a verification e-mail for the current user (at most one a minute); false if already verified.';

-- ==== feed and profile speed ====
/*
 * Issue #16: the posts policy (policies/posts.sql, select_visible) asked "is this group public?"
 * as `group_id in (select app_hidden.public_group_ids())`: a hashed set of every public group
 * (3,500 at scale 1), built by a set-returning security-definer function, once per statement
 * that meets a group post — 1.5 to 20 ms of a feed page or a profile whose 20 posts include one.
 * It now asks `exists (select 1 from app_hidden.public_groups g where g.id = group_id)`: the
 * planner looks each group up by its primary key when it expects few rows (a feed page, a
 * profile, a search page: microseconds per group post), or hashes the public groups straight
 * from the table when it expects many (a plain scan, ~1 ms). The view reads as its owner (the
 * tables' owner), so it sees every public group whoever asks, like public_group_ids() did:
 * anonymous readers cannot read app_public.groups themselves.
 */
create or replace view app_hidden.public_groups as
  select g.id from app_public.groups g where g.group_type = 'public';
comment on view app_hidden.public_groups is
  E'Every public group (ids): the posts policy asks it whether a post''s group is public. Reads as its owner, so it answers whoever asks.';
revoke all on app_hidden.public_groups from public;
grant select on app_hidden.public_groups to anonymous, authenticated;
