package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The scheduling controls (pause until, bulk pause and resume, backfill, the preview's DST marks,
 * rate limits, job limits and dependencies) against a live server; skipped unless {@code
 * CRONSTREAM_E2E_ADDR} is set:
 *
 * <pre>
 * CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=cs_... mvn -B test -Dtest=SchedulingEndToEndTest
 * </pre>
 *
 * It needs a server with issue 16's RPCs (one without them answers UNIMPLEMENTED, and these tests
 * fail).
 */
@EnabledIfEnvironmentVariable(named = "CRONSTREAM_E2E_ADDR", matches = ".+",
    disabledReason = "CRONSTREAM_E2E_ADDR is not set: no live Cronstream server to run the scheduling scenario against")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(60)
class SchedulingEndToEndTest {
  private static final String YEARLY = "0 3 1 1 *"; // far from any run's wall clock
  private static final Instant JUMP = Instant.parse("2026-03-29T01:00:00Z");

  private CronstreamClient client;
  private String name;

  @BeforeAll
  void connect() {
    boolean tls = Optional.ofNullable(System.getenv("CRONSTREAM_E2E_TLS")).filter(s -> !s.isEmpty()).isPresent();
    client = CronstreamClient.connect(System.getenv("CRONSTREAM_E2E_ADDR"), System.getenv("CRONSTREAM_E2E_API_KEY"), tls);
    name = "java-sched-" + UUID.randomUUID().toString().substring(0, 8);
  }

  @AfterAll
  void close() {
    client.close();
  }

  private Job yearly(String suffix, List<String> tags) {
    return client.createJob(Jobs.cron(YEARLY).name(name + "-" + suffix).handler("h").tags(tags));
  }

  @Test
  void pauseUntilReadsBack() {
    Job job = yearly("pause", List.of());
    Instant until = Instant.now().truncatedTo(ChronoUnit.HOURS).plus(Duration.ofHours(3));
    Job paused = client.pauseJob(job.id(), until);
    assertEquals(JobStatus.PAUSED, paused.status());
    assertEquals(until, paused.pausedUntil());
    assertThrows(InvalidArgumentException.class, () -> client.pauseJob(job.id(), Instant.now().minusSeconds(60)));
  }

  @Test
  void pauseAndResumeByTagInBatches() {
    String tag = name + "-bulk";
    for (int i = 0; i < 5; i++) {
      yearly("bulk-" + i, List.of(tag));
    }
    assertEquals(new BulkChange(2, 3), client.pauseJobs(JobSelector.tagged(tag), null, 2));
    assertEquals(new BulkChange(3, 0), client.pauseMatchingJobs(JobSelector.tagged(tag), null, 2));
    assertEquals(new BulkChange(5, 0), client.resumeMatchingJobs(JobSelector.tagged(tag), 0));
    assertThrows(InvalidArgumentException.class,
        () -> client.pauseJobs(new JobSelector(List.of(), "", "", false), null, 0));
  }

  @Test
  void aBackfillCreatesEachPastInstantOnce() {
    Job job = client.createJob(Jobs.cron("0 * * * *").name(name + "-hourly").handler("h"));
    Instant end = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(1));
    Instant start = end.minus(Duration.ofHours(6));
    assertEquals(new Backfill(6, 6, 0), client.backfillJob(job.id(), start, end));
    assertEquals(new Backfill(6, 0, 6), client.backfillJob(job.id(), start, end, OverlapPolicy.ALLOW));
    List<Instant> slots = client.listExecutions(job.id())
        .filter(e -> e.trigger() == ExecutionTrigger.BACKFILL)
        .map(Execution::scheduledAt)
        .sorted()
        .toList();
    assertEquals(List.of(0, 1, 2, 3, 4, 5).stream().map(h -> start.plus(Duration.ofHours(h))).toList(), slots);
  }

  @Test
  void thePreviewMarksASpringJumpInBerlin() {
    SchedulePreview p = client.previewSchedule(Jobs.cron("30 2 * * *", ZoneId.of("Europe/Berlin")),
        Instant.parse("2026-03-28T00:00:00Z"), Instant.parse("2026-03-31T00:00:00Z"), 0);
    assertEquals(List.of(Instant.parse("2026-03-28T01:30:00Z"), JUMP, Instant.parse("2026-03-30T00:30:00Z")), p.times());
    ScheduledInstant shifted = p.instants().get(1);
    assertTrue(shifted.shifted());
    assertEquals("02:30", shifted.scheduledWallTime());
    assertEquals("2026-03-29T03:00+02:00", shifted.localTime().toString());
    assertEquals(Map.of("2026-03", 3), p.summary().instantsPerMonth());
    assertEquals(JUMP, p.summary().clockChanges().get(0).at());
  }

  @Test
  void rateLimitsAreSetListedAndDeleted() {
    RateLimitScope scope = RateLimitScope.key(name + ":{payload.id}");
    RateLimit set = client.setRateLimit(scope, 10, Duration.ofSeconds(1));
    assertEquals(scope, set.scope());
    assertEquals(10, set.burst()); // defaults to the limit
    assertTrue(client.listRateLimits().stream().anyMatch(r -> r.scope().equals(scope)));
    client.deleteRateLimit(scope);
    assertThrows(NotFoundException.class, () -> client.deleteRateLimit(scope));
  }

  @Test
  void aJobKeepsItsLimitsAndDependencies() {
    Job upstream = yearly("extract", List.of());
    Job job = client.createJob(Jobs.cron(YEARLY).name(name + "-load").handler("h")
        .concurrency("warehouse", 2).rateLimitKey("customer:{payload.id}")
        .dependsOn(List.of(upstream.id())).maxWait(Duration.ofHours(2)));
    Job read = client.getJob(job.id());
    assertEquals(new ConcurrencyLimit("warehouse", 2), read.concurrency());
    assertEquals("customer:{payload.id}", read.rateLimitKey());
    assertEquals(List.of(upstream.id()), read.dependsOn());
    assertEquals(Duration.ofHours(2), read.maxWait());
  }
}
