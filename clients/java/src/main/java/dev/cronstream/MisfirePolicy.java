package dev.cronstream;

/**
 * What the server does with slots missed while no replica was running: {@link #RUN_ONCE} runs one
 * execution for all of them, {@link #RUN_ALL} runs each one within the catch-up window ({@link
 * JobSpec#catchupWindow}), {@link #SKIP} records them as skipped. {@link #UNKNOWN} stands for a
 * value this client does not know (a newer server's); given to {@link JobSpec#misfirePolicy}, it
 * leaves the server's default, {@link #RUN_ONCE}.
 */
public enum MisfirePolicy {
  RUN_ONCE(dev.cronstream.v1.MisfirePolicy.MISFIRE_POLICY_RUN_ONCE),
  RUN_ALL(dev.cronstream.v1.MisfirePolicy.MISFIRE_POLICY_RUN_ALL),
  SKIP(dev.cronstream.v1.MisfirePolicy.MISFIRE_POLICY_SKIP),
  UNKNOWN(dev.cronstream.v1.MisfirePolicy.MISFIRE_POLICY_UNSPECIFIED);

  private final dev.cronstream.v1.MisfirePolicy proto;

  MisfirePolicy(dev.cronstream.v1.MisfirePolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.MisfirePolicy proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static MisfirePolicy of(dev.cronstream.v1.MisfirePolicy proto) {
    for (MisfirePolicy v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
