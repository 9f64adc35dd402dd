package dev.cronstream;

import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

/**
 * A change of the zone's UTC offset within a previewed range.
 *
 * @param skippedWallTimes wall times (such as {@code "2026-03-29T02:30"}) the schedule names near
 *     the change that do not fire: in a skipped hour no rule moves, or the second occurrence of a
 *     fixed time in a repeated hour
 */
public record ClockChange(Instant at, ZoneOffset offsetBefore, ZoneOffset offsetAfter, List<String> skippedWallTimes) {}
