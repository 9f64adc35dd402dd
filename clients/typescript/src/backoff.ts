/**
 * Backoff spaces reconnection attempts: after the n-th consecutive failure
 * (from 0) a worker waits a uniformly random time in
 * [0, min(maxMs, baseMs * 2^n)] ("full jitter"), so many workers cut off
 * together do not reconnect together. The defaults, 100 ms and 5 s, are
 * those of all four Cronstream clients.
 */
export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  private readonly random: () => number;

  constructor(baseMs = 100, maxMs = 5_000, random: () => number = Math.random) {
    if (!(baseMs > 0)) {
      throw new RangeError(`cronstream: backoff base must be positive, not ${baseMs}`);
    }
    this.baseMs = baseMs;
    this.maxMs = Math.max(maxMs, baseMs);
    this.random = random;
  }

  /** The longest wait of attempt n. */
  ceiling(n: number): number {
    let c = this.baseMs;
    for (let i = 0; i < n && c < this.maxMs; i++) {
      c *= 2;
    }
    return Math.min(c, this.maxMs);
  }

  /** The wait before attempt n, in milliseconds. */
  delay(n: number): number {
    return this.random() * this.ceiling(n);
  }
}

/**
 * Waits ms, or less when signal aborts first; resolves to whether the wait
 * ran its course (false: aborted).
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
