package dev.cronstream;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

/**
 * One instant a schedule fires, and what the zone's clock does to it.
 *
 * @param localTime the same instant on the trigger zone's wall clock, with the zone's offset then
 *     ({@code 2026-03-29T03:00+02:00})
 * @param shifted a fixed wall time that a jump forward skipped, fired at the first instant after
 *     the jump (Debian cron's rule, docs/time.md)
 * @param scheduledWallTime when shifted: the wall time the schedule named, such as {@code "02:30"}
 * @param repeatedHour a wildcard-hour schedule firing in an hour the clock repeats: this wall time
 *     comes twice and fires both times
 */
public record ScheduledInstant(
    Instant time,
    OffsetDateTime localTime,
    ZoneOffset utcOffset,
    boolean shifted,
    String scheduledWallTime,
    boolean repeatedHour) {}
