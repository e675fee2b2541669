/**
 * The session registry's rules (src/auth/sessions.ts), against a source we control: what it
 * caches, what it asks, and what it re-checks when its feed of ended sessions was down.
 */
import { randomUUID } from "node:crypto";

import { SessionRegistry, type SessionSource } from "../../src/auth/sessions.ts";
import type { VerifiedToken } from "../../src/auth/tokens.ts";

/** A database stand-in: live sessions and their users; counts the questions. */
class FakeSource implements SessionSource {
  readonly live = new Map<string, string>();
  asked: string[][] = [];
  /** When set, answers wait for it. */
  gate: Promise<void> | null = null;

  async liveSessions(ids: readonly string[]): Promise<Map<string, string>> {
    this.asked.push([...ids]);
    const snapshot = new Map(
      ids.flatMap((id) => (this.live.has(id) ? [[id, this.live.get(id)!]] : [])),
    );
    if (this.gate) await this.gate;
    return snapshot as Map<string, string>;
  }
}

function token(userId: string, sessionId: string): VerifiedToken {
  return { userId, sessionId, expiresAt: new Date(Date.now() + 60_000) };
}

async function setUp() {
  const source = new FakeSource();
  const registry = new SessionRegistry({ source, endedRetentionMs: 120_000 });
  await registry.resynchronise(); // the feed is up
  const user = randomUUID();
  const session = randomUUID();
  source.live.set(session, user);
  return { source, registry, user, session };
}

describe("the session registry", () => {
  it("asks once per session, then answers from memory", async () => {
    const { source, registry, user, session } = await setUp();
    const [a, b] = [registry.check(token(user, session)), registry.check(token(user, session))];
    expect(await Promise.all([a, b])).toEqual(["live", "live"]);
    expect(registry.check(token(user, session))).toBe("live");
    expect(source.asked).toEqual([[session]]);
  });

  it("refuses, for good, a session that ended or never existed, and tells its listeners", async () => {
    const { source, registry, user, session } = await setUp();
    await registry.check(token(user, session));
    const heard: string[] = [];
    registry.onEnded((id) => heard.push(id));
    registry.ended(session);
    expect(registry.check(token(user, session))).toBe("ended");
    expect(heard).toEqual([session]);
    const unknown = randomUUID();
    expect(await registry.check(token(user, unknown))).toBe("ended");
    expect(registry.check(token(user, unknown))).toBe("ended");
    expect(source.asked).toEqual([[session], [unknown]]);
  });

  it("refuses a live session claimed by another user", async () => {
    const { registry, user, session } = await setUp();
    expect(await registry.check(token(randomUUID(), session))).toBe("ended");
    expect(registry.check(token(user, session))).toBe("live");
    expect(registry.check(token(randomUUID(), session))).toBe("ended");
  });

  it("lets an end announced during a lookup win over the lookup's answer", async () => {
    const { source, registry, user, session } = await setUp();
    let open!: () => void;
    source.gate = new Promise((resolve) => (open = resolve));
    const answer = registry.check(token(user, session));
    registry.ended(session);
    open();
    expect(await answer).toBe("ended");
  });

  it("does not trust memory while the feed is down, and re-checks what it believed when it is back", async () => {
    const { source, registry, user, session } = await setUp();
    const other = randomUUID();
    source.live.set(other, user);
    await registry.check(token(user, session));
    await registry.check(token(user, other));
    const heard: string[] = [];
    registry.onEnded((id) => heard.push(id));

    registry.disconnected();
    source.live.delete(session); // ended while nobody listened
    source.asked = [];
    expect(await registry.check(token(user, other))).toBe("live");
    expect(source.asked).toEqual([[other]]); // asked, not answered from memory

    await registry.resynchronise();
    expect(heard).toEqual([session]);
    expect(registry.known(session)).toBe("ended");
    source.asked = [];
    expect(registry.check(token(user, other))).toBe("live");
    expect(source.asked).toEqual([]);
  });

  it("does not cache an answer asked before the feed went down", async () => {
    const { source, registry, user, session } = await setUp();
    let open!: () => void;
    source.gate = new Promise((resolve) => (open = resolve));
    const answer = registry.check(token(user, session));
    registry.disconnected();
    open();
    expect(await answer).toBe("live");
    source.gate = null;
    await registry.resynchronise();
    expect(registry.known(session)).toBeUndefined();
  });

  it("forgets sessions whose tokens have expired, and ends past retention", async () => {
    let now = Date.now();
    const source = new FakeSource();
    const registry = new SessionRegistry({ source, endedRetentionMs: 1000, now: () => now });
    await registry.resynchronise();
    const [user, session, gone] = [randomUUID(), randomUUID(), randomUUID()];
    source.live.set(session, user);
    await registry.check({ userId: user, sessionId: session, expiresAt: new Date(now + 500) });
    registry.ended(gone);
    expect(registry.size).toEqual({ live: 1, ended: 1 });
    now += 2000;
    registry.sweep();
    expect(registry.size).toEqual({ live: 0, ended: 0 });
  });
});
