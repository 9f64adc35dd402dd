package dev.cronstream;

/**
 * How a job stands against its health policy, and the kind of an alert. {@link #UNKNOWN} stands
 * for a value this client does not know (a newer server's).
 */
public enum HealthState {
  /** No open alert. */
  HEALTHY(dev.cronstream.v1.HealthState.HEALTH_STATE_HEALTHY),
  /** A firing has not started within {@code maxStartDelay} of its instant. */
  LATE(dev.cronstream.v1.HealthState.HEALTH_STATE_LATE),
  /** A slot was skipped and will not run. */
  MISSED(dev.cronstream.v1.HealthState.HEALTH_STATE_MISSED),
  /** An execution has run longer than {@code maxDuration}. */
  OVERRUNNING(dev.cronstream.v1.HealthState.HEALTH_STATE_OVERRUNNING),
  /** {@code consecutiveFailures} attempts in a row failed or timed out. */
  FAILING(dev.cronstream.v1.HealthState.HEALTH_STATE_FAILING),
  UNKNOWN(dev.cronstream.v1.HealthState.HEALTH_STATE_UNSPECIFIED);

  private final dev.cronstream.v1.HealthState proto;

  HealthState(dev.cronstream.v1.HealthState proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.HealthState proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static HealthState of(dev.cronstream.v1.HealthState proto) {
    for (HealthState v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
