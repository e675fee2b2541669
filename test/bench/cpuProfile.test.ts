/** bench/harness/cpuProfile.ts's breakdown by category (the realtime bench's --profile). */
import {
  breakdownInWindows,
  REALTIME_CATEGORIES,
  type CpuProfile,
} from "../../bench/harness/cpuProfile.ts";
import { frame } from "../helpers/cpuProfile.ts";

// root → grafast → pg-sql2, root → a socket write, root → our hub, idle, the collector
const profile: CpuProfile = {
  nodes: [
    frame(1, "(root)", "", [2, 4, 5, 6, 7]),
    frame(2, "executeStep", "file:///app/node_modules/grafast/dist/engine.js", [3]),
    frame(3, "makeQueryNode", "file:///app/node_modules/pg-sql2/dist/index.js"),
    frame(4, "writev", ""),
    frame(5, "decide", "file:///app/src/realtime/hub.ts"),
    frame(6, "(idle)", ""),
    frame(7, "(garbage collector)", ""),
  ],
  startTime: 1000,
  // samples at 1010, 1020, … 1090
  samples: [2, 3, 3, 4, 5, 6, 7, 1, 4],
  timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10],
};

test("counts each busy sample once, by the frame it ran in, inside the windows only", () => {
  const all = breakdownInWindows(profile, [[0, 10_000]], REALTIME_CATEGORIES);
  expect(all.busy).toBe(8); // the idle sample is not work
  expect(all.byCategory).toMatchObject({
    grafast: 1,
    "SQL building (pg-sql2, @dataplan/pg's query)": 2, // called from grafast, counted as SQL
    "socket writes": 2,
    "realtime code (src/realtime)": 1,
    "garbage collector": 1,
    other: 1, // (root)
  });
  const sum = Object.values(all.byCategory).reduce((a, b) => a + b, 0);
  expect(sum).toBe(all.busy);

  const part = breakdownInWindows(profile, [[1035, 1055]], REALTIME_CATEGORIES);
  expect(part.busy).toBe(2);
  expect(part.byCategory["socket writes"]).toBe(1);
  expect(part.byCategory["realtime code (src/realtime)"]).toBe(1);
  expect(breakdownInWindows(profile, [], REALTIME_CATEGORIES).busy).toBe(0);
});
