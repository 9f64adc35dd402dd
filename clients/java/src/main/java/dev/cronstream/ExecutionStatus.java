package dev.cronstream;

/** The state of an execution. {@link #UNKNOWN} stands for a value this client does not know (a newer server's). */
public enum ExecutionStatus {
  PENDING(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_PENDING),
  RUNNING(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_RUNNING),
  SUCCESS(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_SUCCESS),
  FAILED(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_FAILED),
  TIMEOUT(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_TIMEOUT),
  CANCELLED(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_CANCELLED),
  SKIPPED(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_SKIPPED),
  UNKNOWN(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_UNSPECIFIED);

  private final dev.cronstream.v1.ExecutionStatus proto;

  ExecutionStatus(dev.cronstream.v1.ExecutionStatus proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.ExecutionStatus proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static ExecutionStatus of(dev.cronstream.v1.ExecutionStatus proto) {
    for (ExecutionStatus v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
