/**
 * Write a post (with a photo: uploadFile, then `upload:<id>` in its media); the home feed below
 * it loads 10 posts at a time as you scroll (keyset pages).
 */
import {
  HomeFeedDocument,
  PublishPostDocument,
  uploadFile,
  type PostFieldsFragment,
} from "../../../clients/typescript/src/index.ts";
import { api } from "./api.ts";
import { describe, h, when } from "./dom.ts";

function postView(post: PostFieldsFragment): HTMLElement {
  return h(
    "article",
    { class: "post" },
    h(
      "header",
      {},
      h("strong", {}, post.author?.displayName ?? "someone"),
      ` · ${when(post.createdAt)}`,
    ),
    h("p", {}, post.content),
    ...post.media.nodes
      .filter((m) => m.mediaType === "image")
      .map((m) =>
        h("img", {
          class: "photo",
          src: new URL(m.mediaUrl, api.url).toString(),
          alt: m.altText ?? "",
        }),
      ),
  );
}

/** The chosen photo as a post's media reference (none chosen: no media). */
async function photoMedia(input: HTMLInputElement): Promise<{ mediaUrl: string }[]> {
  const file = input.files?.[0];
  if (!file) return [];
  const { reference } = await uploadFile(api, {
    file,
    filename: file.name,
    contentType: file.type,
    purpose: "post_media",
  });
  return [{ mediaUrl: reference }];
}

export function feedView(): HTMLElement {
  const list = h("div", { class: "posts" });
  const sentinel = h("p", { class: "muted" }, "Loading…");
  const text = h("textarea", { name: "post", placeholder: "What's new?", rows: 2 });
  const photo = h("input", { type: "file", name: "photo", accept: "image/jpeg,image/png" });
  const error = h("p", { class: "error", role: "alert" });

  const pager = api.pager(
    async (after) => (await api.request(HomeFeedDocument, { first: 10, after })).homeFeed,
  );
  async function loadMore(): Promise<void> {
    const posts = await pager.loadMore();
    list.append(...posts.map(postView));
    sentinel.textContent = pager.hasMore ? "Loading…" : "You're all caught up.";
  }
  // infinite scroll: load the next page when the end of the list comes into view
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && pager.hasMore) void loadMore();
  });
  observer.observe(sentinel);

  const form = h(
    "form",
    { class: "composer" },
    text,
    photo,
    h("button", { type: "submit" }, "Post"),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    photoMedia(photo)
      .then((media) =>
        api.request(PublishPostDocument, {
          input: { content: text.value, privacyLevel: "friends", media },
        }),
      )
      .then(({ publishPost }) => {
        if (publishPost?.post) list.prepend(postView(publishPost.post));
        text.value = "";
        photo.value = "";
      })
      .catch((e: unknown) => (error.textContent = describe(e)));
  });

  return h("section", { class: "card feed" }, h("h2", {}, "Home"), form, list, sentinel);
}
