package dev.cronstream;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Spaces reconnection attempts: attempt {@code n} (from 0) waits a uniformly random time in
 * {@code [0, min(max, base * 2^n)]} ("full jitter"), so workers cut off together do not
 * reconnect together.
 */
final class Backoff {
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
