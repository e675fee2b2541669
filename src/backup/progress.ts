/**
 * Progress lines for long copies (base backups, restores): bytes copied, rate and time left,
 * logged at most every few seconds and once at the end.
 */
import type { Logger } from "../log.ts";

export interface CopyProgress {
  bytes: number;
  totalBytes: number;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** One line's fields: how far, how fast, how long still (by the rate so far). */
export function describeProgress(p: CopyProgress, elapsedMs: number): Record<string, string> {
  const seconds = Math.max(elapsedMs / 1000, 0.001);
  const rate = p.bytes / seconds;
  const left = rate > 0 ? Math.max(p.totalBytes - p.bytes, 0) / rate : NaN;
  const percent = p.totalBytes > 0 ? Math.min(100, (p.bytes / p.totalBytes) * 100) : 100;
  return {
    copied: `${mib(p.bytes)} of ${mib(p.totalBytes)} (${percent.toFixed(0)}%)`,
    rate: `${mib(rate)}/s`,
    left: Number.isFinite(left) ? `${left.toFixed(0)} s` : "unknown",
  };
}

/** A progress callback that logs `what` every `everyMs` (default 5 s), and a final line. */
export function progressLogger(
  log: Logger,
  what: string,
  everyMs = 5000,
): { onProgress: (p: CopyProgress) => void; done: (p: CopyProgress) => void } {
  const started = Date.now();
  let lastLine = started;
  return {
    onProgress: (p) => {
      const now = Date.now();
      if (now - lastLine < everyMs) return;
      lastLine = now;
      log.info(`${what}: copying`, describeProgress(p, now - started));
    },
    done: (p) => log.info(`${what}: copied`, describeProgress(p, Date.now() - started)),
  };
}
