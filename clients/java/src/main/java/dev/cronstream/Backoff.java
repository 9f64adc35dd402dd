package dev.cronstream;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Spaces reconnection attempts: attempt {@code n} (from 0) waits a uniformly random time in
 * {@code [0, min(max, base * 2^n)]} ("full jitter"), so workers cut off together do not
 * reconnect together. The n-th consecutive failure (from 0) waits {@code uniform(0, min(5 s, 100
 * ms * 2^n))} with the defaults.
 */
final class Backoff {
  /** The defaults every Cronstream worker (Python, Go, TypeScript, Java) uses: 100 ms doubling to 5 s. */
  static final Duration BASE = Duration.ofMillis(100);
  static final Duration CAP = Duration.ofSeconds(5);

  private final long baseNanos;
  private final long maxNanos;

  Backoff(Duration base, Duration max) {
    this.baseNanos = Math.max(0, base.toNanos());
    this.maxNanos = Math.max(this.baseNanos, max.toNanos());
  }

  /** The longest wait of attempt {@code n}. */
  Duration ceiling(int n) {
    long c = baseNanos;
    for (int i = 0; i < n && c < maxNanos; i++) {
      c = c > Long.MAX_VALUE / 2 ? Long.MAX_VALUE : c * 2;
    }
    return Duration.ofNanos(Math.min(c, maxNanos));
  }

  /** A random wait before attempt {@code n}. */
  Duration delay(int n) {
    long c = ceiling(n).toNanos();
    if (c <= 0) {
      return Duration.ZERO;
    }
    return Duration.ofNanos(ThreadLocalRandom.current().nextLong(c + 1));
  }
}
