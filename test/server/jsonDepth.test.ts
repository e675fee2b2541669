/** src/http/jsonDepth.ts: the nesting check walks without recursion, and counts every level. */
import { nestsDeeperThan } from "../../src/http/jsonDepth.ts";

test("counts objects and arrays, not scalars, and never overflows the stack itself", () => {
  expect(nestsDeeperThan(null, 0)).toBe(false);
  expect(nestsDeeperThan("deep", 0)).toBe(false);
  expect(nestsDeeperThan({}, 0)).toBe(true);
  expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
  expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 2)).toBe(true);
  expect(nestsDeeperThan([[], [[[]]]], 3)).toBe(true); // the deepest branch counts
  let deep: unknown = [];
  for (let i = 0; i < 200_000; i++) deep = [deep];
  expect(nestsDeeperThan(deep, 64)).toBe(true);
  expect(nestsDeeperThan(deep, 300_000)).toBe(false);
});
