/**
 * What a data export holds ("download my data", issue #13): one JSON file per kind of record,
 * each read with an explicit column list, only rows that are the person's own. The same list
 * writes the archive's README (src/exports/readme.ts), so the documentation cannot drift from
 * what is exported.
 *
 * Other people's data stays out. In conversations the person is (or was) in, the archive holds
 * the conversation, who took part (user ids and usernames) and ONLY the messages the person
 * sent: the other participants' messages are their data. Likewise comments and likes by others
 * on the person's posts are not listed (the posts carry their counts), and blocks others made
 * against the person are not revealed — only the blocks the person made.
 *
 * Each query takes the person's user id as $1.
 */

export interface ExportFile {
  /** File name in the archive. */
  readonly name: string;
  /** One JSON object (`account.json`, `profile.json`) instead of an array of rows. */
  readonly single?: true;
  readonly description: string;
  /** Every field of a row, in order, and what it means. */
  readonly fields: Readonly<Record<string, string>>;
  readonly sql: string;
}

const username = (idColumn: string): string =>
  `(select p.username from app_public.user_profiles p where p.user_id = ${idColumn})`;

export const EXPORT_FILES: readonly ExportFile[] = [
  {
    name: "account.json",
    single: true,
    description: "Your account: how you sign in (the password hash is never exported).",
    fields: {
      id: "Your user id; other files refer to you by it.",
      email: "Sign-in e-mail address.",
      email_verified: "Whether you confirmed the address.",
      phone: "Phone number, if given.",
      phone_verified: "Whether you confirmed the phone number.",
      status: "`active`, `suspended` or `deleted`.",
      last_login_at: "When you last signed in.",
      login_count: "How many times you signed in.",
      created_at: "When the account was created.",
      updated_at: "When it last changed.",
    },
    sql: `select id, email, email_verified, phone, phone_verified, status, last_login_at,
                 login_count, created_at, updated_at
            from app_public.users where id = $1`,
  },
  {
    name: "external_identities.json",
    description: "Outside sign-in services linked to your account.",
    fields: {
      service: "The service (e.g. an OAuth provider).",
      identifier: "Your id at that service.",
      created_at: "When it was linked.",
      updated_at: "When it last changed.",
    },
    sql: `select service, identifier, created_at, updated_at
            from app_private.user_authentications where user_id = $1 order by created_at, id`,
  },
  {
    name: "profile.json",
    single: true,
    description: "Your public profile.",
    fields: {
      id: "Profile id.",
      username: "Your handle.",
      display_name: "Your name as shown.",
      bio: "About you.",
      avatar_url: "Profile picture.",
      cover_image_url: "Cover picture.",
      birth_date: "Date of birth.",
      gender: "Gender, as you gave it.",
      location: "Where you are.",
      website: "Your website.",
      privacy_level: "Who sees the profile: `public`, `friends` or `private`.",
      is_verified: "A verified public figure.",
      created_at: "When it was created.",
      updated_at: "When it last changed.",
    },
    sql: `select id, username, display_name, bio, avatar_url, cover_image_url, birth_date, gender,
                 location, website, privacy_level, is_verified, created_at, updated_at
            from app_public.user_profiles where user_id = $1`,
  },
  {
    name: "posts.json",
    description:
      "Posts you published, deleted ones included while they are kept, with their media.",
    fields: {
      id: "Post id.",
      content: "The text.",
      post_type: "`text`, `image`, `video` or `link`.",
      privacy_level: "Who may see it: `public`, `friends` or `private`.",
      location: "Where it was posted from, if given.",
      group_id: "The group it was posted in, if any.",
      shared_post_id: "The post it shares, if it is a share.",
      is_edited: "Whether it was edited.",
      edited_at: "When it was last edited.",
      likes_count: "How many likes it has.",
      comments_count: "How many comments it has.",
      shares_count: "How many times it was shared.",
      created_at: "When it was published.",
      updated_at: "When it last changed.",
      deleted_at: "When you deleted it (it is purged later), or null.",
      media:
        "Attached files, in order: id, media_type, media_url, thumbnail_url, file_size, duration, width, height, alt_text, order_index, created_at.",
    },
    sql: `select p.id, p.content, p.post_type, p.privacy_level, p.location, p.group_id,
                 p.shared_post_id, p.is_edited, p.edited_at, p.likes_count, p.comments_count,
                 p.shares_count, p.created_at, p.updated_at, p.deleted_at,
                 coalesce((select json_agg(json_build_object(
                     'id', m.id, 'media_type', m.media_type, 'media_url', m.media_url,
                     'thumbnail_url', m.thumbnail_url, 'file_size', m.file_size,
                     'duration', m.duration, 'width', m.width, 'height', m.height,
                     'alt_text', m.alt_text, 'order_index', m.order_index,
                     'created_at', m.created_at) order by m.order_index, m.id)
                   from app_public.post_media m where m.post_id = p.id), '[]'::json) as media
            from app_public.posts p where p.author_id = $1 order by p.created_at, p.id`,
  },
  {
    name: "comments.json",
    description: "Comments and replies you wrote (on anyone's posts).",
    fields: {
      id: "Comment id.",
      post_id: "The post commented on.",
      parent_comment_id: "The comment this replies to, if a reply.",
      content: "The text.",
      likes_count: "How many likes it has.",
      replies_count: "How many direct replies it has.",
      is_edited: "Whether it was edited.",
      edited_at: "When it was last edited.",
      created_at: "When it was written.",
      updated_at: "When it last changed.",
    },
    sql: `select id, post_id, parent_comment_id, content, likes_count, replies_count, is_edited,
                 edited_at, created_at, updated_at
            from app_public.comments where author_id = $1 order by created_at, id`,
  },
  {
    name: "likes.json",
    description: "Posts and comments you liked.",
    fields: {
      id: "Like id.",
      target_type: "`post` or `comment`.",
      target_id: "The post or comment liked.",
      created_at: "When you liked it.",
    },
    sql: `select id, target_type, target_id, created_at
            from app_public.likes where user_id = $1 order by created_at, id`,
  },
  {
    name: "followers.json",
    description: "People who follow you.",
    fields: {
      id: "Follow id.",
      follower_id: "Who follows you.",
      follower_username: "Their username.",
      created_at: "Since when.",
    },
    sql: `select f.id, f.follower_id, ${username("f.follower_id")} as follower_username, f.created_at
            from app_public.followers f where f.following_id = $1 order by f.created_at, f.id`,
  },
  {
    name: "following.json",
    description: "People you follow.",
    fields: {
      id: "Follow id.",
      following_id: "Whom you follow.",
      following_username: "Their username.",
      created_at: "Since when.",
    },
    sql: `select f.id, f.following_id, ${username("f.following_id")} as following_username, f.created_at
            from app_public.followers f where f.follower_id = $1 order by f.created_at, f.id`,
  },
  {
    name: "friendships.json",
    description: "Friend requests you sent or received, and your friendships.",
    fields: {
      id: "Friendship id.",
      direction: "`sent` (you asked) or `received` (they asked).",
      other_user_id: "The other person.",
      other_username: "Their username.",
      status: "`pending` or `accepted`.",
      created_at: "When it was asked.",
      updated_at: "When it last changed (accepted).",
    },
    sql: `select f.id, case when f.requester_id = $1 then 'sent' else 'received' end as direction,
                 o.other as other_user_id, ${username("o.other")} as other_username,
                 f.status, f.created_at, f.updated_at
            from app_public.friendships f
            cross join lateral (select case when f.requester_id = $1 then f.addressee_id
                                            else f.requester_id end as other) o
           where (f.requester_id = $1 or f.addressee_id = $1) and f.status <> 'blocked'
           order by f.created_at, f.id`,
  },
  {
    name: "blocks.json",
    description: "People you blocked (blocks others made are theirs, and not listed).",
    fields: {
      id: "Block id.",
      blocked_user_id: "Whom you blocked.",
      blocked_username: "Their username.",
      created_at: "When.",
    },
    sql: `select f.id, f.addressee_id as blocked_user_id, ${username("f.addressee_id")} as blocked_username,
                 f.created_at
            from app_public.friendships f where f.requester_id = $1 and f.status = 'blocked'
           order by f.created_at, f.id`,
  },
  {
    name: "group_memberships.json",
    description: "Groups you are in, asked to join, were invited to or banned from.",
    fields: {
      id: "Membership id.",
      group_id: "The group.",
      role: "`admin`, `moderator` or `member`.",
      status: "`active`, `pending` (a request or an invitation) or `banned`.",
      invited_by: "Who invited you, if it is an invitation.",
      joined_at: "When.",
      left_at: "When you left, if you did.",
    },
    sql: `select id, group_id, role, status, invited_by, joined_at, left_at
            from app_public.group_members where user_id = $1 order by joined_at, id`,
  },
  {
    name: "groups_created.json",
    description: "Groups you created.",
    fields: {
      id: "Group id.",
      name: "Name.",
      description: "Description.",
      avatar_url: "Picture.",
      cover_image_url: "Cover picture.",
      group_type: "`public`, `private` or `secret`.",
      category: "Category.",
      location: "Location.",
      is_active: "Whether it is active.",
      created_at: "When it was created.",
      updated_at: "When it last changed.",
    },
    sql: `select id, name, description, avatar_url, cover_image_url, group_type, category, location,
                 is_active, created_at, updated_at
            from app_public.groups where created_by = $1 order by created_at, id`,
  },
  {
    name: "events_organised.json",
    description: "Events you organised.",
    fields: {
      id: "Event id.",
      title: "Title.",
      description: "Description.",
      event_type: "Kind of event.",
      start_date: "Starts.",
      end_date: "Ends.",
      timezone: "Time zone.",
      location: "Location.",
      venue_name: "Venue.",
      address: "Address.",
      latitude: "Latitude.",
      longitude: "Longitude.",
      max_attendees: "Capacity (null: unlimited).",
      current_attendees: "How many are going.",
      is_online: "Online event.",
      meeting_url: "Meeting link.",
      cover_image_url: "Cover picture.",
      privacy_level: "`public`, `friends` or `private`.",
      group_id: "The group it is organised in, if any.",
      is_cancelled: "Whether it was cancelled.",
      cancelled_at: "When.",
      created_at: "When it was created.",
      updated_at: "When it last changed.",
    },
    sql: `select id, title, description, event_type, start_date, end_date, timezone, location,
                 venue_name, address, latitude, longitude, max_attendees, current_attendees,
                 is_online, meeting_url, cover_image_url, privacy_level, group_id, is_cancelled,
                 cancelled_at, created_at, updated_at
            from app_public.events where created_by = $1 order by created_at, id`,
  },
  {
    name: "event_rsvps.json",
    description: "Your answers to events.",
    fields: {
      id: "Answer id.",
      event_id: "The event.",
      status: "`going`, `maybe` or `not_going`.",
      registered_at: "When you answered.",
    },
    sql: `select id, event_id, status, registered_at
            from app_public.event_attendees where user_id = $1 order by registered_at, id`,
  },
  {
    name: "event_waitlist.json",
    description: "Full events whose waitlist you are on.",
    fields: {
      id: "Waitlist entry id.",
      event_id: "The event.",
      created_at: "Since when you wait.",
    },
    sql: `select id, event_id, created_at
            from app_public.event_waitlist where user_id = $1 order by created_at, id`,
  },
  {
    name: "conversations.json",
    description:
      "Conversations you are or were in, who takes part, and the messages YOU sent. Other people's messages are their data and are not exported.",
    fields: {
      id: "Conversation id.",
      conversation_type: "`direct` or `group`.",
      title: "Title (group chats).",
      description: "Description (group chats).",
      avatar_url: "Picture (group chats).",
      created_by: "Who started it.",
      created_at: "When it started.",
      my_role: "Your role: `admin` or `member` (null if you are no longer a participant).",
      my_joined_at: "When you joined.",
      my_left_at: "When you left, if you did.",
      my_last_read_at: "Up to when you have read.",
      my_is_muted: "Whether you muted it.",
      participants: "Everyone taking part: user_id, username, role, joined_at, left_at.",
      messages_sent:
        "Your messages, oldest first: id, message_type, content, media_url, file_name, file_size, reply_to_message_id, is_edited, edited_at, is_deleted, deleted_at, created_at, updated_at.",
    },
    sql: `select c.id, c.conversation_type, c.title, c.description, c.avatar_url, c.created_by,
                 c.created_at, me.role as my_role, me.joined_at as my_joined_at,
                 me.left_at as my_left_at, me.last_read_at as my_last_read_at,
                 me.is_muted as my_is_muted,
                 coalesce((select json_agg(json_build_object(
                     'user_id', cp.user_id, 'username', ${username("cp.user_id")},
                     'role', cp.role, 'joined_at', cp.joined_at, 'left_at', cp.left_at)
                     order by cp.joined_at, cp.id)
                   from app_public.conversation_participants cp
                  where cp.conversation_id = c.id), '[]'::json) as participants,
                 coalesce((select json_agg(json_build_object(
                     'id', m.id, 'message_type', m.message_type, 'content', m.content,
                     'media_url', m.media_url, 'file_name', m.file_name, 'file_size', m.file_size,
                     'reply_to_message_id', m.reply_to_message_id, 'is_edited', m.is_edited,
                     'edited_at', m.edited_at, 'is_deleted', m.is_deleted,
                     'deleted_at', m.deleted_at, 'created_at', m.created_at,
                     'updated_at', m.updated_at) order by m.created_at, m.id)
                   from app_public.messages m
                  where m.conversation_id = c.id and m.sender_id = $1), '[]'::json) as messages_sent
            from app_public.conversations c
            left join app_public.conversation_participants me
              on me.conversation_id = c.id and me.user_id = $1
           where me.id is not null
              or exists (select 1 from app_public.messages m
                          where m.conversation_id = c.id and m.sender_id = $1)
           order by c.created_at, c.id`,
  },
  {
    name: "notifications.json",
    description: "Notifications sent to you.",
    fields: {
      id: "Notification id.",
      sender_id: "Whose action it was about, if anyone's.",
      notification_type: "What happened.",
      title: "Title.",
      message: "Text.",
      data: "Details: the ids involved.",
      is_read: "Whether you read it.",
      read_at: "When.",
      action_url: "Where it leads in the app.",
      priority: "`low`, `normal`, `high` or `urgent`.",
      created_at: "When it was sent.",
    },
    sql: `select id, sender_id, notification_type, title, message, data, is_read, read_at,
                 action_url, priority, created_at
            from app_public.notifications where recipient_id = $1 order by created_at, id`,
  },
  {
    name: "audit_log.json",
    description: "Security events on your account (sign-ins, password changes, ...).",
    fields: {
      id: "Record id.",
      occurred_at: "When.",
      action: "What happened (`login_success`, `password_change`, ...).",
      ip: "From which address.",
      user_agent: "With which program.",
      details: "More about it.",
    },
    sql: `select id, occurred_at, action, ip, user_agent, details
            from app_private.audit_log where user_id = $1 order by occurred_at, id`,
  },
];
