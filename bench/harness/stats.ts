/** Small statistics for the benchmark: medians of runs, percentiles from HDR histograms. */
import * as hdr from "hdr-histogram-js";

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/** A latency histogram in milliseconds (microsecond resolution, up to 10 minutes). */
export class LatencyHistogram {
  readonly #h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  record(ms: number): void {
    this.#h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.#h.totalCount;
  }

  percentiles(): Percentiles {
    const at = (p: number): number => round(this.#h.getValueAtPercentile(p) / 1000);
    return {
      p50: at(50),
      p95: at(95),
      p99: at(99),
      max: round(this.#h.maxValue / 1000),
      count: this.#h.totalCount,
    };
  }
}

/** Rounds to 2 decimals (figures in the report). */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A distribution-free confidence interval for a median (stats.ts `medianInterval`). */
export interface MedianInterval {
  low: number;
  high: number;
  /** The interval's actual confidence, 0..1 (order statistics give only some levels). */
  confidence: number;
}

/**
 * The sign test's confidence interval for the median of `values` (independent, any
 * distribution): the k-th smallest and the k-th largest value, k the largest for which the chance
 * that fewer than k values fall below the median, on either side, is at most (1 − confidence) / 2
 * (Binomial(n, ½)). null when there are too few values for that confidence (fewer than 6 at 95 %).
 */
export function medianInterval(values: number[], confidence = 0.95): MedianInterval | null {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  // P(X <= j) for X ~ Binomial(n, 1/2), by adding up the terms
  let term = 0.5 ** n; // P(X = 0)
  let below = 0; // P(X <= k - 1)
  let k = 0;
  for (let j = 0; j < n; j++) {
    if (2 * (below + term) > 1 - confidence) break;
    below += term;
    k = j + 1;
    term = (term * (n - j)) / (j + 1);
  }
  if (k === 0) return null;
  return { low: sorted[k - 1]!, high: sorted[n - k]!, confidence: 1 - 2 * below };
}
