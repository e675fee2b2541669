/** A per-key limit of `max` actions per minute, in memory (per API instance). */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly max: number;
  readonly windowMs: number;
  readonly now: () => number;

  constructor(max: number, windowMs = 60_000, now: () => number = Date.now) {
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Counts one action; returns 0 if allowed, else the milliseconds until it would be. */
  take(key: string): number {
    const now = this.now();
    if (this.#windows.size > 10_000) this.#sweep(now);
    let window = this.#windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count >= this.max) return window.start + this.windowMs - now;
    window.count += 1;
    return 0;
  }

  #sweep(now: number): void {
    for (const [key, window] of this.#windows) {
      if (now - window.start >= this.windowMs) this.#windows.delete(key);
    }
  }
}
