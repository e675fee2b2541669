--! Previous: sha1:bd708c836c49ab3e555efabfc59047cf8e1e81e6
--! Hash: sha1:f05df14ff81be86a1ea9722a736a620f7675f89d

-- Enter migration here

-- ==== realtime per-viewer cost ====
/*
 * Issue #15 asks for one group conversation of 1,000 participants: a group now holds at most
 * 1,024 (was 256). The three places that enforce it, copied from migrations 000006 and 000010
 * with only the limit and its message changed: createGroupConversation (the creator and at most
 * 1,023 others), addConversationParticipants, and the trigger that holds for any insert.
 * createGroupConversation also adds its participants in one statement rather than one each:
 * 1,023 inserts, each running the insert policy's subqueries, took most of the request's 5 s.
 */
create or replace function app_public.create_group_conversation(title text, participant_ids uuid[]) returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_user();
  v_conversation app_public.conversations;
  v_id uuid;
begin
  if coalesce(btrim(title), '') = '' or char_length(title) > 100 then
    raise exception 'A group conversation needs a title of at most 100 characters' using errcode = 'INVAL', detail = 'field=title';
  end if;
  if cardinality(participant_ids) > 1023 then
    raise exception 'A group conversation has at most 1024 participants' using errcode = 'INVAL', detail = 'field=participant_ids';
  end if;
  foreach v_id in array coalesce(participant_ids, '{}') loop
    if v_id is distinct from v_me then
      perform app_hidden.require_addable_user(v_id, 'participant_ids');
    end if;
  end loop;
  -- no RETURNING: the new row is visible to its creator only once the trigger has made them
  -- a participant, and RETURNING is checked against the select policy before that
  v_conversation.id := gen_random_uuid();
  insert into app_public.conversations (id, conversation_type, title, created_by)
  values (v_conversation.id, 'group', btrim(title), v_me);
  select * into v_conversation from app_public.conversations c where c.id = v_conversation.id;
  -- one statement for everyone (was one per person): the policies' subqueries run once
  insert into app_public.conversation_participants (conversation_id, user_id)
  select v_conversation.id, p.id
    from unnest(participant_ids) with ordinality p(id, k)
   where p.id <> v_me
   order by p.k
  on conflict (conversation_id, user_id) do nothing;
  return v_conversation;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.create_group_conversation(text, uuid[]) is
  E'Start a group conversation with a title and people you can see (not across a block); you are its admin.';

create or replace function app_public.add_conversation_participants(conversation_id uuid, user_ids uuid[])
returns app_public.conversations as $$
declare
  v_me uuid := app_hidden.require_conversation_admin(conversation_id);
  v_id uuid;
begin
  foreach v_id in array coalesce(user_ids, '{}') loop
    if v_id = v_me then
      continue;
    end if;
    perform app_hidden.require_addable_user(v_id, 'user_ids');
    insert into app_public.conversation_participants (conversation_id, user_id)
    values (add_conversation_participants.conversation_id, v_id)
    on conflict on constraint conversation_participants_conversation_id_user_id_key
    do update set left_at = null, joined_at = now() where conversation_participants.left_at is not null;
  end loop;
  if (select count(*) from app_public.conversation_participants p
       where p.conversation_id = add_conversation_participants.conversation_id and p.left_at is null) > 1024 then
    raise exception 'A group conversation has at most 1024 participants' using errcode = 'INVAL', detail = 'field=user_ids';
  end if;
  return (select c from app_public.conversations c where c.id = add_conversation_participants.conversation_id);
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.add_conversation_participants(uuid, uuid[]) is
  E'Add people to a group conversation you administer (people who left come back); not across a block.';

create or replace function app_private.tg_conversation_participants__limit() returns trigger as $$
begin
  if NEW.left_at is null and (TG_OP = 'INSERT' or OLD.left_at is not null) then
    perform pg_advisory_xact_lock(hashtextextended(NEW.conversation_id::text, 31));
    if (select count(*) from app_public.conversation_participants p
         where p.conversation_id = NEW.conversation_id and p.left_at is null and p.id <> NEW.id) >= 1024 then
      raise exception 'A group conversation has at most 1024 participants' using errcode = 'INVAL', detail = 'field=user_ids';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversation_participants__limit() is
  E'Refuses a 1025th current participant of a conversation.';

/*
 * Joining a conversation is announced to everyone in it (migration 000005's trigger), one row at
 * a time: filling a group of 1,024 sent ~520,000 notices (11 s; the request's limit is 5 s).
 * PostgreSQL delivers a notice sent twice in one transaction (same channel and payload) once, so
 * after a conversation's first announcement in a transaction (remembered in a transaction-local
 * setting) each later row only needs to tell the person it concerns: everyone else current was
 * told then, or by their own row since. What listeners receive is unchanged.
 */
create or replace function app_private.tg_conversation_participants__announce() returns trigger as $$
declare
  v_row app_public.conversation_participants := coalesce(NEW, OLD);
  v_user uuid;
begin
  if TG_OP = 'UPDATE' and NEW.left_at is not distinct from OLD.left_at
     and NEW.role is not distinct from OLD.role then
    -- only this participant's own state changed: read up to, or muted
    if NEW.last_read_at is distinct from OLD.last_read_at or NEW.is_muted is distinct from OLD.is_muted then
      perform pg_notify(
        'user:' || NEW.user_id || ':conversations',
        json_build_object('conversation_id', NEW.conversation_id,
                          'reason', case when NEW.is_muted is distinct from OLD.is_muted then 'muted' else 'read' end)::text
      );
    end if;
    return null;
  end if;
  -- someone joined, left, was removed or changed role: everyone in it (and they) hear of it
  if current_setting('mking.participants_announced', true) is not distinct from v_row.conversation_id::text then
    -- the others already heard it in this transaction: the same notice again would be dropped
    perform pg_notify(
      'user:' || v_row.user_id || ':conversations',
      json_build_object('conversation_id', v_row.conversation_id, 'reason', 'participants')::text
    );
    return null;
  end if;
  for v_user in
    select p.user_id from app_public.conversation_participants p
     where p.conversation_id = v_row.conversation_id and (p.left_at is null or p.user_id = v_row.user_id)
    union
    select v_row.user_id
  loop
    perform pg_notify(
      'user:' || v_user || ':conversations',
      json_build_object('conversation_id', v_row.conversation_id, 'reason', 'participants')::text
    );
  end loop;
  perform set_config('mking.participants_announced', v_row.conversation_id::text, true);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversation_participants__announce() is
  E'Joining, leaving and role changes are announced to the conversation''s participants (once per conversation and transaction; later rows tell the person concerned); reading and muting to the participant.';

/*
 * Shared payload reads (src/realtime/sharedReads.ts): read_as_each ran the event's statement once
 * per subscriber through plpgsql EXECUTE, which parses and plans it every time: for a group of
 * 256 that was 256 plans, most of the statement's cost. It now prepares the statement once per
 * call and executes the prepared statement for each subscriber. Row-level security still decides
 * every read: a prepared statement without parameters runs a generic plan, in which the policies'
 * current_setting(...) calls (the claims) are evaluated at each execution, not when planning; and
 * PostgreSQL plans again by itself if a subscriber's role differs from the one it was planned for.
 * The settings are set with one statement per subscriber (was one per setting), and a
 * subscriber's list may hold only what differs from the previous one (set_config(…, true) lasts
 * until the end of the transaction, so the rest is still in place).
 * PREPARE is not transactional: a statement left behind by a failed call is dropped first.
 */
create or replace function app_hidden.read_as_each(viewers json, query text)
returns table (viewer integer, rows text[]) as $$
declare
  settings json;
  i integer := 0;
begin
  if exists (select 1 from pg_catalog.pg_prepared_statements s where s.name = 'app_hidden_read_as_each') then
    deallocate app_hidden_read_as_each;
  end if;
  execute format('prepare app_hidden_read_as_each as select array(select shared_read::text from (%s) as shared_read)', query);
  for settings in select value from json_array_elements(viewers) loop
    perform pg_catalog.set_config(el->>0, el->>1, true) from json_array_elements(settings) el;
    viewer := i;
    execute 'execute app_hidden_read_as_each' into rows;
    return next;
    i := i + 1;
  end loop;
  deallocate app_hidden_read_as_each;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.read_as_each(json, text) is
  E'Runs `query` once for each element of `viewers` (an array of [setting, value] pair lists, applied in turn with set_config(…, true) before that element''s run, so a list need only hold what differs from the previous one) and returns each run''s rows as composite literals: a subscription event''s payload read for every subscriber of an API instance in one statement, each under their own role and claims, planned once (src/realtime/sharedReads.ts).';

-- ==== feed and messages speed ====
/*
 * Post.likesCount and Post.commentsCount (posts_likes_count, posts_comments_count) run for every
 * post of every feed, profile and search page. Each was a function with its own `set
 * search_path` (so PostgreSQL called it row by row instead of inlining it) whose look-up of the
 * viewer's blocks ran even for a post nobody liked or commented on (19 % and 59 % of posts at
 * scale 1). Now both are inlined into the reading statement (no setting: every name in them is
 * schema-qualified, and they are security invoker) and a zero count is answered from the row.
 * The answers are the same: a count of 0 minus anything, floored at 0, is 0. Signed out,
 * likesCount still counts the public likers.
 */
create or replace function app_public.posts_likes_count(p app_public.posts) returns integer as $$
  select case
           when app_public.current_user_id() is null then app_hidden.public_liker_count(p.id)
           when p.likes_count = 0 then 0
           else greatest(p.likes_count - app_hidden.blocked_like_count('post', p.id), 0)
         end;
$$ language sql stable;
comment on function app_public.posts_likes_count(app_public.posts) is
  E'How many people `likers` lists for you (likes by people on either side of a block with you are not counted). Kept by the worker: may trail a fresh like by a moment.';

create or replace function app_public.posts_comments_count(p app_public.posts) returns integer as $$
  select case
           when p.comments_count = 0 then 0
           else greatest(p.comments_count - app_hidden.blocked_comment_count(p.id), 0)
         end;
$$ language sql stable;
comment on function app_public.posts_comments_count(app_public.posts) is
  E'How many comments and replies you can read under this post (`comments` and their `replies`). Kept by the worker: may trail a fresh comment by a moment.';

-- ==== post search speed ====
/*
 * Issue #16: a common word ("coffee", in 28 % of posts at scale 1) took 2 ms or 14-25 ms
 * depending on who wrote the newest matches. search_post_ids asked search_post_matches for 2n
 * matches of any visibility, kept those row-level security let through and, when fewer than n,
 * asked again for 4x as many: 168 more matches, ~600 more posts walked with a text vector
 * computed for each, 210 posts read again by key under the policies (~2,000 buffers). At c=8
 * that second round decided the p95.
 *
 * Now it is one walk that stops at the n-th match the viewer may read. The newest posts are
 * read in time order (idx_posts_created_at_id) with the posts policies' rule applied inline: the
 * viewer's blocked, friend and group ids are read once, a group post's group is looked up by its
 * key (a hashed list of every public group cost ~1 ms a call). The words are checked only for
 * posts the viewer may read (to_tsvector costs ~8 µs a post, the rule under 1 µs), and for every
 * post of the first stretch, to tell a rare word from a common one. At checkpoints (60 posts
 * walked, then 110, 210, 410, …: where the loop's fetches of 10, then 50 rows end) a word with
 * at most one match so far goes to the text index (idx_posts_search), as does one whose readable
 * hit rate says the page would need more than 4,096 + 32n posts. The GIN index is no help for a
 * common word: its bitmap for "coffee" alone holds 273k entries (~48 ms).
 *
 * The function reads as its owner; Query.searchPosts (plugins/search.ts) and
 * app_public.search_posts still read the posts themselves under row-level security, which
 * decides what is shown. Keep the rule in step with policies/posts.sql (select_own,
 * select_visible); test/api/searchPlan.test.ts compares the two.
 */
create or replace function app_hidden.search_post_ids(
  q tsquery, before_created_at timestamptz, before_id uuid, n int
) returns setof uuid as $$
declare
  v_user uuid := app_public.current_user_id();
  v_blocked uuid[] := array(select app_hidden.blocked_user_ids());
  v_friends uuid[] := array(select app_hidden.friend_ids());
  v_groups uuid[] := array(select app_hidden.active_group_ids());
  -- from the position, or from the newest post
  v_at timestamptz := coalesce(before_created_at, 'infinity');
  v_id uuid := coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  -- the most posts walked in time order before the text index takes over
  v_budget int := 4096 + 32 * n;
  v_first int := 60;
  v_checkpoint int := 60;
  v_walked int := 0;
  v_matched int := 0;
  v_found int := 0;
  v_match boolean;
  v_rest boolean := false;
  r record;
begin
  if n is null or n < 1 then
    return;
  end if;
  for r in
    select p.id, p.created_at, p.content,
           -- the posts policies' rule (select_own or select_visible)
           p.author_id = v_user
            or (p.author_id <> all (v_blocked)
                and case
                      when p.group_id is null
                        or (select g.group_type from app_public.groups g where g.id = p.group_id) = 'public'
                      then p.privacy_level = 'public'
                        or (p.privacy_level = 'friends' and p.author_id = any (v_friends))
                      else p.group_id = any (v_groups) and p.privacy_level <> 'private'
                    end) as readable
      from app_public.posts p
     where p.deleted_at is null and (p.created_at, p.id) < (v_at, v_id)
     order by p.created_at desc, p.id desc
     limit v_budget
  loop
    v_walked := v_walked + 1;
    v_at := r.created_at;
    v_id := r.id;
    if r.readable or v_walked <= v_first then
      v_match := to_tsvector('simple', r.content) @@ q;
      if v_match then
        v_matched := v_matched + 1;
        if r.readable then
          return next r.id;
          v_found := v_found + 1;
          if v_found >= n then
            return;  -- a full page
          end if;
        end if;
      end if;
    end if;
    if v_walked = v_checkpoint then
      -- a rare word (at most one match among the first posts, whoever may read it), or the
      -- posts the page still needs at the readable hit rate so far (counting one hit less: a
      -- lone hit says little) past the budget: the text index
      v_rest := v_matched <= 1
                or v_walked + ceil((n - v_found)::numeric * v_walked / greatest(v_found - 1, 1) * 1.25) > v_budget;
      exit when v_rest;
      v_checkpoint := 2 * v_checkpoint - 10;
    end if;
  end loop;
  if not v_rest and v_walked < v_budget then
    return;  -- no older posts
  end if;
  -- every older match the viewer may read, from the text index, newest first. The matches are
  -- fenced off (offset 0) so that the text index finds them: left to itself, the planner
  -- estimates a word it has no statistics for at 0.5 % of the posts and walks the time index
  -- instead, filtering every post (2 s for a word in 300 of 3M posts)
  return query
    select p.id
      from (select m.id, m.created_at, m.author_id, m.group_id, m.privacy_level
              from app_public.posts m
             where to_tsvector('simple', m.content) @@ q
               and m.deleted_at is null and (m.created_at, m.id) < (v_at, v_id)
            offset 0) p
     where (p.author_id = v_user
            or (p.author_id <> all (v_blocked)
                and case
                      when p.group_id is null
                        or (select g.group_type from app_public.groups g where g.id = p.group_id) = 'public'
                      then p.privacy_level = 'public'
                        or (p.privacy_level = 'friends' and p.author_id = any (v_friends))
                      else p.group_id = any (v_groups) and p.privacy_level <> 'private'
                    end))
     order by p.created_at desc, p.id desc
     limit n - v_found;
end;
$$ language plpgsql stable security definer set search_path to pg_catalog, public, pg_temp
   -- planned with the walk's actual position and budget (a generic plan guesses both)
   set plan_cache_mode to force_custom_plan;
comment on function app_hidden.search_post_ids(tsquery, timestamptz, uuid, int) is
  E'The ids of the next n posts matching a search that the current user may read, after the position (created_at, id) or from the newest, newest first. Reads as its owner with the posts policies'' rule applied inline; callers read the posts under row-level security.';
grant execute on function app_hidden.search_post_ids(tsquery, timestamptz, uuid, int) to anonymous, authenticated;

-- its former helper named matches of any visibility to whoever called it; nothing uses it now
drop function if exists app_hidden.search_post_matches(tsquery, timestamptz, uuid, int);

-- ==== plans that stay right when cached ====
/*
 * PostgreSQL 18 caches the plans of SQL functions: after five calls on a connection a function
 * may run a generic plan, made without its arguments' values (the growth run, issue #16, found
 * two that then read far more than they need as the data grows):
 * - feed_page_ids: `before_created_at is null or (created_at, id) < (…)` can only be a filter in
 *   a generic plan, so every source's index scan started at that author's newest post and
 *   skipped everything newer than the page's position (page 50 at scale 3: 2,563 buffers
 *   instead of 876). The position is now one row comparison with the start of the feed as
 *   ('infinity', the largest uuid), which the index scans use whatever the plan.
 * test/api/cachedPlans.test.ts reads the plan after the cache has taken over.
 * (blocked_like_count's generic plan also reads every like of a popular post when the viewer
 * has blocks; rewriting it did not make the planner prefer the unique key on small tables:
 * left for a follow-up.)
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
           and (p.created_at, p.id) < (coalesce(before_created_at, 'infinity'), coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
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
           and (p.created_at, p.id) < (coalesce(before_created_at, 'infinity'), coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
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
