package dev.cronstream;

/**
 * A job's dispatch priority: when workers are short, higher priorities are assigned first.
 * {@link #UNKNOWN} stands for a value this client does not know (a newer server's); given to
 * {@link JobSpec#priority}, it leaves the server's default, {@link #MEDIUM}.
 */
public enum Priority {
  LOW(dev.cronstream.v1.Priority.PRIORITY_LOW),
  MEDIUM(dev.cronstream.v1.Priority.PRIORITY_MEDIUM),
  HIGH(dev.cronstream.v1.Priority.PRIORITY_HIGH),
  CRITICAL(dev.cronstream.v1.Priority.PRIORITY_CRITICAL),
  UNKNOWN(dev.cronstream.v1.Priority.PRIORITY_UNSPECIFIED);

  private final dev.cronstream.v1.Priority proto;

  Priority(dev.cronstream.v1.Priority proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.Priority proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static Priority of(dev.cronstream.v1.Priority proto) {
    for (Priority v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
