/**
 * A free TCP port on loopback for a server about to start (a child process, a temporary
 * PostgreSQL), chosen below the kernel's ephemeral range: a port from `listen(0)` lies in that
 * range, where any outgoing connection (a pg client, a fetch) or another `listen(0)` may take
 * it in the moment between this check and the server's own bind (a test run failed now and then
 * with EADDRINUSE that way).
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The first port the kernel hands out for outgoing connections and `listen(0)` (Linux). */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Binds `port` (0: any) on loopback and lets it go; resolves with it, or null if taken. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" || error.code === "EACCES" ? resolve(null) : reject(error),
    );
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : null));
    });
  });
}

/** Below the ephemeral range, ports nobody asked for stay free until someone binds them. */
const FIRST_CHOSEN_PORT = 10_000;

/** A port on 127.0.0.1 free now (see above); the ephemeral range only when none is below it. */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low - FIRST_CHOSEN_PORT >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = FIRST_CHOSEN_PORT + Math.floor(Math.random() * (low - FIRST_CHOSEN_PORT));
      const free = await tryPort(port);
      if (free !== null) return free;
    }
  }
  const any = await tryPort(0);
  if (any === null) throw new Error("no free port on 127.0.0.1");
  return any;
}
