--! Previous: sha1:7d184fb2e81fa5324069024703021ddace09bc6d
--! Hash: sha1:d813fdb4ae6f357bfb826ef749d02ac573ec9eb8

/*
 * 0010 — hardening (issue #10): sessions that end are announced to every API instance at once;
 * every count a viewer reads agrees with the list that viewer can read; sign-in failures are
 * counted atomically; two people asking each other at once become friends; and the generated
 * CRUD mutations enforce what the named ones check. Grants: policies/_auth.sql and
 * policies/_functions.sql.
 */

-- ==== immediate sign-out ====
-- Every API instance keeps in memory which sessions (refresh-token families, the `sid` of an
-- access token) are live (src/auth/sessions.ts). It asks the database once per session it has
-- not seen, and learns of every session that ends through NOTIFY on `mking_session_ended`
-- (payload: the session id), sent at commit by the triggers below, whatever path ends it:
-- logout, logoutEverywhere, password change or reset, refresh-token reuse, suspension,
-- account deletion.

create or replace function app_hidden.live_sessions(session_ids uuid[])
returns table (session_id uuid, user_id uuid) as $$
  select t.family_id, t.user_id
    from app_private.refresh_tokens t
    join app_public.users u on u.id = t.user_id
   where t.family_id = any (live_sessions.session_ids)
     and u.status = 'active'
   group by t.family_id, t.user_id
  having bool_and(t.revoked_at is null)
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.live_sessions(uuid[]) is
  E'Which of these sessions are live (not revoked, of an active account that exists), with their user. The API asks once per session it has not seen; NOTIFY mking_session_ended tells it when one ends.';
revoke all on function app_hidden.live_sessions(uuid[]) from public;
-- The API's session checks run as `authenticated` (src/auth/sessionFeed.ts; grant in policies/_auth.sql).

create or replace function app_private.tg_refresh_tokens__announce_end() returns trigger as $$
begin
  -- identical notifications in one transaction are delivered once
  if TG_OP = 'DELETE' then
    perform pg_notify('mking_session_ended', OLD.family_id::text);
  else
    perform pg_notify('mking_session_ended', NEW.family_id::text);
  end if;
  return null;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_refresh_tokens__announce_end() is
  E'Tells every API instance (NOTIFY mking_session_ended, at commit) that a session ended: revoked, or deleted with its account.';

drop trigger if exists _900_announce_revocation on app_private.refresh_tokens;
create trigger _900_announce_revocation after update of revoked_at on app_private.refresh_tokens
  for each row when (OLD.revoked_at is null and NEW.revoked_at is not null)
  execute function app_private.tg_refresh_tokens__announce_end();
-- the purge of old tokens deletes only expired or long-revoked ones: nothing to announce
drop trigger if exists _900_announce_deletion on app_private.refresh_tokens;
create trigger _900_announce_deletion after delete on app_private.refresh_tokens
  for each row when (OLD.revoked_at is null and OLD.expires_at > now())
  execute function app_private.tg_refresh_tokens__announce_end();

-- A suspended (or deleted-status) account is signed out at once, however its status is changed.
create or replace function app_private.tg_users__end_sessions() returns trigger as $$
begin
  perform app_private.revoke_sessions(NEW.id);
  return null;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_users__end_sessions() is
  E'Revokes every session of an account that stops being active (suspended or deleted).';

drop trigger if exists _900_end_sessions on app_public.users;
create trigger _900_end_sessions after update of status on app_public.users
  for each row when (NEW.status is distinct from 'active' and OLD.status is distinct from NEW.status)
  execute function app_private.tg_users__end_sessions();

-- ==== hardening: counts agree with lists ====
-- Every count a viewer can read agrees with the list that same viewer can read, or is null when
-- that list is hidden from them (README "Who sees what"). Two kinds of count:
--
-- - counted per viewer from the list itself (friendCount, followerCount, followingCount,
--   goingCount, Group.postCount, Post.sharesCount, signed-out Post.likesCount): the count is
--   `count(*)` of what the list reads, under the same row-level security;
-- - the worker's stored counter (posts.likes_count, comments_count; comments.likes_count,
--   replies_count; groups.member_count; events.current_attendees) minus the rows this viewer may
--   not see. Lists hide rows only across blocks there, and blocks are rare: the subtraction
--   counts the few rows of people on either side of a block with the viewer (nothing at all for
--   a viewer without blocks), so the feed keeps reading a stored column. The stored columns
--   stay for ranking (trending) and are no longer exposed themselves.

-- Who may see a person's friend list: the person, and whoever may see their profile (the
-- user_profiles policies: public, or `friends` and an accepted friend; never across a block).
create or replace function app_hidden.can_see_friends(user_id uuid) returns boolean as $$
  select coalesce(can_see_friends.user_id = app_public.current_user_id(), false)
      or exists (
           select 1 from app_public.user_profiles p
            where p.user_id = can_see_friends.user_id
              and not app_hidden.is_blocked(p.user_id, app_public.current_user_id())
              and (p.privacy_level = 'public'
                   or (p.privacy_level = 'friends'
                       and app_hidden.is_friend(p.user_id, app_public.current_user_id()))));
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.can_see_friends(uuid) is
  E'Whether the current user may see this person''s friend list (and so its count): their own, or a profile they may see.';

create or replace function app_public.user_cards_friends(u app_public.user_cards) returns setof app_public.user_cards as $$
  select c.*
    from app_public.user_cards c
   where c.id in (
           select case when f.requester_id = u.id then f.addressee_id else f.requester_id end
             from app_public.friendships f
            where f.status = 'accepted' and (f.requester_id = u.id or f.addressee_id = u.id))
     and app_hidden.can_see_friends(u.id)
   order by c.username;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_friends(app_public.user_cards) is
  E'This user''s friends, by username. Visible to them and to whoever may see their profile.';

create or replace function app_public.user_cards_friend_count(u app_public.user_cards) returns integer as $$
  select case when app_hidden.can_see_friends(u.id)
              then (select count(*)::int from app_public.user_cards_friends(u)) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_friend_count(app_public.user_cards) is
  E'How many friends `friends` lists for you; null when their friend list is hidden from you (a profile you may not see).';

-- Follows are seen by signed-in users only, never across a block (policies/followers.sql).
create or replace function app_public.user_cards_follower_count(u app_public.user_cards) returns integer as $$
  select case when app_public.current_user_id() is not null
                   and not app_hidden.is_blocked(u.id, app_public.current_user_id())
              then (select count(*)::int from app_public.user_cards_followers(u)) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_follower_count(app_public.user_cards) is
  E'How many people `followers` lists for you; null when you are signed out or there is a block between you.';

create or replace function app_public.user_cards_following_count(u app_public.user_cards) returns integer as $$
  select case when app_public.current_user_id() is not null
                   and not app_hidden.is_blocked(u.id, app_public.current_user_id())
              then (select count(*)::int from app_public.user_cards_following(u)) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.user_cards_following_count(app_public.user_cards) is
  E'How many people `following` lists for you; null when you are signed out or there is a block between you.';

-- The rows a stored counter includes that the current user may not see: those of people on
-- either side of a block with them. Read as the owner (row-level security hides exactly these
-- rows from the caller); one index probe per blocked person, nothing without blocks.
create or replace function app_hidden.blocked_like_count(target_type text, target_id uuid) returns integer as $$
  select count(*)::int
    from app_hidden.blocked_user_ids() b(id)
   where exists (select 1 from app_public.likes l
                  where l.user_id = b.id
                    and l.target_type = blocked_like_count.target_type
                    and l.target_id = blocked_like_count.target_id);
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_like_count(text, uuid) is
  E'How many likes of this post or comment are by people on either side of a block with the current user.';

-- A post's comments the current user cannot reach: those by people on either side of a block,
-- and the replies under them (Comment.replies of a hidden comment cannot be read).
create or replace function app_hidden.blocked_comment_count(post_id uuid) returns integer as $$
  with hidden as (
    select m.id from app_public.comments m
     where m.post_id = blocked_comment_count.post_id
       and m.author_id in (select app_hidden.blocked_user_ids())
  )
  select case when not exists (select 1 from app_hidden.blocked_user_ids()) then 0
              else (select count(*)::int from app_public.comments m
                     where m.post_id = blocked_comment_count.post_id
                       and (m.id in (select id from hidden) or m.parent_comment_id in (select id from hidden)))
         end;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_comment_count(uuid) is
  E'How many comments on this post (replies included) the current user cannot read: by people on either side of a block with them, or replies to those.';

create or replace function app_hidden.blocked_reply_count(comment_id uuid) returns integer as $$
  select count(*)::int
    from app_hidden.blocked_user_ids() b(id)
    join app_public.comments r on r.author_id = b.id
   where r.parent_comment_id = blocked_reply_count.comment_id;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_reply_count(uuid) is
  E'How many replies to this comment are by people on either side of a block with the current user.';

create or replace function app_hidden.blocked_member_count(group_id uuid) returns integer as $$
  select count(*)::int
    from app_hidden.blocked_user_ids() b(id)
    join app_public.group_members gm on gm.user_id = b.id
   where gm.group_id = blocked_member_count.group_id and gm.status = 'active';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_member_count(uuid) is
  E'How many active members of this group are on either side of a block with the current user.';

create or replace function app_hidden.blocked_going_count(event_id uuid) returns integer as $$
  select count(*)::int
    from app_hidden.blocked_user_ids() b(id)
    join app_public.event_attendees a on a.user_id = b.id
   where a.event_id = blocked_going_count.event_id and a.status = 'going';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.blocked_going_count(uuid) is
  E'How many of those going to this event are on either side of a block with the current user.';

-- The stored counters leave the API; computed fields of the same names take their place.
comment on column app_public.posts.likes_count is
  E'@behavior -*\nAll likes; kept by the worker from `likes`, for ranking. The API shows `likesCount` (posts_likes_count), as the viewer may see them.';
comment on column app_public.posts.comments_count is
  E'@behavior -*\nAll comments including replies; kept by the worker from `comments`. The API shows `commentsCount` (posts_comments_count).';
comment on column app_public.posts.shares_count is
  E'@behavior -*\nAll live shares; kept by the worker. The API shows `sharesCount` (posts_shares_count).';
comment on column app_public.comments.likes_count is
  E'@behavior -*\nAll likes; kept by the worker from `likes`. The API shows `likesCount` (comments_likes_count).';
comment on column app_public.comments.replies_count is
  E'@behavior -*\nAll direct replies; kept by the worker from `comments`. The API shows `repliesCount` (comments_replies_count).';
comment on column app_public.groups.member_count is
  E'@behavior -*\nAll active members; kept by the worker from `group_members`. The API shows `memberCount` (groups_member_count).';
comment on column app_public.groups.post_count is
  E'@behavior -*\nAll live posts; kept by the worker from `posts`. The API shows `postCount` (groups_post_count).';
comment on column app_public.events.current_attendees is
  E'@behavior -*\nAll `going`; kept by the worker from `event_attendees`. The API shows `currentAttendees` (events_current_attendees).';

-- Signed out, `likers` lists only people with a public profile (user_cards): counted from the
-- likes index as the owner (for a post the caller can read, that is exactly the list; through
-- posts_likers, each like would re-check the post's row-level security).
create or replace function app_hidden.public_liker_count(post_id uuid) returns integer as $$
  select count(*)::int
    from app_public.likes l
    join app_public.user_profiles p on p.user_id = l.user_id
   where l.target_type = 'post' and l.target_id = public_liker_count.post_id
     and p.privacy_level = 'public';
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.public_liker_count(uuid) is
  E'How many people with a public profile like this post: its likers as a signed-out visitor sees them.';

create or replace function app_public.posts_likes_count(p app_public.posts) returns integer as $$
  select case
           when app_public.current_user_id() is null then app_hidden.public_liker_count(p.id)
           else greatest(p.likes_count - app_hidden.blocked_like_count('post', p.id), 0)
         end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_likes_count(app_public.posts) is
  E'How many people `likers` lists for you (likes by people on either side of a block with you are not counted). Kept by the worker: may trail a fresh like by a moment.';

create or replace function app_public.posts_comments_count(p app_public.posts) returns integer as $$
  select greatest(p.comments_count - app_hidden.blocked_comment_count(p.id), 0);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_comments_count(app_public.posts) is
  E'How many comments and replies you can read under this post (`comments` and their `replies`). Kept by the worker: may trail a fresh comment by a moment.';

create or replace function app_public.posts_shares_count(p app_public.posts) returns integer as $$
  select case when p.shares_count = 0 then 0
              else (select count(*)::int from app_public.posts s where s.shared_post_id = p.id) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.posts_shares_count(app_public.posts) is
  E'How many shares of this post you can see (`shares`).';

create or replace function app_public.comments_likes_count(c app_public.comments) returns integer as $$
  select greatest(c.likes_count - app_hidden.blocked_like_count('comment', c.id), 0);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.comments_likes_count(app_public.comments) is
  E'How many likes of this comment you can see (likes by people on either side of a block with you are not counted). Kept by the worker.';

create or replace function app_public.comments_replies_count(c app_public.comments) returns integer as $$
  select greatest(c.replies_count - app_hidden.blocked_reply_count(c.id), 0);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.comments_replies_count(app_public.comments) is
  E'How many `replies` you can read. Kept by the worker.';

create or replace function app_public.groups_member_count(g app_public.groups) returns integer as $$
  select case when g.group_type = 'public' or g.id in (select app_hidden.active_group_ids())
              then greatest(g.member_count - app_hidden.blocked_member_count(g.id), 0) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.groups_member_count(app_public.groups) is
  E'How many active members `groupMembers` lists for you; null when the member list is hidden from you (a private or secret group you are not a member of). Kept by the worker.';

create or replace function app_public.groups_post_count(g app_public.groups) returns integer as $$
  select case when g.group_type = 'public' or g.id in (select app_hidden.active_group_ids())
              then (select count(*)::int from app_public.posts p
                     where p.group_id = g.id and p.deleted_at is null) end;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.groups_post_count(app_public.groups) is
  E'How many posts `posts` lists for you; null when the group''s posts are hidden from you (a private or secret group you are not a member of).';

create or replace function app_public.events_current_attendees(e app_public.events) returns integer as $$
  select greatest(e.current_attendees - app_hidden.blocked_going_count(e.id), 0);
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.events_current_attendees(app_public.events) is
  E'How many `going` answers you can see (`eventAttendees`); kept by the worker (goingCount is the same, exact and now).';

-- Exact and now, under the caller's row-level security: the `going` rows eventAttendees lists.
create or replace function app_public.events_going_count(e app_public.events) returns integer as $$
  select count(*)::int from app_public.event_attendees a where a.event_id = e.id and a.status = 'going';
$$ language sql stable security invoker set search_path to pg_catalog, public, pg_temp;
comment on function app_public.events_going_count(app_public.events) is
  E'How many `going` answers you can see, exactly and now (currentAttendees is the worker''s copy).';

-- ==== hardening: atomic login, friend races, generated twins ====
-- Issue #10, items 3-5: the sign-in rate limit holds under concurrency; two people asking each
-- other at once end as friends; rules the named mutations checked now hold on the generated
-- CRUD mutations too (test/policies/generated-twins.test.ts drives each through both paths).

-- Sign-in: one password check at a time per e-mail address and per client address. The lock is
-- taken before counting and held until the transaction ends, and a failed attempt is recorded
-- before the commit that releases it, so the next attempt's count sees every earlier one: at
-- most `max_failures_per_email` checks per window, however many requests arrive at once. Locks
-- are always taken e-mail first, then address, so two attempts never wait on each other in a
-- cycle. (Sign-ins from one address are thus checked one after another: a bcrypt hash each.)
create or replace function app_hidden.login(
  email text, password text, bcrypt_cost int, refresh_ttl interval, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns app_hidden.session as $$
declare
  v_email text := lower(btrim(email));
  v_user app_public.users;
  v_keys text[] := array['email:' || v_email] || case when ip is null then '{}'::text[] else array['ip:' || host(ip)] end;
  v_key text;
  v_result app_hidden.session;
begin
  foreach v_key in array v_keys loop
    perform pg_advisory_xact_lock(hashtextextended('login:' || v_key, 29));
  end loop;
  -- a new statement, a new snapshot (read committed): attempts committed while we waited count
  if exists (
    select 1 from app_private.login_attempts
     where key = any (v_keys) and attempted_at > now() - failure_window
     group by key
    having count(*) >= case when key like 'email:%' then max_failures_per_email else max_failures_per_client end
  ) then
    perform app_private.audit(null, 'login_rate_limited', ip, user_agent, jsonb_build_object('email', v_email));
    return row('rate_limited', null, null, null)::app_hidden.session;
  end if;

  select * into v_user from app_public.users u where u.email = v_email;
  if v_user.id is null or v_user.password_hash is null
     or v_user.password_hash is distinct from crypt(password, v_user.password_hash) then
    if v_user.id is null then
      -- spend the same time as a real check, so response times do not reveal which e-mails exist
      perform app_private.hash_password(coalesce(password, ''), bcrypt_cost);
    end if;
    insert into app_private.login_attempts (key) select unnest(v_keys);
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('email', v_email));
    return row(case when v_user.id is not null and v_user.password_hash is null then 'no_password' else 'bad_credentials' end,
               null, null, null)::app_hidden.session;
  end if;
  if v_user.status <> 'active' then
    perform app_private.audit(v_user.id, 'login_failure', ip, user_agent, jsonb_build_object('status', v_user.status));
    return row(v_user.status, null, null, null)::app_hidden.session;
  end if;

  delete from app_private.login_attempts where key = 'email:' || v_email;
  update app_public.users
     set last_login_at = now(), login_count = coalesce(login_count, 0) + 1
   where id = v_user.id;
  select 'ok', v_user.id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_user.id, ip, user_agent, refresh_ttl) s;
  perform app_private.audit(v_user.id, 'login_success', ip, user_agent);
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.login(text, text, int, interval, inet, text, int, int, interval) is
  E'Checks e-mail and password (rate limited per e-mail and per client address, one check at a time per each, so concurrent attempts cannot exceed the limit), counts the login and opens a session. Never raises for a failed attempt: it returns why, so the attempt is recorded.';

-- Friendships: every change to a pair's rows happens under one lock per (unordered) pair, taken
-- by sendFriendRequest before it looks and by a trigger before any insert or update, so the
-- second of two people asking each other at once sees the first request and accepts it.
create or replace function app_private.tg_friendships__lock_pair() returns trigger as $$
begin
  perform pg_advisory_xact_lock(hashtextextended(
    least(NEW.requester_id, NEW.addressee_id)::text || ':' || greatest(NEW.requester_id, NEW.addressee_id)::text, 23));
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_friendships__lock_pair() is
  E'Serialises the changes to one pair''s friendship rows (until the transaction ends).';
drop trigger if exists _100_lock_pair on app_public.friendships;
create trigger _100_lock_pair before insert or update on app_public.friendships
  for each row execute function app_private.tg_friendships__lock_pair();

-- A pending request to someone who already asked you: written by the owner (seeds, the worker)
-- it accepts theirs, as before; through the API (the generated createFriendship) it is refused
-- with CONFLICT and a pointer to acceptFriendRequest/sendFriendRequest, instead of turning into
-- an `accepted` row the insert policy (pending or blocked only) would reject as FORBIDDEN.
-- sendFriendRequest never gets here: under the pair lock it finds their request and accepts it.
create or replace function app_private.tg_friendships__accept_reverse_request() returns trigger as $$
begin
  if NEW.status = 'pending' and exists (
    select 1 from app_public.friendships f
     where f.requester_id = NEW.addressee_id and f.addressee_id = NEW.requester_id and f.status = 'pending'
  ) then
    if app_public.current_user_id() is not null then
      raise exception 'This user has already asked you to be friends: accept with acceptFriendRequest (or sendFriendRequest)'
        using errcode = 'CNFLT', detail = 'field=addressee_id';
    end if;
    delete from app_public.friendships
     where requester_id = NEW.addressee_id and addressee_id = NEW.requester_id and status = 'pending';
    NEW.status := 'accepted';
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_friendships__accept_reverse_request() is
  E'A request to someone who already asked: through the API, CONFLICT (use acceptFriendRequest or sendFriendRequest); written by the owner, it accepts theirs.';

create or replace function app_public.send_friend_request(user_id uuid) returns app_public.friendships as $$
declare
  v_me uuid := app_hidden.require_unblocked_user(user_id);
  v_row app_public.friendships;
begin
  -- one change per pair at a time (the same lock as trigger _100_lock_pair): what we read next
  -- includes a request the other person sent a moment ago
  perform pg_advisory_xact_lock(hashtextextended(
    least(v_me, send_friend_request.user_id)::text || ':' || greatest(v_me, send_friend_request.user_id)::text, 23));
  -- a block written while we waited
  perform app_hidden.require_unblocked_user(user_id);
  select * into v_row from app_public.friendships f
   where status <> 'blocked'
     and ((f.requester_id = v_me and f.addressee_id = send_friend_request.user_id)
       or (f.requester_id = send_friend_request.user_id and f.addressee_id = v_me));
  if v_row.id is null then
    insert into app_public.friendships (requester_id, addressee_id, status)
    values (v_me, send_friend_request.user_id, 'pending')
    returning * into v_row;
  elsif v_row.status = 'pending' and v_row.addressee_id = v_me then
    update app_public.friendships set status = 'accepted' where id = v_row.id returning * into v_row;
  end if;
  return v_row;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_public.send_friend_request(uuid) is
  E'Ask someone to be your friend. Sending again changes nothing; if they already asked you (even at the same moment), this accepts their request.';

-- Messages: a reply answers a message of the same conversation, whichever mutation writes it
-- (sendMessage checked it; the generated createMessage did not). One answer whether the other
-- message exists elsewhere or not at all, so the error tells nothing about other conversations.
create or replace function app_private.tg_messages__check_reply() returns trigger as $$
begin
  if NEW.reply_to_message_id is not null and not exists (
    select 1 from app_public.messages m
     where m.id = NEW.reply_to_message_id and m.conversation_id = NEW.conversation_id
  ) then
    raise exception 'The message to reply to is not in this conversation'
      using errcode = 'INVAL', detail = 'field=reply_to_message_id';
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_messages__check_reply() is
  E'Refuses a reply to a message of another conversation (or to none), the same way in both cases.';
drop trigger if exists _200_check_reply on app_public.messages;
create trigger _200_check_reply before insert or update of reply_to_message_id, conversation_id on app_public.messages
  for each row execute function app_private.tg_messages__check_reply();

-- Group conversations: a title of 1 to 100 characters, as createGroupConversation requires (the
-- generated createConversation and updateConversation took any). NOT VALID: rows written before
-- are not re-checked; every new or changed row is.
alter table app_public.conversations drop constraint if exists ck_conversations_title;
alter table app_public.conversations add constraint ck_conversations_title check (
  case when conversation_type = 'group' then coalesce(btrim(title), '') <> '' and char_length(title) <= 100
       else title is null or char_length(title) <= 100 end
) not valid;

-- At most 256 current participants, however they are added (addConversationParticipants
-- checked; the generated createConversationParticipant did not), counted under a
-- per-conversation lock so concurrent additions cannot overshoot.
create or replace function app_private.tg_conversation_participants__limit() returns trigger as $$
begin
  if NEW.left_at is null and (TG_OP = 'INSERT' or OLD.left_at is not null) then
    perform pg_advisory_xact_lock(hashtextextended(NEW.conversation_id::text, 31));
    if (select count(*) from app_public.conversation_participants p
         where p.conversation_id = NEW.conversation_id and p.left_at is null and p.id <> NEW.id) >= 256 then
      raise exception 'A group conversation has at most 256 participants' using errcode = 'INVAL', detail = 'field=user_ids';
    end if;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_conversation_participants__limit() is
  E'Refuses a 257th current participant of a conversation.';
drop trigger if exists _200_limit on app_public.conversation_participants;
create trigger _200_limit before insert or update of left_at on app_public.conversation_participants
  for each row execute function app_private.tg_conversation_participants__limit();

-- A cancelled event takes no more answers or waitlist places from its audience (rsvpEvent
-- refused them; the generated createEventAttendee, updateEventAttendee and createEventWaitlist
-- did not). Security invoker on purpose: `current_user` is then the API role of the request, and
-- what the owner does (the waitlist promotion, the worker) is not concerned.
create or replace function app_private.tg_events__refuse_cancelled() returns trigger as $$
begin
  if current_user in ('anonymous', 'authenticated')
     and exists (select 1 from app_public.events e where e.id = NEW.event_id and e.is_cancelled) then
    raise exception 'This event was cancelled' using errcode = 'CNFLT', detail = 'field=event_id';
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.tg_events__refuse_cancelled() is
  E'Refuses answers and waitlist places for a cancelled event from API callers.';
drop trigger if exists _190_refuse_cancelled on app_public.event_attendees;
create trigger _190_refuse_cancelled before insert or update of status on app_public.event_attendees
  for each row execute function app_private.tg_events__refuse_cancelled();
drop trigger if exists _190_refuse_cancelled on app_public.event_waitlist;
create trigger _190_refuse_cancelled before insert on app_public.event_waitlist
  for each row execute function app_private.tg_events__refuse_cancelled();
