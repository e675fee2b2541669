/**
 * One instance's view of who is online (src/realtime/presenceState.ts): local sockets, other
 * instances' notices and heartbeats in parts, and instances that stop answering.
 */
import { PresenceState } from "../../src/realtime/presenceState.ts";

const [u1, u2, u3] = [
  "00000000-0000-4000-8000-000000000001",
  "00000000-0000-4000-8000-000000000002",
  "00000000-0000-4000-8000-000000000003",
];
const [i1, i2] = ["10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002"];

function tracked(): { state: PresenceState; changes: [string, boolean][] } {
  const changes: [string, boolean][] = [];
  return { state: new PresenceState((u, on) => changes.push([u, on])), changes };
}

it("reports a user online at their first socket anywhere and offline at their last", () => {
  const { state, changes } = tracked();
  expect(state.opened(u1)).toBe(true);
  expect(state.opened(u1)).toBe(false);
  state.announced(i1, u1, true, 0); // also on another instance: no new transition
  expect(state.closed(u1)).toBe(false);
  expect(state.closed(u1)).toBe(true); // last here, but still on i1
  expect(changes).toEqual([[u1, true]]);
  state.announced(i1, u1, false, 0);
  expect(changes).toEqual([
    [u1, true],
    [u1, false],
  ]);
});

it("replaces an instance's users only once every part of a heartbeat arrived", () => {
  const { state, changes } = tracked();
  state.heartbeat(i1, 1, 0, 1, [u1, u2], 0);
  expect([...state.online()].sort()).toEqual([u1, u2]);
  state.heartbeat(i1, 2, 0, 2, [u3], 10);
  expect([...state.online()].sort()).toEqual([u1, u2, u3]); // part 2 still due
  state.heartbeat(i1, 2, 1, 2, [u1], 20);
  expect([...state.online()].sort()).toEqual([u1, u3]);
  expect(changes).toEqual([
    [u1, true],
    [u2, true],
    [u3, true],
    [u2, false],
  ]);
  // a heartbeat with a missing part removes nobody
  state.heartbeat(i1, 3, 1, 2, [], 30);
  expect([...state.online()].sort()).toEqual([u1, u3]);
});

it("drops an instance not heard from in time, and one that says goodbye", () => {
  const { state, changes } = tracked();
  state.heartbeat(i1, 1, 0, 1, [u1, u2], 0);
  state.heartbeat(i2, 1, 0, 1, [u2, u3], 1000);
  state.opened(u3);
  expect(state.expire(500)).toEqual([u1]); // u2 is still on i2
  expect(state.isOnline(u2)).toBe(true);
  expect(state.left(i2)).toEqual([u2]); // u3 has a socket here
  expect(changes.filter(([, on]) => !on)).toEqual([
    [u1, false],
    [u2, false],
  ]);
});
