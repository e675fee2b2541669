/**
 * freePort (src/freePort.ts; the benchmarks' and the tests' helpers re-export it): a port a server can bind
 * next, chosen below the kernel's ephemeral range, where no outgoing connection or `listen(0)`
 * can take it first.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

import { freePort } from "./helpers/process.ts";

const ephemeralLow = Number(
  readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
);

test("gives a port below the ephemeral range that a server can then listen on", async () => {
  const port = await freePort();
  expect(port).toBeGreaterThanOrEqual(10_000);
  expect(port).toBeLessThan(ephemeralLow);
  const server = createServer();
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  await new Promise((resolve) => server.close(resolve));
});
