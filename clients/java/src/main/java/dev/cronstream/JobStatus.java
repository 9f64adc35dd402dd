package dev.cronstream;

/** The lifecycle state of a job. {@link #UNKNOWN} stands for a value this client does not know (a newer server's). */
public enum JobStatus {
  PENDING(dev.cronstream.v1.JobStatus.JOB_STATUS_PENDING),
  ACTIVE(dev.cronstream.v1.JobStatus.JOB_STATUS_ACTIVE),
  PAUSED(dev.cronstream.v1.JobStatus.JOB_STATUS_PAUSED),
  COMPLETED(dev.cronstream.v1.JobStatus.JOB_STATUS_COMPLETED),
  FAILED(dev.cronstream.v1.JobStatus.JOB_STATUS_FAILED),
  CANCELLED(dev.cronstream.v1.JobStatus.JOB_STATUS_CANCELLED),
  UNKNOWN(dev.cronstream.v1.JobStatus.JOB_STATUS_UNSPECIFIED);

  private final dev.cronstream.v1.JobStatus proto;

  JobStatus(dev.cronstream.v1.JobStatus proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.JobStatus proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static JobStatus of(dev.cronstream.v1.JobStatus proto) {
    for (JobStatus v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
