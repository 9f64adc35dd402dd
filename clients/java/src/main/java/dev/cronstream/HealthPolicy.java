package dev.cronstream;

import java.time.Duration;
import java.util.Objects;

/**
 * What healthy means for a job (docs/alerts.md): when Cronstream opens an alert for it. A
 * {@code null} component is unset and takes the platform's default; the server validates the
 * values (an {@link InvalidArgumentException} naming {@code job.health_policy.<field>}).
 *
 * <pre>{@code
 * Jobs.cron("0 3 * * *").name("nightly").handler("send_report")
 *     .healthPolicy(HealthPolicy.builder()
 *         .maxStartDelay(Duration.ofSeconds(30)).maxDuration(Duration.ofMinutes(10))
 *         .consecutiveFailures(3).alertOnMissed(true).pauseOnFailure(true).build());
 * }</pre>
 *
 * @param maxStartDelay a firing not started this long after its instant makes the job {@link
 *     HealthState#LATE}; zero: never (the default)
 * @param maxDuration an execution still running this long after it started makes the job {@link
 *     HealthState#OVERRUNNING}; zero: never (the default)
 * @param consecutiveFailures this many finished attempts in a row that failed or timed out make
 *     the job {@link HealthState#FAILING}; 1 to 100, default 3
 * @param alertOnMissed whether a slot skipped by the misfire or overlap policy makes the job
 *     {@link HealthState#MISSED}; default true
 * @param pauseOnFailure the job pauses itself when it becomes FAILING; default false
 */
public record HealthPolicy(
    Duration maxStartDelay,
    Duration maxDuration,
    Integer consecutiveFailures,
    Boolean alertOnMissed,
    Boolean pauseOnFailure) {

  /** A policy with nothing set yet: each field left unset takes the platform's default. */
  public static Builder builder() {
    return new Builder();
  }

  /** The generated message, with the {@code null} components unset. */
  public dev.cronstream.v1.HealthPolicy proto() {
    dev.cronstream.v1.HealthPolicy.Builder b = dev.cronstream.v1.HealthPolicy.newBuilder();
    if (maxStartDelay != null) {
      b.setMaxStartDelay(Convert.duration(maxStartDelay));
    }
    if (maxDuration != null) {
      b.setMaxDuration(Convert.duration(maxDuration));
    }
    if (consecutiveFailures != null) {
      b.setConsecutiveFailures(consecutiveFailures);
    }
    if (alertOnMissed != null) {
      b.setAlertOnMissed(alertOnMissed);
    }
    if (pauseOnFailure != null) {
      b.setPauseOnFailure(pauseOnFailure);
    }
    return b.build();
  }

  /** Builds a {@link HealthPolicy}; not thread-safe. */
  public static final class Builder {
    private Duration maxStartDelay;
    private Duration maxDuration;
    private Integer consecutiveFailures;
    private Boolean alertOnMissed;
    private Boolean pauseOnFailure;

    private Builder() {}

    /** A firing not started this long after its instant makes the job LATE (at most 7 days). */
    public Builder maxStartDelay(Duration delay) {
      this.maxStartDelay = Objects.requireNonNull(delay, "delay");
      return this;
    }

    /** An execution still running this long after it started makes the job OVERRUNNING (at most 7 days). */
    public Builder maxDuration(Duration duration) {
      this.maxDuration = Objects.requireNonNull(duration, "duration");
      return this;
    }

    /** This many finished attempts in a row that failed or timed out make the job FAILING (1 to 100). */
    public Builder consecutiveFailures(int n) {
      this.consecutiveFailures = n;
      return this;
    }

    /** Whether a slot skipped by the misfire or overlap policy makes the job MISSED. */
    public Builder alertOnMissed(boolean alert) {
      this.alertOnMissed = alert;
      return this;
    }

    /** Whether the job pauses itself when it becomes FAILING. */
    public Builder pauseOnFailure(boolean pause) {
      this.pauseOnFailure = pause;
      return this;
    }

    public HealthPolicy build() {
      return new HealthPolicy(maxStartDelay, maxDuration, consecutiveFailures, alertOnMissed, pauseOnFailure);
    }
  }
}
