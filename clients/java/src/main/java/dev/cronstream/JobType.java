package dev.cronstream;

/** The kind of a job, from its trigger. {@link #UNKNOWN} stands for a value this client does not know (a newer server's). */
public enum JobType {
  CRON(dev.cronstream.v1.JobType.JOB_TYPE_CRON),
  ONE_TIME(dev.cronstream.v1.JobType.JOB_TYPE_ONE_TIME),
  RECURRING(dev.cronstream.v1.JobType.JOB_TYPE_RECURRING),
  EVENT(dev.cronstream.v1.JobType.JOB_TYPE_EVENT),
  UNKNOWN(dev.cronstream.v1.JobType.JOB_TYPE_UNSPECIFIED);

  private final dev.cronstream.v1.JobType proto;

  JobType(dev.cronstream.v1.JobType proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.JobType proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static JobType of(dev.cronstream.v1.JobType proto) {
    for (JobType v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
