/**
 * The MKing Friend example client: sign up or in, then the home feed, people and friend
 * requests, a direct conversation and notifications, all live. Plain TypeScript and the typed
 * client (clients/typescript); `npm run example:web` serves it.
 */
import { api, API_URL } from "./api.ts";
import { chatView } from "./chat.ts";
import { h } from "./dom.ts";
import { feedView } from "./feed.ts";
import { friendsView } from "./friends.ts";
import { notificationsView } from "./notifications.ts";
import { signInView } from "./signIn.ts";

const root = document.querySelector<HTMLDivElement>("#app")!;

function render(): void {
  const session = api.session;
  if (!session) {
    root.replaceChildren(signInView(), h("p", { class: "muted center" }, `API: ${API_URL}`));
    return;
  }
  const chat = chatView();
  const friends = friendsView((user) => chat.open(user));
  const notifications = notificationsView(() => friends.refresh());
  root.replaceChildren(
    h(
      "header",
      { class: "top" },
      h("strong", {}, "MKing Friend"),
      h("span", {}, "Notifications ", notifications.badge),
      h("span", { class: "me" }, `Signed in as @${session.user?.username ?? "?"}`),
      h("button", { class: "secondary", onclick: () => void api.signOut() }, "Sign out"),
    ),
    h(
      "main",
      { class: "grid" },
      feedView(),
      h("div", { class: "column" }, friends.element, chat.element),
      notifications.element,
    ),
  );
}

api.onSessionChange((change) => {
  if (change !== "refreshed") render();
});
render();
