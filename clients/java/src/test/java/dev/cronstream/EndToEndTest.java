package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cronstream.v1.DeleteJobRequest;
import dev.cronstream.v1.ListJobsRequest;
import dev.cronstream.v1.ListJobsResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The client and worker against a live server; skipped unless {@code CRONSTREAM_E2E_ADDR} is set:
 *
 * <pre>
 * CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=cs_... mvn -B test -Dtest=EndToEndTest
 * </pre>
 *
 * {@code CRONSTREAM_E2E_TLS=1} connects over TLS instead of plaintext.
 */
@EnabledIfEnvironmentVariable(named = "CRONSTREAM_E2E_ADDR", matches = ".+",
    disabledReason = "CRONSTREAM_E2E_ADDR is not set: no live Cronstream server to run the end-to-end scenario against")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(120)
class EndToEndTest {
  private static final Set<ExecutionStatus> FINAL = Set.of(
      ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED,
      ExecutionStatus.SKIPPED);

  private CronstreamClient client;
  private Worker worker;
  private String handler;
  private final List<String> created = new CopyOnWriteArrayList<>();

  @BeforeAll
  void startWorker() {
    String addr = System.getenv("CRONSTREAM_E2E_ADDR");
    Assumptions.assumeTrue(addr != null && !addr.isEmpty(),
        "CRONSTREAM_E2E_ADDR is not set: no live Cronstream server to run the end-to-end scenario against");
    boolean tls = Optional.ofNullable(System.getenv("CRONSTREAM_E2E_TLS")).filter(s -> !s.isEmpty()).isPresent();
    client = CronstreamClient.connect(addr, System.getenv("CRONSTREAM_E2E_API_KEY"), tls);
    handler = "java-e2e-" + UUID.randomUUID().toString().substring(0, 8);
    worker = Worker.builder(client).workerId(handler).slots(4).gracePeriod(Duration.ofSeconds(10)).build();
    worker.handle(handler, ctx -> {
      ctx.log(LogLevel.INFO, "hello from java");
      return Map.of("ok", true, "lang", "java");
    });
    worker.handle(handler + "-retry", ctx -> {
      if (ctx.attempt() == 1) {
        throw new IllegalStateException("failing attempt 1 on purpose");
      }
      return Map.of("attempt", ctx.attempt());
    });
    worker.handle(handler + "-fail", ctx -> {
      throw new NonRetryableException("failing on purpose, for an alert");
    });
    worker.start();
  }

  @AfterAll
  void stopWorker() throws Exception {
    if (client == null) {
      return;
    }
    try {
      worker.close();
      worker.join(); // a graceful stop: no error
    } finally {
      for (String id : created) {
        try {
          client.scheduler().deleteJob(DeleteJobRequest.newBuilder().setId(id).build());
        } catch (RuntimeException e) {
          // best effort
        }
      }
      client.close();
    }
  }

  private Job create(JobSpec job) {
    Job j = client.createJob(job);
    created.add(j.id());
    return j;
  }

  private static JobSpec once(String handler, Duration in) {
    return Jobs.in(in).name(handler).handler(handler);
  }

  /** Polls the job's executions until one is final; returns it as GetExecution has it. */
  private Execution finished(String jobId) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(45).toNanos();
    while (System.nanoTime() < end) {
      Optional<Execution> done = client.listExecutions(jobId).filter(e -> FINAL.contains(e.status())).findFirst();
      if (done.isPresent()) {
        return client.getExecution(done.get().id());
      }
      Thread.sleep(200);
    }
    return fail("no execution of job " + jobId + " finished within 45 s");
  }

  @Test
  void successWithResultAndLogs() throws Exception {
    Job job = create(once(handler, Duration.ofSeconds(1)));
    Execution e = finished(job.id());
    assertEquals(ExecutionStatus.SUCCESS, e.status(), e.error());
    assertEquals(Map.of("ok", true, "lang", "java"), e.result());
    boolean logged = false;
    for (int i = 0; i < 25 && !logged; i++) {
      logged = client.listExecutionLogs(e.id())
          .anyMatch(l -> l.message().equals("hello from java") && l.level() == LogLevel.INFO && l.time() != null);
      if (!logged) {
        Thread.sleep(200);
      }
    }
    assertTrue(logged, "the logs of " + e.id() + " lack \"hello from java\" at INFO");
  }

  @Test
  void aFailedAttemptIsRetried() throws Exception {
    Job job = create(once(handler + "-retry", Duration.ofSeconds(1)).maxRetries(2).retryDelay(Duration.ofSeconds(1)));
    Execution e = finished(job.id());
    assertEquals(ExecutionStatus.SUCCESS, e.status(), e.error());
    assertEquals(2, e.attempt());
    assertEquals(1, e.retryCount());
    assertEquals(2.0, e.result().get("attempt"));
  }

  @Test
  void policiesRoundTripWithTheServersDefaults() {
    Job set = create(Jobs.cron("0 0 1 1 *").name(handler + "-policies").handler(handler)
        .priority(Priority.HIGH).overlapPolicy(OverlapPolicy.SKIP).misfirePolicy(MisfirePolicy.RUN_ALL)
        .catchupWindow(Duration.ofMinutes(10)).jitter(Duration.ofSeconds(5)));
    assertEquals(Priority.HIGH, set.priority());
    assertEquals(OverlapPolicy.SKIP, set.overlapPolicy());
    assertEquals(MisfirePolicy.RUN_ALL, set.misfirePolicy());
    assertEquals(Duration.ofMinutes(10), set.catchupWindow());
    assertEquals(Duration.ofSeconds(5), set.jitter());

    Job defaults = client.getJob(create(Jobs.cron("0 0 1 1 *").name(handler + "-defaults").handler(handler)).id());
    assertEquals(Priority.MEDIUM, defaults.priority());
    assertEquals(OverlapPolicy.ALLOW, defaults.overlapPolicy());
    assertEquals(MisfirePolicy.RUN_ONCE, defaults.misfirePolicy());
    assertEquals(Duration.ofHours(1), defaults.catchupWindow());
    assertEquals(Duration.ZERO, defaults.jitter());
  }

  @Test
  void aJobFailingOnceWithConsecutiveFailures1OpensAFailingAlertSeenByTheWatch() throws Exception {
    Job job = create(Jobs.cron("0 0 1 1 *").name(handler + "-fail").handler(handler + "-fail").maxRetries(0)
        .healthPolicy(HealthPolicy.builder().maxStartDelay(Duration.ofSeconds(30)).consecutiveFailures(1)
            .pauseOnFailure(true).build()));
    assertEquals(new HealthPolicy(Duration.ofSeconds(30), null, 1, null, true), job.healthPolicy());
    assertEquals(HealthState.HEALTHY, job.health().state());

    BlockingQueue<AlertEvent> events = new LinkedBlockingQueue<>();
    AlertEvent opened = null;
    try (AlertWatch watch = client.watchAlerts(0, events::add)) {
      // The watch starts from where the server was when it read the request. lastCursor() cannot
      // tell its start message arrived (on a platform without events yet, "now" is 0), so there
      // is nothing to wait on: give the stream time to open.
      Thread.sleep(500);
      client.runJob(job.id());
      long end = System.nanoTime() + Duration.ofSeconds(45).toNanos();
      while (opened == null && System.nanoTime() < end) {
        AlertEvent e = events.poll(200, TimeUnit.MILLISECONDS);
        if (e != null && e.alert().jobId().equals(job.id()) && e.type() == AlertEventType.OPENED) {
          opened = e;
        }
        assertTrue(watch.isRunning(), "the watch ended");
      }
    }
    assertTrue(opened != null, "no OPENED event for job " + job.id() + " within 45 s");
    assertEquals(HealthState.FAILING, opened.alert().kind());
    assertEquals(AlertState.OPEN, opened.alert().state());
    assertTrue(opened.alert().pausedJob() && opened.cursor() > 0 && opened.alert().openedAt() != null);

    Job after = client.getJob(job.id());
    assertEquals(JobStatus.PAUSED, after.status());
    assertEquals(HealthState.FAILING, after.health().state());
    assertEquals(List.of(job.id()), client.listAlerts(job.id()).map(Alert::jobId).collect(Collectors.toList()));
    assertEquals(List.of(job.id()), client.listJobs(ListJobsRequest.newBuilder().setHandlerName(handler + "-fail")
        .addHealths(HealthState.FAILING.proto()).build()).map(Job::id).collect(Collectors.toList()));
  }

  @Test
  void listJobsInPages() {
    String name = handler + "-page";
    for (int i = 0; i < 3; i++) {
      create(Jobs.cron("0 0 1 1 *").name(name + "-" + i).handler(name));
    }
    ListJobsRequest filter = ListJobsRequest.newBuilder().setPageSize(2).setHandlerName(name).build();
    ListJobsResponse first = client.scheduler().listJobs(filter);
    assertEquals(2, first.getJobsCount());
    assertFalse(first.getNextPageToken().isEmpty());
    List<String> names = client.listJobs(filter).map(Job::name).sorted().collect(Collectors.toCollection(ArrayList::new));
    assertEquals(List.of(name + "-0", name + "-1", name + "-2"), names);
  }

  @Test
  void aWrongKeyIsUnauthenticated() {
    String addr = System.getenv("CRONSTREAM_E2E_ADDR");
    boolean tls = Optional.ofNullable(System.getenv("CRONSTREAM_E2E_TLS")).filter(s -> !s.isEmpty()).isPresent();
    try (CronstreamClient bad = CronstreamClient.connect(addr, "cs_wrong", tls)) {
      assertThrows(UnauthenticatedException.class, () -> bad.listJobs().count());
      Worker w = Worker.builder(bad).workerId(handler + "-badkey").build().handle(handler + "-badkey", ctx -> Map.of());
      assertThrows(UnauthenticatedException.class, w::run, "reconnecting cannot fix a wrong key");
    }
  }

  @Test
  void aBadCronIsAFieldViolation() {
    InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> client.createJob(
        Jobs.cron("61 * * * *").name(handler + "-bad").handler(handler)));
    assertTrue(e.violations().stream().anyMatch(v -> v.field().equals("job.cron.expression")), e.violations().toString());
  }
}
