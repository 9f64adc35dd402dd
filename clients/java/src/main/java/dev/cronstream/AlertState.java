package dev.cronstream;

/** Where an alert stands. {@link #UNKNOWN} stands for a value this client does not know (a newer server's). */
public enum AlertState {
  /** The condition holds. */
  OPEN(dev.cronstream.v1.AlertState.ALERT_STATE_OPEN),
  /** The job is healthy again. */
  RESOLVED(dev.cronstream.v1.AlertState.ALERT_STATE_RESOLVED),
  UNKNOWN(dev.cronstream.v1.AlertState.ALERT_STATE_UNSPECIFIED);

  private final dev.cronstream.v1.AlertState proto;

  AlertState(dev.cronstream.v1.AlertState proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.AlertState proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static AlertState of(dev.cronstream.v1.AlertState proto) {
    for (AlertState v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
