/**
 * Runs of `npm run bench:overhead` read as one (`--combine <file> <file> …`): the rounds of runs
 * made with the same settings are independent pairs like any other, so their union is a longer
 * run, judged by the same arithmetic (metricsOverhead.ts `metricsOverheadOf`: paired per-round
 * ratios, the sign test's interval). Only runs of the code as committed: a result file with a
 * `note` (a temporary experiment) is refused, as is a pair of runs measured differently.
 */
import { metricsOverheadOf, type MetricsOverhead } from "./metricsOverhead.ts";

/** What bench/overhead.ts writes to bench/results/overhead-<date>.json. */
export interface OverheadResultFile {
  date: string;
  /** A temporary experiment (added by hand): such a run is not combined. */
  note?: string;
  scale: number;
  databaseMetrics: boolean;
  scrapes: boolean;
  /** The files a combined result was made of. */
  combinedFrom?: string[];
  metricsOverhead: MetricsOverhead;
}

export class CombineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CombineError";
  }
}

/** The settings that must agree for rounds to be pooled. */
function settingsOf(r: OverheadResultFile): Record<string, unknown> {
  const m = r.metricsOverhead;
  return {
    scale: r.scale,
    databaseMetrics: r.databaseMetrics,
    scrapes: r.scrapes,
    caseId: m.caseId,
    mode: m.mode,
    connections: m.connections,
    seconds: m.seconds,
    warmUpSeconds: m.warmUpSeconds,
    budgetPercent: m.budgetPercent,
  };
}

/** The runs in `files` (by name) as one result; throws CombineError when they cannot be. */
export function combineOverheadResults(
  files: readonly { name: string; result: OverheadResultFile }[],
  date: string,
): OverheadResultFile {
  if (files.length < 2) throw new CombineError("give two result files or more to combine");
  const [first] = files;
  for (const { name, result } of files) {
    if (!Array.isArray(result.metricsOverhead?.perRound))
      throw new CombineError(`${name} is not a result of npm run bench:overhead`);
    if (result.note !== undefined)
      throw new CombineError(`${name} is a temporary experiment ("${result.note}"): not combined`);
    if (result.combinedFrom !== undefined)
      throw new CombineError(`${name} is itself combined: give the runs it was made of`);
    const reference = settingsOf(first!.result);
    const settings = settingsOf(result);
    for (const [key, value] of Object.entries(reference)) {
      if (settings[key] !== value)
        throw new CombineError(
          `${name} was measured with ${key} ${String(settings[key])}, ${first!.name} with ${String(value)}: not combined`,
        );
    }
  }
  const m = first!.result.metricsOverhead;
  return {
    date,
    scale: first!.result.scale,
    databaseMetrics: first!.result.databaseMetrics,
    scrapes: first!.result.scrapes,
    combinedFrom: files.map((f) => f.name),
    metricsOverhead: metricsOverheadOf({
      caseId: m.caseId,
      mode: m.mode,
      connections: m.connections,
      seconds: m.seconds,
      warmUpSeconds: m.warmUpSeconds,
      rounds: files.flatMap((f) => f.result.metricsOverhead.perRound),
    }),
  };
}
