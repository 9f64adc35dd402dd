package dev.cronstream;

/** Why an execution exists. {@link #UNKNOWN} stands for a value this client does not know (a newer server's). */
public enum ExecutionTrigger {
  /** A slot of the job's schedule. */
  SCHEDULE(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_SCHEDULE),
  /** {@code RunJob}. */
  MANUAL(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_MANUAL),
  /** {@code TriggerEvent}. */
  EVENT(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_EVENT),
  /** {@code BackfillJob}: a past slot of the schedule, run late on purpose. */
  BACKFILL(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_BACKFILL),
  UNKNOWN(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_UNSPECIFIED);

  private final dev.cronstream.v1.ExecutionTrigger proto;

  ExecutionTrigger(dev.cronstream.v1.ExecutionTrigger proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.ExecutionTrigger proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static ExecutionTrigger of(dev.cronstream.v1.ExecutionTrigger proto) {
    for (ExecutionTrigger v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
