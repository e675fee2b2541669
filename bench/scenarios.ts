/**
 * The benchmark's scenarios: each is one client request, written twice — as the GraphQL
 * operation a client sends to our server, and as the hand-written SQL a minimal raw server
 * (bench/raw/server.ts) runs for the same answer, under the same role and `jwt.claims`, so
 * row-level security costs both the same. Where the product keeps a rule in a SQL function
 * (friendship status, counts that ignore the viewer's row-level security, search ranking, the
 * mutations), the raw SQL calls that function as a hand-written API would.
 *
 * `Fixture` is what one request is about (picked per request from bench/harness/fixtures.ts).
 */

export interface Fixture {
  userId: string;
  /** The viewer's access token (our server and the raw server verify the same JWT). */
  token: string;
  postId: string;
  conversationId: string;
  profileUserId: string;
  term: string;
  /** Page 50 of the viewer's home feed starts after this: V5's cursor and the raw keyset. */
  feedCursor: string | null;
  feedAfter: { createdAt: string; id: string } | null;
}

export interface Scenario {
  name: string;
  /** For the report. */
  title: string;
  kind: "read" | "write";
  graphql: { query: string; variables(f: Fixture): Record<string, unknown> };
  /** One statement, or several run one after the other, each in its own transaction. */
  raw: { sql: string | string[]; params(f: Fixture): unknown[] };
}

const CARD = `json_build_object('id', u.id, 'username', u.username, 'displayName', u.display_name, 'avatarUrl', u.avatar_url)`;
const cardOf = (column: string): string =>
  `(select ${CARD} from app_public.user_cards u where u.id = ${column})`;

const FEED_QUERY = /* GraphQL */ `
  query Feed($after: Cursor) {
    homeFeed(first: 20, after: $after) {
      edges {
        cursor
        node {
          id
          content
          createdAt
          likesCount
          commentsCount
          author {
            id
            username
            displayName
            avatarUrl
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

/** The home feed, as plugins/feed.ts reads it: the page's ids from each source's index. */
const FEED_SQL = `
  with page as (
    select p.id, p.content, p.created_at, p.author_id,
           app_public.posts_likes_count(p) as likes_count,
           app_public.posts_comments_count(p) as comments_count
      from app_public.posts p
     where p.id = any (array(select app_hidden.feed_page_ids($1::timestamptz, $2::uuid, 21)))
       and p.deleted_at is null
     order by p.created_at desc, p.id desc
     limit 21)
  select json_build_object(
    'posts', coalesce((
      select json_agg(json_build_object(
               'id', p.id, 'content', p.content, 'createdAt', p.created_at,
               'likesCount', p.likes_count, 'commentsCount', p.comments_count,
               'author', ${cardOf("p.author_id")}) order by p.created_at desc, p.id desc)
        from (select * from page order by created_at desc, id desc limit 20) p), '[]'),
    'hasNextPage', (select count(*) > 20 from page)) as data`;

const LIKED = (type: "post" | "comment", column: string): string =>
  `exists (select 1 from app_public.likes l where l.user_id = app_public.current_user_id()
                  and l.target_type = '${type}' and l.target_id = ${column})`;

export const SCENARIOS: Scenario[] = [
  {
    name: "feed_page1",
    title: "homeFeed(first: 20)",
    kind: "read",
    graphql: { query: FEED_QUERY, variables: () => ({}) },
    raw: { sql: FEED_SQL, params: () => [null, null] },
  },
  {
    name: "feed_page50",
    title: "homeFeed page 50 (after item 980)",
    kind: "read",
    graphql: { query: FEED_QUERY, variables: (f) => ({ after: f.feedCursor }) },
    raw: { sql: FEED_SQL, params: (f) => [f.feedAfter?.createdAt, f.feedAfter?.id] },
  },
  {
    name: "post_detail",
    title: "post + 20 comments + 3 replies each, authors, likes",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        query Post($id: UUID!) {
          post(id: $id) {
            id
            content
            likesCount
            viewerHasLiked
            author {
              username
              displayName
              avatarUrl
            }
            comments(first: 20) {
              nodes {
                id
                content
                likesCount
                viewerHasLiked
                author {
                  username
                  displayName
                  avatarUrl
                }
                replies(first: 3) {
                  nodes {
                    id
                    content
                    likesCount
                    viewerHasLiked
                    author {
                      username
                      displayName
                      avatarUrl
                    }
                  }
                }
              }
            }
          }
        }
      `,
      variables: (f) => ({ id: f.postId }),
    },
    raw: {
      sql: `
        select json_build_object(
          'id', p.id, 'content', p.content, 'likesCount', app_public.posts_likes_count(p),
          'viewerHasLiked', ${LIKED("post", "p.id")},
          'author', ${cardOf("p.author_id")},
          'comments', coalesce((
            select json_agg(json_build_object(
                     'id', c.id, 'content', c.content, 'likesCount', app_public.comments_likes_count(c),
                     'viewerHasLiked', ${LIKED("comment", "c.id")},
                     'author', ${cardOf("c.author_id")},
                     'replies', coalesce((
                       select json_agg(json_build_object(
                                'id', r.id, 'content', r.content, 'likesCount', app_public.comments_likes_count(r),
                                'viewerHasLiked', ${LIKED("comment", "r.id")},
                                'author', ${cardOf("r.author_id")}) order by r.created_at, r.id)
                         from (select * from app_public.comments r where r.parent_comment_id = c.id
                                order by r.created_at, r.id limit 3) r), '[]')) order by c.created_at, c.id)
              from (select * from app_public.comments c
                     where c.post_id = p.id and c.parent_comment_id is null
                     order by c.created_at, c.id limit 20) c), '[]')) as data
          from app_public.posts p where p.id = $1`,
      params: (f) => [f.postId],
    },
  },
  {
    name: "conversations_list",
    title: "myConversations(first: 20) with unread counts, last messages",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        {
          myConversations(first: 20) {
            nodes {
              id
              title
              conversationType
              unreadCount
              lastMessage {
                content
                createdAt
                sender {
                  username
                }
              }
            }
          }
        }
      `,
      variables: () => ({}),
    },
    raw: {
      sql: `
        select coalesce(json_agg(json_build_object(
                 'id', c.id, 'title', c.title, 'conversationType', c.conversation_type,
                 'unreadCount', (
                   select count(*) from app_public.messages m
                    where m.conversation_id = c.id and m.sender_id <> app_public.current_user_id()
                      and not m.is_deleted
                      and m.created_at > coalesce((
                        select coalesce(p.last_read_at, p.joined_at) from app_public.conversation_participants p
                         where p.conversation_id = c.id and p.user_id = app_public.current_user_id()), '-infinity')),
                 'lastMessage', (
                   select json_build_object('content', m.content, 'createdAt', m.created_at,
                                            'sender', (select json_build_object('username', u.username)
                                                         from app_public.user_cards u where u.id = m.sender_id))
                     from app_public.messages m where m.conversation_id = c.id
                    order by m.created_at desc, m.id desc limit 1))
               order by coalesce(c.last_message_at, c.created_at) desc, c.id desc), '[]') as data
          from (select c.* from app_public.conversations c
                 where c.id in (select app_hidden.active_conversation_ids())
                 order by coalesce(c.last_message_at, c.created_at) desc, c.id desc limit 20) c`,
      params: () => [],
    },
  },
  {
    name: "conversation_messages",
    title: "Conversation.messages(first: 50)",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        query Messages($id: UUID!) {
          conversation(id: $id) {
            id
            messages(first: 50) {
              nodes {
                id
                content
                createdAt
                isDeleted
                sender {
                  username
                  displayName
                }
              }
            }
          }
        }
      `,
      variables: (f) => ({ id: f.conversationId }),
    },
    raw: {
      sql: `
        select json_build_object('id', c.id, 'messages', coalesce((
                 select json_agg(json_build_object(
                          'id', m.id, 'content', m.content, 'createdAt', m.created_at, 'isDeleted', m.is_deleted,
                          'sender', (select json_build_object('username', u.username, 'displayName', u.display_name)
                                       from app_public.user_cards u where u.id = m.sender_id))
                        order by m.created_at desc, m.id desc)
                   from (select * from app_public.messages m where m.conversation_id = c.id
                          order by m.created_at desc, m.id desc limit 50) m), '[]')) as data
          from app_public.conversations c where c.id = $1`,
      params: (f) => [f.conversationId],
    },
  },
  {
    name: "profile",
    title: "profile page: card, profile, friendship, counts, 20 posts",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        query Profile($id: UUID!) {
          user(id: $id) {
            id
            username
            displayName
            avatarUrl
            profile {
              bio
              location
              website
            }
            friendshipStatus
            followerCount
            followingCount
            friendCount
            viewerIsFollowing
            posts(first: 20) {
              nodes {
                id
                content
                createdAt
                likesCount
                commentsCount
              }
            }
          }
        }
      `,
      variables: (f) => ({ id: f.profileUserId }),
    },
    raw: {
      sql: `
        select json_build_object(
          'id', u.id, 'username', u.username, 'displayName', u.display_name, 'avatarUrl', u.avatar_url,
          'profile', (select json_build_object('bio', p.bio, 'location', p.location, 'website', p.website)
                        from app_public.user_profiles p where p.user_id = u.id),
          'friendshipStatus', app_public.user_cards_friendship_status(u),
          'followerCount', app_public.user_cards_follower_count(u),
          'followingCount', app_public.user_cards_following_count(u),
          'friendCount', app_public.user_cards_friend_count(u),
          'viewerIsFollowing', exists (select 1 from app_public.followers f
                                        where f.follower_id = app_public.current_user_id() and f.following_id = u.id),
          'posts', coalesce((
            select json_agg(json_build_object('id', p.id, 'content', p.content, 'createdAt', p.created_at,
                                              'likesCount', app_public.posts_likes_count(p), 'commentsCount', app_public.posts_comments_count(p))
                            order by p.created_at desc, p.id desc)
              from (select * from app_public.posts p where p.author_id = u.id and p.deleted_at is null
                     order by p.created_at desc, p.id desc limit 20) p), '[]')) as data
          from app_public.user_cards u where u.id = $1`,
      params: (f) => [f.profileUserId],
    },
  },
  {
    name: "search_posts",
    title: "searchPosts(query, first: 20)",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        query Search($q: String!) {
          searchPosts(query: $q, first: 20) {
            nodes {
              id
              content
              createdAt
              author {
                username
              }
            }
          }
        }
      `,
      variables: (f) => ({ q: f.term }),
    },
    raw: {
      sql: `
        select coalesce(json_agg(json_build_object(
                 'id', p.id, 'content', p.content, 'createdAt', p.created_at,
                 'author', (select json_build_object('username', u.username)
                              from app_public.user_cards u where u.id = p.author_id))
                 order by p.created_at desc, p.id desc), '[]') as data
          from (select p.* from app_public.posts p
                 where p.id = any (array(select app_hidden.search_post_ids(
                         websearch_to_tsquery('simple', app_hidden.require_search_text($1)), null, null, 20)))
                 order by p.created_at desc, p.id desc limit 20) p`,
      params: (f) => [f.term],
    },
  },
  {
    name: "search_users",
    title: "searchUsers(query, first: 20)",
    kind: "read",
    graphql: {
      query: /* GraphQL */ `
        query Search($q: String!) {
          searchUsers(query: $q, first: 20) {
            nodes {
              id
              username
              displayName
              avatarUrl
            }
          }
        }
      `,
      variables: (f) => ({ q: f.term }),
    },
    raw: {
      sql: `
        select coalesce(json_agg(json_build_object('id', u.id, 'username', u.username,
                 'displayName', u.display_name, 'avatarUrl', u.avatar_url) order by m.ord), '[]') as data
          from app_hidden.search_user_matches($1, 20) m
          join app_public.user_cards u on u.id = m.id`,
      params: (f) => [f.term],
    },
  },
  {
    name: "like_unlike",
    title: "likePost, then unlikePost",
    kind: "write",
    graphql: {
      query: /* GraphQL */ `
        mutation Like($p: UUID!) {
          likePost(input: { postId: $p }) {
            post {
              id
              likesCount
              viewerHasLiked
            }
          }
          unlikePost(input: { postId: $p }) {
            post {
              id
              likesCount
              viewerHasLiked
            }
          }
        }
      `,
      variables: (f) => ({ p: f.postId }),
    },
    raw: {
      // two transactions, as the two mutations are
      sql: [
        `select json_build_object('id', p.id, 'likesCount', app_public.posts_likes_count(p),
                                  'viewerHasLiked', ${LIKED("post", "p.id")}) as data
           from app_public.like_post($1) p`,
        `select json_build_object('id', p.id, 'likesCount', app_public.posts_likes_count(p),
                                  'viewerHasLiked', ${LIKED("post", "p.id")}) as data
           from app_public.unlike_post($1) p`,
      ],
      params: (f) => [f.postId],
    },
  },
  {
    name: "add_comment",
    title: "addComment",
    kind: "write",
    graphql: {
      query: /* GraphQL */ `
        mutation Comment($p: UUID!) {
          addComment(input: { postId: $p, content: "benchmark comment" }) {
            comment {
              id
              content
              createdAt
            }
          }
        }
      `,
      variables: (f) => ({ p: f.postId }),
    },
    raw: {
      sql: `select json_build_object('id', c.id, 'content', c.content, 'createdAt', c.created_at) as data
              from app_public.add_comment($1, 'benchmark comment') c`,
      params: (f) => [f.postId],
    },
  },
  {
    name: "send_message",
    title: "sendMessage",
    kind: "write",
    graphql: {
      query: /* GraphQL */ `
        mutation Send($c: UUID!) {
          sendMessage(input: { conversationId: $c, content: "benchmark message" }) {
            message {
              id
              content
              createdAt
            }
          }
        }
      `,
      variables: (f) => ({ c: f.conversationId }),
    },
    raw: {
      sql: `select json_build_object('id', m.id, 'content', m.content, 'createdAt', m.created_at) as data
              from app_public.send_message($1, 'benchmark message') m`,
      params: (f) => [f.conversationId],
    },
  },
];
