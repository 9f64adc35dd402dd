package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.ExecutionLog;
import dev.cronstream.v1.ExecutionStatus;
import dev.cronstream.v1.JobStatus;
import dev.cronstream.v1.JobType;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The Java face of the API: enums, java.time values, job specs, typed payloads. */
class ConvenienceTest {
  record Report(String recipient, int copies) {}

  private static Timestamp ts(long seconds, int nanos) {
    return Timestamp.newBuilder().setSeconds(seconds).setNanos(nanos).build();
  }

  private static com.google.protobuf.Duration pd(long seconds, int nanos) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(seconds).setNanos(nanos).build();
  }

  @Test
  void enumsPrintPlainNamesAndRoundTrip() {
    assertEquals("ACTIVE", dev.cronstream.JobStatus.of(JobStatus.JOB_STATUS_ACTIVE).toString());
    assertEquals("SUCCESS", dev.cronstream.ExecutionStatus.of(ExecutionStatus.EXECUTION_STATUS_SUCCESS).toString());
    assertEquals("ONE_TIME", dev.cronstream.JobType.of(JobType.JOB_TYPE_ONE_TIME).name());
    for (dev.cronstream.JobStatus s : dev.cronstream.JobStatus.values()) {
      assertEquals(s, dev.cronstream.JobStatus.of(s.proto()));
    }
    for (dev.cronstream.ExecutionStatus s : dev.cronstream.ExecutionStatus.values()) {
      assertEquals(s, dev.cronstream.ExecutionStatus.of(s.proto()));
      assertFalse(s.name().startsWith("EXECUTION_STATUS"));
    }
    // every wire value has its Java value (a new one in the proto needs one here too)
    Arrays.stream(JobStatus.values()).filter(v -> v != JobStatus.UNRECOGNIZED && v != JobStatus.JOB_STATUS_UNSPECIFIED)
        .forEach(v -> assertEquals(v.name(), "JOB_STATUS_" + dev.cronstream.JobStatus.of(v).name()));
    Arrays.stream(ExecutionStatus.values())
        .filter(v -> v != ExecutionStatus.UNRECOGNIZED && v != ExecutionStatus.EXECUTION_STATUS_UNSPECIFIED)
        .forEach(v -> assertEquals(v.name(), "EXECUTION_STATUS_" + dev.cronstream.ExecutionStatus.of(v).name()));
    assertEquals(dev.cronstream.JobStatus.UNKNOWN, dev.cronstream.JobStatus.of(JobStatus.UNRECOGNIZED));
  }

  /**
   * {@code java} mirrors the generated enum {@code wire}: each wire value but UNSPECIFIED has the
   * Java value of its name without {@code prefix}, UNSPECIFIED and values newer than the client
   * are {@code unknown}, and every Java value goes to the wire and back.
   */
  private static <J extends Enum<J>, P extends Enum<P>> void assertMirrors(
      J[] java, P[] wire, String prefix, Function<P, J> of, Function<J, P> proto, J unknown) {
    for (J v : java) {
      assertEquals(v, of.apply(proto.apply(v)));
      assertFalse(v.toString().startsWith(prefix), v.toString());
    }
    for (P v : wire) {
      if (v.name().equals("UNRECOGNIZED") || v.name().equals(prefix + "UNSPECIFIED")) {
        assertEquals(unknown, of.apply(v), v.name());
      } else {
        assertEquals(v.name(), prefix + of.apply(v).name());
      }
    }
    assertEquals(wire.length - 1, java.length, "one Java value per wire value, UNKNOWN for UNSPECIFIED");
  }

  @Test
  void priorityPoliciesAndLogLevelMirrorTheProto() {
    assertMirrors(Priority.values(), dev.cronstream.v1.Priority.values(), "PRIORITY_",
        Priority::of, Priority::proto, Priority.UNKNOWN);
    assertMirrors(OverlapPolicy.values(), dev.cronstream.v1.OverlapPolicy.values(), "OVERLAP_POLICY_",
        OverlapPolicy::of, OverlapPolicy::proto, OverlapPolicy.UNKNOWN);
    assertMirrors(MisfirePolicy.values(), dev.cronstream.v1.MisfirePolicy.values(), "MISFIRE_POLICY_",
        MisfirePolicy::of, MisfirePolicy::proto, MisfirePolicy.UNKNOWN);
    assertMirrors(LogLevel.values(), dev.cronstream.v1.LogLevel.values(), "LOG_LEVEL_",
        LogLevel::of, LogLevel::proto, LogLevel.UNKNOWN);
    assertEquals("CANCEL_PREVIOUS", OverlapPolicy.of(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_CANCEL_PREVIOUS).toString());
  }

  @Test
  void jobHasInstantsDurationsAndItsProto() {
    dev.cronstream.v1.Job p = dev.cronstream.v1.Job.newBuilder()
        .setId("j1").setName("nightly").setHandlerName("send_report")
        .setStatus(JobStatus.JOB_STATUS_ACTIVE).setType(JobType.JOB_TYPE_CRON)
        .setNextRun(ts(1_796_000_000L, 500_000_000))
        .setRetryDelay(pd(90, 0)).setTimeout(pd(0, 250_000_000))
        .setPayload(Payloads.toStruct(Map.of("recipient", "ops@example.com", "copies", 2)))
        .addTags("reports").build();
    Job job = Convert.job(p);
    assertEquals(dev.cronstream.JobStatus.ACTIVE, job.status());
    assertEquals(Instant.ofEpochSecond(1_796_000_000L, 500_000_000), job.nextRun());
    assertNull(job.lastRun(), "absent timestamps are null, not 1970");
    assertNull(job.maxRetries(), "absent: the server's default");
    assertEquals(Duration.ofSeconds(90), job.retryDelay());
    assertEquals(Duration.ofMillis(250), job.timeout());
    assertNull(job.avgDuration());
    assertEquals(List.of("reports"), job.tags());
    assertEquals(new Report("ops@example.com", 2), job.payload(Report.class));
    assertEquals(p, job.proto());
    String printed = job.toString();
    assertTrue(printed.contains("status=ACTIVE") && printed.contains("retryDelay=PT1M30S"), printed);
    assertFalse(printed.contains("seconds:"), printed);
    assertEquals(Priority.UNKNOWN, job.priority(), "unset: the server did not say");
    assertNull(job.catchupWindow());
    assertNull(job.jitter());
  }

  @Test
  void jobHasPriorityPoliciesAndTheirDurations() {
    Job job = Convert.job(dev.cronstream.v1.Job.newBuilder()
        .setPriority(dev.cronstream.v1.Priority.PRIORITY_CRITICAL)
        .setOverlapPolicy(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE)
        .setMisfirePolicyValue(99) // a newer server's
        .setCatchupWindow(pd(3600, 0)).setJitter(pd(0, 0)).build());
    assertEquals(Priority.CRITICAL, job.priority());
    assertEquals(OverlapPolicy.BUFFER_ONE, job.overlapPolicy());
    assertEquals(MisfirePolicy.UNKNOWN, job.misfirePolicy());
    assertEquals(Duration.ofHours(1), job.catchupWindow());
    assertEquals(Duration.ZERO, job.jitter(), "present and zero: no jitter, not absent");
    String printed = job.toString();
    assertTrue(printed.contains("priority=CRITICAL") && printed.contains("overlapPolicy=BUFFER_ONE"), printed);
  }

  @Test
  void logLineHasAnInstantAndALevel() {
    Instant at = Instant.parse("2026-12-01T02:30:00.123456789Z");
    ExecutionLog p = ExecutionLog.newBuilder().setExecutionId("e1").setAttempt(2)
        .setTime(ts(at.getEpochSecond(), at.getNano()))
        .setLevel(dev.cronstream.v1.LogLevel.LOG_LEVEL_WARN).setMessage("disk almost full").build();
    LogLine line = Convert.logLine(p);
    assertEquals(new LogLine("e1", 2, at, LogLevel.WARN, "disk almost full", p), line);
    assertEquals("2026-12-01T02:30:00.123456789Z", line.time().toString(), "an instant on the UTC time line");
    assertEquals(p, line.proto());
    assertFalse(line.toString().contains("seconds:"), line.toString());

    LogLine bare = Convert.logLine(ExecutionLog.newBuilder().setMessage("m").build());
    assertNull(bare.time(), "absent timestamps are null, not 1970");
    assertEquals(LogLevel.UNKNOWN, bare.level());
  }

  @Test
  void executionHasJavaTypes() {
    dev.cronstream.v1.Execution p = dev.cronstream.v1.Execution.newBuilder()
        .setId("e1").setJobId("j1").setStatus(ExecutionStatus.EXECUTION_STATUS_SUCCESS).setAttempt(2)
        .setStartedAt(ts(100, 0)).setCompletedAt(ts(101, 5)).setDuration(pd(1, 5))
        .setResult(Payloads.toStruct(Map.of("recipient", "x@y", "copies", 1))).build();
    Execution e = Convert.execution(p);
    assertEquals(dev.cronstream.ExecutionStatus.SUCCESS, e.status());
    assertEquals(Instant.ofEpochSecond(101, 5), e.completedAt());
    assertEquals(Duration.ofSeconds(1, 5), e.duration());
    assertNull(e.nextRetryAt());
    assertEquals(new Report("x@y", 1), e.result(Report.class));
    assertEquals(p, e.proto());
  }

  @Test
  void jobsFromPlainValues() {
    dev.cronstream.v1.Job cron = Jobs.cron("30 2 * * *", ZoneId.of("Europe/Berlin"))
        .name("nightly").handler("send_report").payload(new Report("ops@example.com", 2))
        .maxRetries(5).retryDelay(Duration.ofSeconds(30)).timeout(Duration.ofMinutes(5))
        .priority(Priority.HIGH).overlapPolicy(OverlapPolicy.SKIP).misfirePolicy(MisfirePolicy.RUN_ALL)
        .catchupWindow(Duration.ofMinutes(90)).jitter(Duration.ofMillis(1500)).proto();
    assertEquals("30 2 * * *", cron.getCron().getExpression());
    assertEquals("Europe/Berlin", cron.getCron().getTimezone());
    assertEquals("send_report", cron.getHandlerName());
    assertEquals(Map.of("recipient", "ops@example.com", "copies", 2.0), Payloads.toMap(cron.getPayload()));
    assertEquals(5, cron.getMaxRetries());
    assertEquals(pd(30, 0), cron.getRetryDelay());
    assertEquals(pd(300, 0), cron.getTimeout());
    assertEquals(dev.cronstream.v1.Priority.PRIORITY_HIGH, cron.getPriority());
    assertEquals(dev.cronstream.v1.OverlapPolicy.OVERLAP_POLICY_SKIP, cron.getOverlapPolicy());
    assertEquals(dev.cronstream.v1.MisfirePolicy.MISFIRE_POLICY_RUN_ALL, cron.getMisfirePolicy());
    assertEquals(pd(5400, 0), cron.getCatchupWindow());
    assertEquals(pd(1, 500_000_000), cron.getJitter());
    dev.cronstream.v1.Job plain = Jobs.cron("* * * * *").proto();
    assertFalse(plain.hasCatchupWindow() || plain.hasJitter(), "unset: the server's defaults");
    assertEquals(dev.cronstream.v1.Priority.PRIORITY_UNSPECIFIED, plain.getPriority());
    assertEquals("UTC", Jobs.cron("* * * * *").proto().getCron().getTimezone());

    Instant at = Instant.parse("2026-12-01T02:30:00.123Z");
    assertEquals(ts(at.getEpochSecond(), 123_000_000), Jobs.once(at).proto().getOnce().getRunAt());

    dev.cronstream.v1.Job every = Jobs.every(Duration.ofSeconds(2)).startingAt(at).maxRuns(3).proto();
    assertEquals(pd(2, 0), every.getInterval().getEvery());
    assertEquals(3, every.getInterval().getMaxRuns());
    assertThrows(IllegalStateException.class, () -> Jobs.cron("* * * * *").maxRuns(3));
    assertEquals("invoice.paid", Jobs.onEvent("invoice.paid").proto().getEvent().getEventName());

    assertEquals(Map.of("a", 1.0), Payloads.toMap(Jobs.cron("* * * * *").payload(Map.of("a", 1)).proto().getPayload()));
    assertThrows(IllegalArgumentException.class, () -> Jobs.cron("* * * * *").payload(List.of(1, 2)));
  }

  @Test
  void typedPayloadRoundTripAndRefusals() {
    Report r = new Report("ops@example.com", 3);
    assertEquals(r, Json.fromStruct(Json.toStruct(r), Report.class));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Json.fromStruct(Payloads.toStruct(Map.of("copies", 2.5)), Report.class));
    assertTrue(e.getMessage().contains(Report.class.getName()), e.getMessage());
  }

  @Test
  void typedHandlerConversionFailureIsNonRetryable() {
    Handler h = Worker.typed(Report.class, (ctx, report) -> report);
    // the context only has to hand out the payload, so a bare one is enough
    JobContext ctx = new JobContext(new Attempt(dev.cronstream.v1.Assignment.newBuilder()
        .setExecutionId("e1").setAttempt(1)
        .setPayload(Payloads.toStruct(Map.of("copies", List.of()))).build()), null);
    Exception thrown = assertThrows(Exception.class, () -> h.handle(ctx));
    assertTrue(NonRetryableException.isNonRetryable(thrown), thrown.toString());
  }
}
