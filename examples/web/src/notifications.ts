/** The unread count in the header and the latest notifications, live (notificationAdded). */
import {
  MarkAllNotificationsReadDocument,
  MyNotificationsDocument,
  NotificationAddedDocument,
  type NotificationFieldsFragment,
} from "../../../clients/typescript/src/index.ts";
import { api } from "./api.ts";
import { h, when } from "./dom.ts";

export function notificationsView(onNotification: () => void): {
  badge: HTMLElement;
  element: HTMLElement;
} {
  const badge = h("span", { class: "badge", "aria-label": "Unread notifications" }, "0");
  const list = h("ul", { class: "notifications" });
  const seen = new Set<string>();

  function setCount(count: number): void {
    badge.textContent = String(count);
    badge.classList.toggle("zero", count === 0);
  }
  function show(n: NotificationFieldsFragment, first: boolean): void {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    const item = h(
      "li",
      { class: n.isRead ? "read" : "" },
      h("strong", {}, n.title),
      ` ${n.message ?? ""} `,
      h("time", {}, when(n.createdAt)),
    );
    if (first) list.prepend(item);
    else list.append(item);
  }

  void api.request(MyNotificationsDocument, { first: 10 }).then((data) => {
    data.myNotifications?.nodes.forEach((n) => show(n, false));
    setCount(data.unreadNotificationCount ?? 0);
  });
  api.subscribe(
    NotificationAddedDocument,
    {},
    {
      next: ({ notificationAdded }) => {
        if (!notificationAdded) return;
        setCount(notificationAdded.unreadCount);
        if (notificationAdded.notification) show(notificationAdded.notification, true);
        onNotification();
      },
    },
  );

  const markRead = h(
    "button",
    {
      class: "secondary",
      onclick: () => {
        void api.request(MarkAllNotificationsReadDocument, {}).then(() => {
          setCount(0);
          list.querySelectorAll("li").forEach((li) => li.classList.add("read"));
        });
      },
    },
    "Mark all read",
  );
  return {
    badge,
    element: h("section", { class: "card" }, h("h2", {}, "Notifications"), markRead, list),
  };
}
