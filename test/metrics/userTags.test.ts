/**
 * The access log's user tag (src/http/requestObserver.ts) is hashed once per user, not per
 * request: the remembered tag is the same salted hash, and the oldest users are forgotten first.
 */
import { randomUUID } from "node:crypto";

import { cachedUserTags, userTag } from "../../src/http/requestObserver.ts";

it("gives each user the salted tag, computed once while remembered", () => {
  const tagOf = cachedUserTags("salt-1", 2);
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  expect(tagOf(a)).toBe(userTag(a, "salt-1"));
  expect(tagOf(a)).toMatch(/^[0-9a-f]{16}$/);
  expect(tagOf(a)).not.toBe(userTag(a, "salt-2"));
  expect(tagOf(b)).toBe(userTag(b, "salt-1"));
  expect(tagOf(c)).toBe(userTag(c, "salt-1"));
  expect(new Set([tagOf(a), tagOf(b), tagOf(c)]).size).toBe(3);
});
