/**
 * Availability: every 250 ms each API instance is asked a question that needs the database
 * (`unreadNotificationCount`, signed in). An answer — data or an error with a code — within 3 s
 * counts as answered; no answer (refused connection, broken, timed out) is a gap. Gaps are kept
 * as intervals, so the report can tell those inside the instance's own restarts (SIGKILL until
 * ready again) from the others.
 */
export interface Window {
  start: number;
  end: number;
}

export interface InstanceAvailability {
  instance: string;
  probes: number;
  answered: number;
  gaps: Window[];
  /** The instance's own restarts (from the fault that killed it). */
  restarts: Window[];
}

export interface Prober {
  /** Marks a restart of `instance` (kill → ready). */
  restart(instance: string, window: Window): void;
  stop(): Promise<InstanceAvailability[]>;
}

export function startProber(
  apis: readonly { name: string; url: string }[],
  token: string,
  intervalMs = 250,
): Prober {
  let stopped = false;
  const state = apis.map((a) => ({
    instance: a.name,
    probes: 0,
    answered: 0,
    gaps: [] as Window[],
    restarts: [] as Window[],
    gapStart: null as number | null,
  }));
  const loops = apis.map(async (api, i) => {
    const s = state[i]!;
    while (!stopped) {
      const started = Date.now();
      let ok = false;
      try {
        const res = await fetch(`${api.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: "query { unreadNotificationCount }" }),
          signal: AbortSignal.timeout(3_000),
        });
        const body = (await res.json()) as { data?: unknown; errors?: unknown };
        ok = body.data !== undefined || body.errors !== undefined;
      } catch {
        ok = false;
      }
      s.probes += 1;
      if (ok) {
        s.answered += 1;
        if (s.gapStart !== null) {
          s.gaps.push({ start: s.gapStart, end: started });
          s.gapStart = null;
        }
      } else if (s.gapStart === null) s.gapStart = started;
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0 && !stopped) await new Promise((r) => setTimeout(r, wait));
    }
  });
  return {
    restart: (instance, window) =>
      state.find((s) => s.instance === instance)?.restarts.push(window),
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      const now = Date.now();
      return state.map(({ gapStart, ...s }) => ({
        ...s,
        gaps: gapStart === null ? s.gaps : [...s.gaps, { start: gapStart, end: now }],
      }));
    },
  };
}

/** The part of `gap` outside every window of `excused` (ms). */
export function unexcusedMs(gap: Window, excused: readonly Window[]): number {
  let pieces: Window[] = [gap];
  for (const w of excused) {
    pieces = pieces.flatMap((p) => {
      if (w.end <= p.start || w.start >= p.end) return [p];
      const out: Window[] = [];
      if (w.start > p.start) out.push({ start: p.start, end: w.start });
      if (w.end < p.end) out.push({ start: w.end, end: p.end });
      return out;
    });
  }
  return pieces.reduce((longest, p) => Math.max(longest, p.end - p.start), 0);
}
