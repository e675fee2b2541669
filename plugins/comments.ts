/**
 * Comment threads, oldest first with keyset pagination: Post.comments (top-level comments) and
 * Comment.replies. Replies nest one level (addComment attaches a reply to a reply to its top
 * comment). Visibility is row-level security's (policies/comments.sql).
 */
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection } from "./lib/keyset.ts";

export const CommentsPlugin = extendSchema((build) => {
  const { sql } = build;
  const { comments } = build.pgResources;
  if (!comments) throw new Error("CommentsPlugin: the comments resource is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Post {
        "Comments on this post (not replies), oldest first."
        comments(${KEYSET_ARGS}): CommentConnection
      }
      extend type Comment {
        "Replies to this comment, oldest first."
        replies(${KEYSET_ARGS}): CommentConnection
      }
    `,
    objects: {
      Post: {
        plans: {
          comments: {
            scope: KEYSET_SCOPE,
            plan($post, fieldArgs) {
              const $comments = comments.find({ post_id: $post.get("id") });
              $comments.where(sql`${$comments.alias}.parent_comment_id is null`);
              return keysetConnection($comments, fieldArgs, "ASC");
            },
          },
        },
      },
      Comment: {
        plans: {
          replies: {
            scope: KEYSET_SCOPE,
            plan($comment, fieldArgs) {
              const $replies = comments.find({ parent_comment_id: $comment.get("id") });
              return keysetConnection($replies, fieldArgs, "ASC");
            },
          },
        },
      },
    },
  };
});
