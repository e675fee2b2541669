/**
 * Joining a group is announced once to everyone in it (the `participants` notice behind
 * myConversationsUpdated), also when many join in one transaction: the trigger announces a
 * conversation to all of its participants once per transaction and then only tells each next
 * person added (PostgreSQL drops a repeated notice anyway), so filling a group of 1,024 is not
 * half a million notices.
 */
import { randomUUID } from "node:crypto";

import pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const GROUP = `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`;
const ADD = `mutation ($c: UUID!, $u: [UUID]!) { addConversationParticipants(input: { conversationId: $c, userIds: $u }) { clientMutationId } }`;

/** Listens on each account's conversation channel; `until(n)` resolves once each heard n. */
async function listen(accounts: TestAccount[]) {
  const client = new pg.Client({ connectionString: api.db.ownerUrl });
  await client.connect();
  const heard = new Map<string, string[]>(accounts.map((a) => [a.id, []]));
  const waiters: (() => void)[] = [];
  client.on("notification", (n) => {
    const user = /^user:(.+):conversations$/.exec(n.channel)?.[1];
    if (user) heard.get(user)?.push(n.payload ?? "");
    for (const w of waiters.splice(0)) w();
  });
  for (const a of accounts) await client.query(`listen "user:${a.id}:conversations"`);
  const until = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if ([...heard.values()].every((h) => h.length >= n)) resolve();
        else waiters.push(check);
      };
      check();
    });
  return { heard, until, close: () => client.end() };
}

describe("people added to a group in one request", () => {
  it("tell everyone in it once, the ones already there and each one added", async () => {
    const [ana, ben, cat, dan, eve] = (await Promise.all(
      Array.from({ length: 5 }, () => api.register()),
    )) as [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount];
    const chat = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(ana)(GROUP, { t: `joins ${randomUUID().slice(0, 6)}`, p: [ben.id] }),
    ).createGroupConversation.conversation.id;

    const everyone = [ana, ben, cat, dan, eve];
    const listening = await listen(everyone);
    try {
      ok(await api.as(ana)(ADD, { c: chat, u: [cat.id, dan.id, eve.id] }));
      await listening.until(1);
      const notice = JSON.stringify({ conversation_id: chat, reason: "participants" });
      for (const a of everyone) {
        expect(listening.heard.get(a.id)!.map((p) => JSON.stringify(JSON.parse(p)))).toEqual([
          notice,
        ]);
      }
    } finally {
      await listening.close();
    }
  });
});
