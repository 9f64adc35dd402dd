package dev.cronstream;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A previewed range as a whole.
 *
 * @param instantsPerMonth instants per calendar month of the zone ({@code "2026-03"}), in order
 * @param clockChanges every change of the zone's offset the range crosses, in order
 * @param p95Duration for an existing job with successful executions, the 95th percentile of their
 *     durations; {@code null} otherwise
 * @param predictedOverlaps with {@code p95Duration}: instants that come sooner after the one
 *     before than it (a run likely still going)
 * @param truncated the preview stopped at its count before its end
 */
public record PreviewSummary(
    Map<String, Integer> instantsPerMonth,
    List<ClockChange> clockChanges,
    Duration p95Duration,
    int predictedOverlaps,
    boolean truncated) {}
