--! Previous: sha1:832080be19ca52db0bcdc9f4c041b5e67d2df522
--! Hash: sha1:01741d6bd613424b48f1bef7717c7a8491c81c6a

-- 0008: search that can use its index under row-level security; every column documented.

-- Full-text search that can use its index under row-level security.
--
-- posts' policies are applied before any condition that is not leakproof, and `@@` is not: a
-- search under the API's role read every row of posts (a sequential scan: 0.13 s at 20k posts,
-- seconds at 1M). The match itself now runs without row-level security, in a security definer
-- function that returns only ids — the newest matches, at most 1,000 — and search_posts reads
-- those posts through row-level security as before, so what anyone sees does not change.
create or replace function app_hidden.search_post_candidates(q tsquery)
returns table (id uuid, rank real) as $$
  select m.id, ts_rank(to_tsvector('simple', m.content), q)
    from (select p.id, p.content
            from app_public.posts p
           where p.deleted_at is null and to_tsvector('simple', p.content) @@ q
           order by p.created_at desc, p.id desc
           limit 1000) m;
$$ language sql stable security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.search_post_candidates(tsquery) is
  E'The ids (and text rank) of the 1,000 newest posts matching a search, visible or not: search_posts reads them through row-level security.';

create or replace function app_public.search_posts(query text) returns setof app_public.posts as $$
  select p.*
    from app_hidden.search_post_candidates(websearch_to_tsquery('simple', app_hidden.require_search_text(query))) c
    join app_public.posts p on p.id = c.id
   order by c.rank desc, p.created_at desc, p.id desc
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_public.search_posts(text) is
  E'Find posts you can see by their words (web-search syntax: "quoted phrases", -excluded, or), best matches first among the 1,000 newest that match.';

-- Every column of the API's tables says what it holds (PostGraphile shows these in GraphiQL).
comment on column app_public.comments.author_id is E'Who wrote the comment.';
comment on column app_public.comments.content is E'The comment''s text (not blank, at most 5,000 characters).';
comment on column app_public.comments.edited_at is E'When the comment was last edited.';
comment on column app_public.comments.is_edited is E'Whether the comment was edited after it was written.';
comment on column app_public.comments.post_id is E'The post the comment is on (replies too).';
comment on column app_public.conversation_participants.conversation_id is E'The conversation.';
comment on column app_public.conversation_participants.is_muted is E'Whether this participant muted the conversation (no message notifications).';
comment on column app_public.conversation_participants.joined_at is E'When the user joined the conversation; they see messages from then on.';
comment on column app_public.conversation_participants.user_id is E'The participant.';
comment on column app_public.conversations.avatar_url is E'A group conversation''s picture (http or https).';
comment on column app_public.conversations.created_by is E'Who started the conversation (its first admin, for group conversations).';
comment on column app_public.conversations.description is E'A group conversation''s description.';
comment on column app_public.conversations.is_active is E'Whether the conversation is in use.';
comment on column app_public.conversations.title is E'A group conversation''s name (direct conversations have none).';
comment on column app_public.event_attendees.event_id is E'The event answered.';
comment on column app_public.event_attendees.registered_at is E'When the answer was first given.';
comment on column app_public.event_attendees.user_id is E'Who answered.';
comment on column app_public.event_waitlist.event_id is E'The full event waited for.';
comment on column app_public.event_waitlist.user_id is E'Who waits for a place.';
comment on column app_public.events.address is E'The street address.';
comment on column app_public.events.cancelled_at is E'When the event was cancelled.';
comment on column app_public.events.cover_image_url is E'The event''s cover picture (http or https).';
comment on column app_public.events.created_by is E'The organiser: the only one who edits or cancels the event.';
comment on column app_public.events.description is E'What the event is about.';
comment on column app_public.events.end_date is E'When the event ends (not before it starts).';
comment on column app_public.events.event_type is E'A free-form kind of event (meetup, party, talk, ...): the design lists no fixed values.';
comment on column app_public.events.group_id is E'The group organising the event, if any: group members see it by the group''s rules.';
comment on column app_public.events.is_cancelled is E'Whether the organiser cancelled the event (set by cancelEvent).';
comment on column app_public.events.is_online is E'Whether the event happens online (see meeting_url).';
comment on column app_public.events.latitude is E'Where the event is: latitude in degrees.';
comment on column app_public.events.location is E'Where the event is, as people say it (a city, a place).';
comment on column app_public.events.longitude is E'Where the event is: longitude in degrees.';
comment on column app_public.events.meeting_url is E'The link to join an online event (http or https).';
comment on column app_public.events.start_date is E'When the event starts.';
comment on column app_public.events.timezone is E'The time zone the event is announced in (IANA name), for display.';
comment on column app_public.events.title is E'The event''s name.';
comment on column app_public.events.venue_name is E'The venue''s name.';
comment on column app_public.friendships.addressee_id is E'Who was asked (or blocked); only they accept a request.';
comment on column app_public.friendships.requester_id is E'Who asked (or blocked).';
comment on column app_public.group_members.group_id is E'The group.';
comment on column app_public.group_members.joined_at is E'When the membership (or request, invitation) began.';
comment on column app_public.group_members.left_at is E'When the member left, if they did.';
comment on column app_public.group_members.user_id is E'The member.';
comment on column app_public.groups.avatar_url is E'The group''s picture (http or https).';
comment on column app_public.groups.category is E'A free-form topic (sports, music, ...), for search.';
comment on column app_public.groups.cover_image_url is E'The group''s cover picture (http or https).';
comment on column app_public.groups.created_by is E'Who created the group (its first admin).';
comment on column app_public.groups.description is E'What the group is about.';
comment on column app_public.groups.is_active is E'Whether the group is in use.';
comment on column app_public.groups.location is E'Where the group meets, if anywhere.';
comment on column app_public.groups.name is E'The group''s name.';
comment on column app_public.likes.user_id is E'Who likes it.';
comment on column app_public.messages.content is E'The text (cleared when the message is deleted).';
comment on column app_public.messages.conversation_id is E'The conversation the message is in.';
comment on column app_public.messages.deleted_at is E'When the sender deleted the message (see is_deleted).';
comment on column app_public.messages.edited_at is E'When the message was last edited.';
comment on column app_public.messages.file_name is E'The attached file''s name.';
comment on column app_public.messages.file_size is E'The attached file''s size in bytes.';
comment on column app_public.messages.is_edited is E'Whether the message was edited after it was sent.';
comment on column app_public.messages.media_url is E'The attached picture, video, audio or file (http or https).';
comment on column app_public.messages.sender_id is E'Who sent the message.';
comment on column app_public.notifications.is_read is E'Whether the recipient has read it.';
comment on column app_public.notifications.message is E'The notification''s text.';
comment on column app_public.notifications.read_at is E'When the recipient read it.';
comment on column app_public.notifications.recipient_id is E'Who is told.';
comment on column app_public.notifications.sender_id is E'Whose action it is about (the actor), if anyone''s.';
comment on column app_public.notifications.title is E'A short heading.';
comment on column app_public.post_media.file_size is E'The file''s size in bytes.';
comment on column app_public.post_media.height is E'Height in pixels (images and videos).';
comment on column app_public.post_media.media_url is E'Where the file is (http or https).';
comment on column app_public.post_media.order_index is E'The file''s place in the post, from 0.';
comment on column app_public.post_media.post_id is E'The post the file belongs to.';
comment on column app_public.post_media.thumbnail_url is E'A small preview (http or https).';
comment on column app_public.post_media.width is E'Width in pixels (images and videos).';
comment on column app_public.posts.author_id is E'Who published the post.';
comment on column app_public.posts.content is E'The post''s text (at most 10,000 characters; may be empty when the post has media).';
comment on column app_public.posts.edited_at is E'When the post was last edited.';
comment on column app_public.posts.is_edited is E'Whether the post was edited after it was published.';
comment on column app_public.posts.location is E'Where the post was written, as the author put it.';
comment on column app_public.user_profiles.avatar_url is E'The profile picture (http or https).';
comment on column app_public.user_profiles.bio is E'A few words about the person (at most 1,000 characters).';
comment on column app_public.user_profiles.birth_date is E'Date of birth.';
comment on column app_public.user_profiles.cover_image_url is E'The profile''s cover picture (http or https).';
comment on column app_public.user_profiles.display_name is E'The name shown to others.';
comment on column app_public.user_profiles.gender is E'Gender, as the person describes it.';
comment on column app_public.user_profiles.location is E'Where the person lives, as they put it.';
comment on column app_public.user_profiles.user_id is E'Whose profile this is (one per user).';
comment on column app_public.user_profiles.website is E'The person''s website (http or https).';
comment on column app_public.users.phone is E'Phone number; private to the owner.';
comment on column app_public.users.phone_verified is E'Whether the owner proved the phone number is theirs.';
