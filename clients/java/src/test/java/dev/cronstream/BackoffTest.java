package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private final Backoff backoff = new Backoff(Backoff.BASE, Backoff.CAP);

  @Test
  void ceilingDoublesFromBaseUpToMax() {
    assertEquals(Duration.ofMillis(100), backoff.ceiling(0));
    assertEquals(Duration.ofMillis(200), backoff.ceiling(1));
    assertEquals(Duration.ofMillis(400), backoff.ceiling(2));
    assertEquals(Duration.ofMillis(3200), backoff.ceiling(5));
    assertEquals(Duration.ofSeconds(5), backoff.ceiling(6)); // 6.4 s capped: the same in all four clients
    assertEquals(Duration.ofSeconds(5), backoff.ceiling(1000));
    assertEquals(Duration.ofMillis(100), backoff.ceiling(-3));
  }

  @Test
  void delayIsFullJitterWithinTheCeiling() {
    for (int n = 0; n < 12; n++) {
      Duration ceiling = backoff.ceiling(n);
      Duration min = ceiling;
      Duration max = Duration.ZERO;
      for (int i = 0; i < 2000; i++) {
        Duration d = backoff.delay(n);
        assertTrue(!d.isNegative() && d.compareTo(ceiling) <= 0, n + ": " + d + " outside [0, " + ceiling + "]");
        min = d.compareTo(min) < 0 ? d : min;
        max = d.compareTo(max) > 0 ? d : max;
      }
      // full jitter: the waits spread over the whole range, not just near the ceiling
      assertTrue(min.compareTo(ceiling.dividedBy(10)) < 0, "min " + min + " of " + ceiling);
      assertTrue(max.compareTo(ceiling.multipliedBy(9).dividedBy(10)) > 0, "max " + max + " of " + ceiling);
    }
  }

  @Test
  void defaultsAre100msDoublingTo5s() {
    assertEquals(Duration.ofMillis(100), Backoff.BASE);
    assertEquals(Duration.ofSeconds(5), Backoff.CAP);
    for (int i = 0; i < 5000; i++) {
      Duration d = backoff.delay(40);
      assertTrue(!d.isNegative() && d.compareTo(Duration.ofSeconds(5)) <= 0, d.toString());
    }
  }

  @Test
  void zeroBaseNeverWaits() {
    Backoff none = new Backoff(Duration.ZERO, Duration.ZERO);
    assertEquals(Duration.ZERO, none.delay(5));
  }
}
