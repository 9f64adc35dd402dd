package dev.cronstream;

/**
 * What the server does when a slot comes due while an earlier execution of the same job is still
 * pending or running: {@link #ALLOW} runs both, {@link #SKIP} records the new slot as skipped,
 * {@link #BUFFER_ONE} keeps at most one waiting, {@link #CANCEL_PREVIOUS} cancels the running one.
 * {@link #UNKNOWN} stands for a value this client does not know (a newer server's); given to
 * {@link JobSpec#overlapPolicy}, it leaves the server's default, {@link #ALLOW}.
 */
public enum OverlapPolicy {
  ALLOW(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_ALLOW),
  SKIP(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_SKIP),
  BUFFER_ONE(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE),
  CANCEL_PREVIOUS(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_CANCEL_PREVIOUS),
  UNKNOWN(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_UNSPECIFIED);

  private final dev.cronstream.v1.OverlapPolicy proto;

  OverlapPolicy(dev.cronstream.v1.OverlapPolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.OverlapPolicy proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static OverlapPolicy of(dev.cronstream.v1.OverlapPolicy proto) {
    for (OverlapPolicy v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
