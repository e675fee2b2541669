/** Find people, send and accept friend requests, and pick a friend to message. */
import {
  AcceptFriendRequestDocument,
  MyFriendsDocument,
  PendingFriendRequestsDocument,
  SearchUsersDocument,
  SendFriendRequestDocument,
  type UserCardFragment,
} from "../../../clients/typescript/src/index.ts";
import { api } from "./api.ts";
import { describe, h } from "./dom.ts";

export interface FriendsView {
  element: HTMLElement;
  /** Reload requests and friends (a notification said something changed). */
  refresh(): void;
}

const name = (user: UserCardFragment): string => user.displayName ?? user.username ?? "someone";

export function friendsView(openChat: (user: UserCardFragment) => void): FriendsView {
  const query = h("input", { name: "search", type: "search", placeholder: "Find people by name" });
  const results = h("ul", { class: "people", "aria-label": "Search results" });
  const pending = h("ul", { class: "people", "aria-label": "Friend requests" });
  const friends = h("ul", { class: "people", "aria-label": "Friends" });
  const error = h("p", { class: "error", role: "alert" });

  const act = (action: () => Promise<unknown>) => () => {
    error.textContent = "";
    action()
      .then(refresh)
      .catch((e: unknown) => (error.textContent = describe(e)));
  };
  const messageButton = (user: UserCardFragment) =>
    h("button", { class: "secondary", onclick: () => openChat(user) }, "Message");

  async function search(): Promise<void> {
    const { searchUsers } = await api.request(SearchUsersDocument, {
      text: query.value,
      first: 10,
    });
    const me = api.session?.user?.id;
    results.replaceChildren(
      ...(searchUsers?.nodes ?? [])
        .filter((user) => user.id !== me)
        .map((user) =>
          h(
            "li",
            {},
            h("span", {}, `${name(user)} (@${user.username})`),
            user.friendshipStatus === "NONE"
              ? h(
                  "button",
                  {
                    onclick: act(() => api.request(SendFriendRequestDocument, { userId: user.id })),
                  },
                  "Add friend",
                )
              : h("em", {}, user.friendshipStatus?.toLowerCase().replace("_", " ") ?? ""),
            messageButton(user),
          ),
        ),
    );
  }

  async function refresh(): Promise<void> {
    const [{ pendingFriendRequests }, { currentUser }] = await Promise.all([
      api.request(PendingFriendRequestsDocument, { first: 20 }),
      api.request(MyFriendsDocument, { first: 50 }),
    ]);
    pending.replaceChildren(
      ...(pendingFriendRequests?.nodes ?? []).flatMap(({ requester }) =>
        requester
          ? [
              h(
                "li",
                {},
                h("span", {}, `${name(requester)} wants to be friends`),
                h(
                  "button",
                  {
                    onclick: act(() =>
                      api.request(AcceptFriendRequestDocument, { userId: requester.id }),
                    ),
                  },
                  "Accept",
                ),
              ),
            ]
          : [],
      ),
    );
    friends.replaceChildren(
      ...(currentUser?.friends.nodes ?? []).map((friend) =>
        h("li", {}, h("span", {}, name(friend)), messageButton(friend)),
      ),
    );
    if (query.value) await search();
  }

  const form = h("form", { class: "row" }, query, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search().catch((e: unknown) => (error.textContent = describe(e)));
  });
  void refresh();

  return {
    element: h(
      "section",
      { class: "card friends" },
      h("h2", {}, "People"),
      form,
      results,
      error,
      h("h3", {}, "Friend requests"),
      pending,
      h("h3", {}, "Friends"),
      friends,
    ),
    refresh: () => void refresh().catch((e: unknown) => (error.textContent = describe(e))),
  };
}
