/**
 * A direct conversation: the latest messages, new ones live (messageAdded), and "… is typing"
 * (typing, fed by sendTyping at most every 3 s while you type).
 */
import {
  ConversationMessagesDocument,
  MessageAddedDocument,
  SendMessageDocument,
  SendTypingDocument,
  StartDirectConversationDocument,
  TypingDocument,
  type MessageFieldsFragment,
  type UserCardFragment,
} from "../../../clients/typescript/src/index.ts";
import { api } from "./api.ts";
import { describe, h, when } from "./dom.ts";

const TYPING_EVERY_MS = 3_000;

export function chatView(): { element: HTMLElement; open(user: UserCardFragment): void } {
  const title = h("h2", {}, "Messages");
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const typing = h("p", { class: "muted typing", "aria-live": "polite" });
  const input = h("input", { name: "message", placeholder: "Write a message", disabled: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "row" }, input, h("button", { type: "submit" }, "Send"));
  let conversationId: string | null = null;
  let stops: (() => void)[] = [];
  const shown = new Set<string>();

  function show(message: MessageFieldsFragment): void {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const mine = message.sender?.id === api.session?.user?.id;
    list.append(
      h(
        "li",
        { class: mine ? "mine" : "theirs" },
        h("span", { class: "who" }, mine ? "You" : (message.sender?.displayName ?? "")),
        h("span", { class: "text" }, message.content ?? ""),
        h("time", {}, when(message.createdAt)),
      ),
    );
    list.scrollTop = list.scrollHeight;
  }

  /** The newest 30 messages (the API pages newest first), shown oldest first. */
  async function catchUp(id: string): Promise<void> {
    const { conversation } = await api.request(ConversationMessagesDocument, {
      conversationId: id,
      first: 30,
    });
    [...(conversation?.messages?.nodes ?? [])].reverse().forEach(show);
  }

  async function open(user: UserCardFragment): Promise<void> {
    stops.forEach((stop) => stop());
    list.replaceChildren();
    shown.clear();
    const { startDirectConversation } = await api.request(StartDirectConversationDocument, {
      userId: user.id,
    });
    const id = startDirectConversation?.conversation?.id;
    if (!id) return;
    conversationId = id;
    title.textContent = `Messages with ${user.displayName ?? user.username}`;
    let typingTimer: ReturnType<typeof setTimeout> | undefined;
    stops = [
      api.subscribe(
        MessageAddedDocument,
        { conversationId: id },
        {
          next: ({ messageAdded }) => messageAdded && show(messageAdded),
          // the socket was reopened (a new access token): fetch what may have been missed
          resubscribed: () => void catchUp(id),
          error: (e) => (error.textContent = describe(e)),
        },
      ),
      api.subscribe(
        TypingDocument,
        { conversationId: id },
        {
          next: ({ typing: event }) => {
            typing.textContent = `${event?.user?.displayName ?? "Someone"} is typing…`;
            clearTimeout(typingTimer);
            typingTimer = setTimeout(() => (typing.textContent = ""), TYPING_EVERY_MS + 500);
          },
        },
      ),
    ];
    await catchUp(id);
    input.disabled = false;
    input.focus();
  }

  let lastTyping = 0;
  input.addEventListener("input", () => {
    if (!conversationId || Date.now() - lastTyping < TYPING_EVERY_MS) return;
    lastTyping = Date.now();
    api.request(SendTypingDocument, { conversationId }).catch(() => undefined);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!conversationId || !input.value) return;
    error.textContent = "";
    api
      .request(SendMessageDocument, { conversationId, content: input.value })
      .then(({ sendMessage }) => sendMessage?.message && show(sendMessage.message))
      .catch((e: unknown) => (error.textContent = describe(e)));
    input.value = "";
    lastTyping = 0;
  });

  return {
    element: h("section", { class: "card chat" }, title, list, typing, form, error),
    open: (user) => void open(user).catch((e: unknown) => (error.textContent = describe(e))),
  };
}
