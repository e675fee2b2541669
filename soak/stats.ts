/** Counts of the load's requests by kind and outcome, errors by code, latency per minute. */
export interface OutcomeLike {
  kind: "ok" | "refused" | "unsent" | "unknown";
  code?: string;
}

export interface StatsSummary {
  operations: Record<string, { ok: number; refused: number; unsent: number; unknown: number }>;
  totalOperations: number;
  errorsByCode: Record<string, number>;
  /** p95 latency (ms) of the requests started in each minute of the run. */
  p95PerMinute: { minute: number; requests: number; p95Ms: number }[];
}

export class Stats {
  private readonly startedAt: number;
  private readonly ops = new Map<string, StatsSummary["operations"][string]>();
  private readonly errors = new Map<string, number>();
  private readonly latencies: number[][] = [];

  constructor(startedAt = Date.now()) {
    this.startedAt = startedAt;
  }

  record(kind: string, outcome: OutcomeLike, ms: number): void {
    const row = this.ops.get(kind) ?? { ok: 0, refused: 0, unsent: 0, unknown: 0 };
    row[outcome.kind] += 1;
    this.ops.set(kind, row);
    if (outcome.kind !== "ok" && outcome.code) {
      this.errors.set(outcome.code, (this.errors.get(outcome.code) ?? 0) + 1);
    }
    const minute = Math.floor((Date.now() - ms - this.startedAt) / 60_000);
    (this.latencies[minute] ??= []).push(ms);
  }

  /** A refusal or failure seen outside a request of the load (a fault's own requests). */
  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  totals(): { operations: number; errors: number } {
    let operations = 0;
    for (const row of this.ops.values())
      operations += row.ok + row.refused + row.unsent + row.unknown;
    let errors = 0;
    for (const n of this.errors.values()) errors += n;
    return { operations, errors };
  }

  summary(): StatsSummary {
    const p95PerMinute: StatsSummary["p95PerMinute"] = [];
    this.latencies.forEach((values, minute) => {
      if (!values || values.length === 0) return;
      const sorted = [...values].sort((a, b) => a - b);
      const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
      p95PerMinute.push({ minute, requests: sorted.length, p95Ms: Math.round(p95 * 10) / 10 });
    });
    return {
      operations: Object.fromEntries([...this.ops.entries()].sort()),
      totalOperations: this.totals().operations,
      errorsByCode: Object.fromEntries([...this.errors.entries()].sort((a, b) => b[1] - a[1])),
      p95PerMinute,
    };
  }
}
