package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.MonthCount;
import dev.cronstream.v1.PreviewScheduleResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The scheduling controls' Java face, without a server: specs, views, requests, previews, rate limits. */
class SchedulingTest {
  private static final Instant AT = Instant.parse("2030-05-06T07:08:09Z");
  private static final Instant JUMP = Instant.parse("2026-03-29T01:00:00Z"); // 02:00 CET becomes 03:00 CEST

  private static Timestamp ts(Instant i) {
    return Convert.timestamp(i);
  }

  @Test
  void aJobSpecCarriesItsLimitsAndDependencies() {
    dev.cronstream.v1.Job m = Jobs.cron("0 * * * *").name("load").handler("load_customer")
        .concurrency("customer:{payload.customer_id}", 2)
        .rateLimitKey("crm-api")
        .dependsOn(List.of("j_extract"))
        .maxWait(Duration.ofHours(2))
        .proto();
    assertEquals("customer:{payload.customer_id}", m.getConcurrency().getKey());
    assertEquals(2, m.getConcurrency().getLimit());
    assertEquals("crm-api", m.getRateLimitKey());
    assertEquals(List.of("j_extract"), m.getDependsOnList());
    assertEquals(7200, m.getMaxWait().getSeconds());
    assertFalse(Jobs.cron("0 * * * *").proto().hasConcurrency());
  }

  @Test
  void aJobReadsItsPauseDeadlineLimitsAndDependencies() {
    Job job = Convert.job(Jobs.cron("0 * * * *").concurrency("warehouse", 4).rateLimitKey("k")
        .dependsOn(List.of("j0")).maxWait(Duration.ofMinutes(30)).proto().toBuilder()
        .setPausedUntil(ts(AT)).build());
    assertEquals(AT, job.pausedUntil());
    assertEquals(new ConcurrencyLimit("warehouse", 4), job.concurrency());
    assertEquals("k", job.rateLimitKey());
    assertEquals(List.of("j0"), job.dependsOn());
    assertEquals(Duration.ofMinutes(30), job.maxWait());
    Job bare = Convert.job(dev.cronstream.v1.Job.getDefaultInstance());
    assertNull(bare.pausedUntil());
    assertNull(bare.concurrency());
    assertNull(bare.maxWait());
    assertEquals(List.of(), bare.dependsOn());
  }

  @Test
  void aWaitingExecutionReadsWhatItWaitsForAndHasNotEnded() {
    Execution e = Convert.execution(dev.cronstream.v1.Execution.newBuilder()
        .setId("e1")
        .setStatus(dev.cronstream.v1.ExecutionStatus.EXECUTION_STATUS_WAITING)
        .setTrigger(dev.cronstream.v1.ExecutionTrigger.EXECUTION_TRIGGER_BACKFILL)
        .setConcurrencyKey("customer:42")
        .setRateLimitKey("crm-api")
        .addWaitingFor("j_extract")
        .setWaitDeadline(ts(AT))
        .build());
    assertEquals(ExecutionStatus.WAITING, e.status());
    assertEquals(ExecutionTrigger.BACKFILL, e.trigger());
    assertEquals("customer:42", e.concurrencyKey());
    assertEquals("crm-api", e.rateLimitKey());
    assertEquals(List.of("j_extract"), e.waitingFor());
    assertEquals(AT, e.waitDeadline());
    assertEquals(
        List.of(ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED,
            ExecutionStatus.SKIPPED),
        Arrays.stream(ExecutionStatus.values()).filter(ExecutionStatus::isFinal).toList());
    for (ExecutionTrigger t : ExecutionTrigger.values()) {
      assertEquals(t, ExecutionTrigger.of(t.proto()));
    }
  }

  @Test
  void selectorsAndBackfillsBecomeTheirMessages() {
    var sel = JobSelector.tagged("etl").withHandler("load").withNamePrefix("nightly-").proto();
    assertEquals(List.of("etl"), sel.getTagsList());
    assertEquals("load", sel.getHandlerName());
    assertEquals("nightly-", sel.getNamePrefix());
    assertFalse(sel.getAll());
    assertTrue(JobSelector.allJobs().proto().getAll());

    Instant start = AT.minus(Duration.ofDays(7));
    var req = CronstreamClient.backfillRequest("j1", start, AT, OverlapPolicy.BUFFER_ONE);
    assertEquals("j1", req.getId());
    assertEquals(start, Convert.instant(req.getStartTime()));
    assertEquals(AT, Convert.instant(req.getEndTime()));
    assertEquals(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE, req.getOverlapPolicy());
    assertEquals(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_UNSPECIFIED,
        CronstreamClient.backfillRequest("j1", start, AT, OverlapPolicy.UNKNOWN).getOverlapPolicy());
  }

  @Test
  void theBulkLoopAddsUpEachCallAndStopsWithoutProgress() {
    var steps = new ArrayDeque<>(List.of(new BulkChange(1000, 1500), new BulkChange(1000, 500), new BulkChange(500, 0)));
    assertEquals(new BulkChange(2500, 0), CronstreamClient.untilNoneRemain(steps::poll));
    AtomicInteger calls = new AtomicInteger();
    assertEquals(new BulkChange(0, 7), CronstreamClient.untilNoneRemain(() -> {
      calls.incrementAndGet();
      return new BulkChange(0, 7);
    }));
    assertEquals(1, calls.get());
  }

  @Test
  void aPreviewRequestTakesARange() {
    Instant before = Instant.parse("2026-04-01T00:00:00Z");
    var req = CronstreamClient.previewRequest(null, before, 0)
        .setJob(Jobs.cron("30 2 * * *", ZoneId.of("Europe/Berlin")).proto()).build();
    assertEquals("Europe/Berlin", req.getJob().getCron().getTimezone());
    assertEquals(before, Convert.instant(req.getEndTime()));
    assertFalse(req.hasStartTime());
    assertEquals(0, req.getCount());
  }

  @Test
  void aPreviewReadsItsDstMarksAndSummary() {
    SchedulePreview p = ScheduleConvert.preview(PreviewScheduleResponse.newBuilder()
        .addTimes(ts(JUMP))
        .addInstants(dev.cronstream.v1.ScheduledInstant.newBuilder()
            .setTime(ts(JUMP)).setLocalTime("2026-03-29T03:00:00+02:00").setUtcOffsetSeconds(7200)
            .setShifted(true).setScheduledWallTime("02:30"))
        .setSummary(dev.cronstream.v1.PreviewSummary.newBuilder()
            .addInstantsPerMonth(MonthCount.newBuilder().setMonth("2026-03").setCount(3))
            .addInstantsPerMonth(MonthCount.newBuilder().setMonth("2026-04").setCount(1))
            .addClockChanges(dev.cronstream.v1.ClockChange.newBuilder()
                .setAt(ts(JUMP)).setOffsetBeforeSeconds(3600).setOffsetAfterSeconds(7200))
            .setP95Duration(Convert.duration(Duration.ofMinutes(25)))
            .setPredictedOverlaps(2)
            .setTruncated(true))
        .build());
    ZoneOffset cest = ZoneOffset.ofHours(2);
    assertEquals(
        List.of(new ScheduledInstant(JUMP, OffsetDateTime.of(2026, 3, 29, 3, 0, 0, 0, cest), cest, true, "02:30", false)),
        p.instants());
    assertEquals(List.of("2026-03", "2026-04"), List.copyOf(p.summary().instantsPerMonth().keySet()));
    assertEquals(Map.of("2026-03", 3, "2026-04", 1), p.summary().instantsPerMonth());
    assertEquals(List.of(new ClockChange(JUMP, ZoneOffset.ofHours(1), cest, List.of())), p.summary().clockChanges());
    assertEquals(Duration.ofMinutes(25), p.summary().p95Duration());
    assertEquals(2, p.summary().predictedOverlaps());
    assertTrue(p.summary().truncated());
    assertEquals(List.of(JUMP), p.times());

    // Without the server's wall-clock text, the offset alone gives it.
    ScheduledInstant bare = ScheduleConvert.instant(
        dev.cronstream.v1.ScheduledInstant.newBuilder().setTime(ts(JUMP)).setUtcOffsetSeconds(7200).build());
    assertEquals(OffsetDateTime.of(2026, 3, 29, 3, 0, 0, 0, cest), bare.localTime());
  }

  @Test
  void aRateLimitIsOfAKeyOrOfAHandlerNeverBoth() {
    var byKey = ScheduleConvert.rateLimitMessage(RateLimitScope.key("customer:{payload.id}"), 10, Duration.ofSeconds(1), 20);
    assertEquals(dev.cronstream.v1.RateLimit.ScopeCase.KEY, byKey.getScopeCase());
    assertEquals("customer:{payload.id}", byKey.getKey());
    assertEquals(10, byKey.getLimit());
    assertEquals(1, byKey.getPer().getSeconds());
    assertEquals(20, byKey.getBurst());
    var del = ScheduleConvert.deleteRequest(RateLimitScope.handler("send_sms"));
    assertEquals("send_sms", del.getHandlerName());
    assertThrows(IllegalArgumentException.class, () -> new RateLimitScope("", ""));
    assertThrows(IllegalArgumentException.class, () -> new RateLimitScope("k", "h"));

    RateLimit stored = ScheduleConvert.rateLimit(dev.cronstream.v1.RateLimit.newBuilder()
        .setHandlerName("send_sms").setLimit(100).setPer(Convert.duration(Duration.ofMinutes(1))).setBurst(150)
        .setPlatformId("p1").setCreatedAt(ts(AT)).build());
    assertEquals(RateLimitScope.handler("send_sms"), stored.scope());
    assertEquals(100, stored.limit());
    assertEquals(Duration.ofMinutes(1), stored.per());
    assertEquals(150, stored.burst());
    assertEquals(AT, stored.createdAt());
    assertNull(stored.updatedAt());
  }
}
