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
  /** Waits for the jobs it depends on ({@link Execution#waitingFor()}): not final. */
  WAITING(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_WAITING),
  UNKNOWN(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_UNSPECIFIED);

  private final dev.cronstream.v1.ExecutionStatus proto;

  ExecutionStatus(dev.cronstream.v1.ExecutionStatus proto) {
    this.proto = proto;
  }

  /**
   * Whether the execution has ended: {@link #SUCCESS}, {@link #FAILED}, {@link #TIMEOUT}, {@link
   * #CANCELLED} or {@link #SKIPPED}. {@link #PENDING}, {@link #RUNNING} and {@link #WAITING} have
   * not.
   */
  public boolean isFinal() {
    return switch (this) {
      case SUCCESS, FAILED, TIMEOUT, CANCELLED, SKIPPED -> true;
      default -> false;
    };
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
