package dev.cronstream;

import java.time.Instant;
import java.util.List;

/**
 * The instants a trigger fires, in increasing order, each with its clock marks, and a summary of
 * the range; {@link #proto()} is the generated response.
 */
public record SchedulePreview(
    List<ScheduledInstant> instants, PreviewSummary summary, dev.cronstream.v1.PreviewScheduleResponse proto) {

  /** The instants alone. */
  public List<Instant> times() {
    return proto.getTimesList().stream().map(Convert::instant).toList();
  }
}
