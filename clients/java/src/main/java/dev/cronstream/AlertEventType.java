package dev.cronstream;

/**
 * What happened to an alert. {@link #UNKNOWN} stands for a value this client does not know (a
 * newer server's).
 */
public enum AlertEventType {
  /** The alert opened; a webhook's {@code "alert.opened"}. */
  OPENED(dev.cronstream.v1.AlertEventType.ALERT_EVENT_TYPE_OPENED),
  /** The alert resolved; a webhook's {@code "alert.resolved"}. */
  RESOLVED(dev.cronstream.v1.AlertEventType.ALERT_EVENT_TYPE_RESOLVED),
  UNKNOWN(dev.cronstream.v1.AlertEventType.ALERT_EVENT_TYPE_UNSPECIFIED);

  private final dev.cronstream.v1.AlertEventType proto;

  AlertEventType(dev.cronstream.v1.AlertEventType proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.AlertEventType proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static AlertEventType of(dev.cronstream.v1.AlertEventType proto) {
    for (AlertEventType v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
