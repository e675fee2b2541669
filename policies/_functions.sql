-- Who may call the API's functions (migrations/committed/000003.sql): PostGraphile shows each
-- as a mutation, query or computed field, but only the roles granted here may run it.
-- Functions are executable by nobody unless granted (alter default privileges in 0001).
-- Every function still runs under the caller's row-level security unless it says otherwise.

-- Helpers the API functions call as the caller.
grant execute on function app_hidden.require_user() to anonymous, authenticated;
grant execute on function app_hidden.can_see_user(uuid) to anonymous, authenticated;
-- The require_* and own_* helpers start with require_user() (so anonymous callers reach it).
grant execute on function app_hidden.require_other_user(uuid) to anonymous, authenticated;
grant execute on function app_hidden.require_unblocked_user(uuid) to anonymous, authenticated;
grant execute on function app_hidden.require_addable_user(uuid, text) to authenticated;
grant execute on function app_hidden.max_group_participants() to authenticated;
grant execute on function app_hidden.blocker_ids() to anonymous, authenticated;
grant execute on function app_hidden.own_post(uuid) to anonymous, authenticated;
grant execute on function app_hidden.soft_delete_post(uuid) to authenticated;
grant execute on function app_hidden.like_target(text, uuid, boolean) to anonymous, authenticated;
grant execute on function app_hidden.own_message(uuid) to anonymous, authenticated;
grant execute on function app_hidden.require_conversation_admin(uuid) to anonymous, authenticated;
grant execute on function app_hidden.require_group_moderator(uuid) to anonymous, authenticated;
grant execute on function app_hidden.own_event(uuid) to anonymous, authenticated;
grant execute on function app_hidden.lock_event(uuid) to authenticated;
grant execute on function app_hidden.event_has_room(uuid, uuid) to authenticated;
grant execute on function app_hidden.require_search_text(text) to anonymous, authenticated;

-- Mutations: they need a signed-in user, and each one's first step is app_hidden.require_user()
-- (directly or through a require_*/own_* helper), which answers a signed-out caller with
-- UNAUTHENTICATED ("Sign in first"). So anonymous may EXECUTE them: without EXECUTE, PostgreSQL
-- would refuse with a permission error (FORBIDDEN) before the function could say why.
-- test/policies/anonymous.test.ts calls every such mutation signed out.
grant execute on function app_public.send_friend_request(uuid) to anonymous, authenticated;
grant execute on function app_public.accept_friend_request(uuid) to anonymous, authenticated;
grant execute on function app_public.decline_friend_request(uuid) to anonymous, authenticated;
grant execute on function app_public.cancel_friend_request(uuid) to anonymous, authenticated;
grant execute on function app_public.remove_friend(uuid) to anonymous, authenticated;
grant execute on function app_public.block_user(uuid) to anonymous, authenticated;
grant execute on function app_public.unblock_user(uuid) to anonymous, authenticated;
grant execute on function app_public.follow_user(uuid) to anonymous, authenticated;
grant execute on function app_public.unfollow_user(uuid) to anonymous, authenticated;
grant execute on function app_public.publish_post(text, text, text, text, uuid, app_public.media_item[]) to anonymous, authenticated;
grant execute on function app_public.edit_post(uuid, text, text, text) to anonymous, authenticated;
grant execute on function app_public.delete_post(uuid) to anonymous, authenticated;
grant execute on function app_public.share_post(uuid, text, text) to anonymous, authenticated;
grant execute on function app_public.add_comment(uuid, text, uuid) to anonymous, authenticated;
grant execute on function app_public.edit_comment(uuid, text) to anonymous, authenticated;
grant execute on function app_public.delete_comment(uuid) to anonymous, authenticated;
grant execute on function app_public.like_post(uuid) to anonymous, authenticated;
grant execute on function app_public.unlike_post(uuid) to anonymous, authenticated;
grant execute on function app_public.like_comment(uuid) to anonymous, authenticated;
grant execute on function app_public.unlike_comment(uuid) to anonymous, authenticated;
grant execute on function app_public.start_direct_conversation(uuid) to anonymous, authenticated;
grant execute on function app_public.create_group_conversation(text, uuid[]) to anonymous, authenticated;
grant execute on function app_public.send_message(uuid, text, text, text, text, bigint, uuid) to anonymous, authenticated;
grant execute on function app_public.edit_message(uuid, text) to anonymous, authenticated;
grant execute on function app_public.delete_message(uuid) to anonymous, authenticated;
grant execute on function app_public.mark_conversation_read(uuid) to anonymous, authenticated;
grant execute on function app_public.mute_conversation(uuid, boolean) to anonymous, authenticated;
grant execute on function app_public.leave_conversation(uuid) to anonymous, authenticated;
grant execute on function app_public.add_conversation_participants(uuid, uuid[]) to anonymous, authenticated;
grant execute on function app_public.remove_conversation_participant(uuid, uuid) to anonymous, authenticated;
grant execute on function app_public.create_group(text, text, text, text, text, text, text) to anonymous, authenticated;
grant execute on function app_public.join_group(uuid) to anonymous, authenticated;
grant execute on function app_public.invite_to_group(uuid, uuid) to anonymous, authenticated;
grant execute on function app_public.approve_group_member(uuid, uuid) to anonymous, authenticated;
grant execute on function app_public.reject_group_member(uuid, uuid) to anonymous, authenticated;
grant execute on function app_public.leave_group(uuid) to anonymous, authenticated;
grant execute on function app_public.set_group_member_role(uuid, uuid, text) to anonymous, authenticated;
grant execute on function app_public.ban_group_member(uuid, uuid) to anonymous, authenticated;
grant execute on function app_public.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, numeric, numeric, integer, boolean, text, text, text, uuid) to anonymous, authenticated;
grant execute on function app_public.update_event(uuid, text, text, timestamptz, timestamptz, text, text, text, integer, text, text) to anonymous, authenticated;
grant execute on function app_public.cancel_event(uuid) to anonymous, authenticated;
grant execute on function app_public.rsvp_event(uuid, app_public.rsvp_status, boolean) to anonymous, authenticated;
grant execute on function app_public.mark_notifications_read(uuid[]) to anonymous, authenticated;
grant execute on function app_public.mark_all_notifications_read() to anonymous, authenticated;

-- Queries and computed fields: everyone (anonymous callers get empty or null answers, as the
-- row-level security of what they read decides).
grant execute on function app_public.pending_friend_requests() to anonymous, authenticated;
grant execute on function app_public.my_conversations() to anonymous, authenticated;
grant execute on function app_public.my_groups() to anonymous, authenticated;
grant execute on function app_public.upcoming_events() to anonymous, authenticated;
grant execute on function app_public.unread_notification_count() to anonymous, authenticated;
grant execute on function app_public.search_users(text) to anonymous, authenticated;
grant execute on function app_public.search_posts(text) to anonymous, authenticated;
-- search_posts reads its candidates' ids with app_hidden.search_post_candidates (no rows, ids only).
grant execute on function app_hidden.search_post_candidates(tsquery) to anonymous, authenticated;
grant execute on function app_public.search_groups(text) to anonymous, authenticated;
grant execute on function app_public.user_cards_friendship_status(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_friends(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_friend_count(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_followers(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_following(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_follower_count(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_following_count(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.user_cards_viewer_is_following(app_public.user_cards) to anonymous, authenticated;
grant execute on function app_public.posts_media(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.posts_viewer_has_liked(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.posts_likers(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.comments_viewer_has_liked(app_public.comments) to anonymous, authenticated;
grant execute on function app_public.conversations_unread_count(app_public.conversations) to anonymous, authenticated;
grant execute on function app_public.conversations_last_message(app_public.conversations) to anonymous, authenticated;
grant execute on function app_public.conversations_viewer_participant(app_public.conversations) to anonymous, authenticated;
grant execute on function app_public.groups_viewer_membership(app_public.groups) to anonymous, authenticated;
grant execute on function app_public.events_viewer_rsvp(app_public.events) to anonymous, authenticated;
grant execute on function app_public.events_viewer_waitlist_position(app_public.events) to anonymous, authenticated;
grant execute on function app_public.events_going_count(app_public.events) to anonymous, authenticated;

-- homeFeed's pages (plugins/feed.ts): ids only, read under the caller's own row-level security.
grant execute on function app_hidden.feed_page_ids(timestamptz, uuid, int) to anonymous, authenticated;

-- Trending posts (the scores are precomputed; which posts you see is posts' row-level security).
grant execute on function app_hidden.trending_scores() to anonymous, authenticated;
grant execute on function app_public.trending_posts() to anonymous, authenticated;

-- Realtime (plugins/realtime.ts): typing indicators (nothing stored) and the participation check
-- subscriptions make when they start and for every event.
grant execute on function app_hidden.send_typing(uuid) to anonymous, authenticated;
grant execute on function app_hidden.is_active_participant(uuid) to anonymous, authenticated;

-- Counts that agree with the lists the same viewer may read (0010): the API's count
-- fields, and the helpers they subtract hidden rows with.
grant execute on function app_hidden.can_see_friends(uuid) to anonymous, authenticated;
grant execute on function app_hidden.blocked_like_count(text, uuid) to anonymous, authenticated;
grant execute on function app_hidden.blocked_comment_count(uuid) to anonymous, authenticated;
grant execute on function app_hidden.blocked_reply_count(uuid) to anonymous, authenticated;
grant execute on function app_hidden.blocked_member_count(uuid) to anonymous, authenticated;
grant execute on function app_hidden.blocked_going_count(uuid) to anonymous, authenticated;
grant execute on function app_hidden.public_liker_count(uuid) to anonymous, authenticated;
grant execute on function app_public.posts_likes_count(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.posts_comments_count(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.posts_shares_count(app_public.posts) to anonymous, authenticated;
grant execute on function app_public.comments_likes_count(app_public.comments) to anonymous, authenticated;
grant execute on function app_public.comments_replies_count(app_public.comments) to anonymous, authenticated;
grant execute on function app_public.groups_member_count(app_public.groups) to anonymous, authenticated;
grant execute on function app_public.groups_post_count(app_public.groups) to anonymous, authenticated;
grant execute on function app_public.events_current_attendees(app_public.events) to anonymous, authenticated;
-- Presence (migrations/current.sql, "realtime: presence and audiences"): User.lastSeenAt.
grant execute on function app_public.user_cards_last_seen_at(app_public.user_cards) to anonymous, authenticated;
