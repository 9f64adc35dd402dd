package dev.cronstream;

import dev.cronstream.v1.PreviewScheduleResponse;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Protobuf to Java for the scheduling controls: previews and rate limits (as {@link Convert}). */
final class ScheduleConvert {
  private ScheduleConvert() {}

  static SchedulePreview preview(PreviewScheduleResponse r) {
    return new SchedulePreview(
        r.getInstantsList().stream().map(ScheduleConvert::instant).toList(), summary(r.getSummary()), r);
  }

  static ScheduledInstant instant(dev.cronstream.v1.ScheduledInstant i) {
    Instant time = i.hasTime() ? Convert.instant(i.getTime()) : null;
    ZoneOffset offset = ZoneOffset.ofTotalSeconds(i.getUtcOffsetSeconds());
    return new ScheduledInstant(
        time, localTime(i.getLocalTime(), time, offset), offset, i.getShifted(), i.getScheduledWallTime(), i.getRepeatedHour());
  }

  /** The server's wall-clock text; without it (or unreadable), the instant at the offset, which says the same. */
  private static OffsetDateTime localTime(String text, Instant time, ZoneOffset offset) {
    try {
      return OffsetDateTime.parse(text);
    } catch (DateTimeParseException e) {
      return time == null ? null : time.atOffset(offset);
    }
  }

  static PreviewSummary summary(dev.cronstream.v1.PreviewSummary s) {
    Map<String, Integer> perMonth = new LinkedHashMap<>();
    s.getInstantsPerMonthList().forEach(c -> perMonth.put(c.getMonth(), c.getCount()));
    return new PreviewSummary(
        Collections.unmodifiableMap(perMonth),
        s.getClockChangesList().stream().map(ScheduleConvert::clockChange).toList(),
        s.hasP95Duration() ? Convert.duration(s.getP95Duration()) : null,
        s.getPredictedOverlaps(),
        s.getTruncated());
  }

  static ClockChange clockChange(dev.cronstream.v1.ClockChange c) {
    return new ClockChange(
        c.hasAt() ? Convert.instant(c.getAt()) : null,
        ZoneOffset.ofTotalSeconds(c.getOffsetBeforeSeconds()),
        ZoneOffset.ofTotalSeconds(c.getOffsetAfterSeconds()),
        List.copyOf(c.getSkippedWallTimesList()));
  }

  static RateLimit rateLimit(dev.cronstream.v1.RateLimit r) {
    return new RateLimit(
        new RateLimitScope(r.getKey(), r.getHandlerName()),
        r.getLimit(),
        r.hasPer() ? Convert.duration(r.getPer()) : null,
        r.getBurst(),
        r.getPlatformId(),
        r.hasCreatedAt() ? Convert.instant(r.getCreatedAt()) : null,
        r.hasUpdatedAt() ? Convert.instant(r.getUpdatedAt()) : null,
        r);
  }

  static dev.cronstream.v1.RateLimit rateLimitMessage(RateLimitScope scope, int limit, java.time.Duration per, int burst) {
    var b = dev.cronstream.v1.RateLimit.newBuilder().setLimit(limit).setPer(Convert.duration(per)).setBurst(burst);
    return (scope.key().isEmpty() ? b.setHandlerName(scope.handlerName()) : b.setKey(scope.key())).build();
  }

  static dev.cronstream.v1.DeleteRateLimitRequest deleteRequest(RateLimitScope scope) {
    var b = dev.cronstream.v1.DeleteRateLimitRequest.newBuilder();
    return (scope.key().isEmpty() ? b.setHandlerName(scope.handlerName()) : b.setKey(scope.key())).build();
  }
}
