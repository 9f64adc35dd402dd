package dev.cronstream;

import static dev.cronstream.v1.ConnectRequest.MsgCase.CAPACITY;
import static dev.cronstream.v1.ConnectRequest.MsgCase.HEARTBEAT;
import static dev.cronstream.v1.ConnectRequest.MsgCase.HELLO;
import static dev.cronstream.v1.ConnectRequest.MsgCase.LOG;
import static dev.cronstream.v1.ConnectRequest.MsgCase.RESULT;
import static dev.cronstream.v1.ConnectRequest.MsgCase.RESULTS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Struct;
import dev.cronstream.v1.Assignment;
import dev.cronstream.v1.ConnectRequest;
import dev.cronstream.v1.RunningExecution;
import dev.cronstream.v1.WorkerHello;
import dev.cronstream.v1.WorkerResult;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The worker protocol against an in-process fake of the WorkerService. */
@Timeout(60)
class WorkerTest {
  private static final Duration BEAT = Duration.ofMillis(50);

  private final FakeWorkerService fake = new FakeWorkerService();
  private Server server;
  private ManagedChannel channel;
  private CronstreamClient client;
  private Worker worker;

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name)
        .addService(ServerInterceptors.intercept(fake, fake.recordAuth)).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    client = CronstreamClient.wrap(channel, "cs_worker");
  }

  @AfterEach
  void tearDown() throws Exception {
    if (worker != null) {
      worker.stop();
      worker.awaitTermination(Duration.ofSeconds(10));
    }
    channel.shutdownNow();
    server.shutdownNow();
  }

  private Worker.Builder builder() {
    return Worker.builder(client).workerId("w1").backoff(Duration.ofMillis(5), Duration.ofMillis(50))
        .gracePeriod(Duration.ofMillis(500)); // tests that leave results unacknowledged end fast
  }

  private static Struct payload(Map<String, ?> m) {
    return Payloads.toStruct(m);
  }

  /** Starts the worker, checks its hello and welcomes it. */
  private FakeWorkerService.Conn connect() throws Exception {
    worker.start();
    FakeWorkerService.Conn c = fake.nextConnection();
    c.next(HELLO);
    c.welcome(BEAT);
    return c;
  }

  @Test
  void helloWelcomeAssignmentLogResultAck() throws Exception {
    AtomicReference<JobContext> seen = new AtomicReference<>();
    Instant scheduled = Instant.parse("2026-03-04T05:06:07Z");
    Instant deadline = Instant.now().plusSeconds(600);
    worker = builder().slots(3).build()
        .handle("b", ctx -> Map.of())
        .handle("a", ctx -> {
          seen.set(ctx);
          ctx.log(LogLevel.WARN, "hello from java");
          return Map.of("ok", true, "n", ctx.payload().get("n"));
        });
    worker.start();
    FakeWorkerService.Conn c = fake.nextConnection();
    assertEquals("Bearer cs_worker", fake.authorizations.poll(5, TimeUnit.SECONDS));
    WorkerHello hello = c.next(HELLO).getHello();
    assertEquals("w1", hello.getWorkerId());
    assertEquals(List.of("a", "b"), hello.getHandlerNamesList());
    assertEquals(3, hello.getSlots());
    assertEquals(0, hello.getRunningCount());

    c.welcome(BEAT);
    c.assign(Assignment.newBuilder().setExecutionId("e1").setJobId("j1").setHandlerName("a").setAttempt(2)
        .setPayload(payload(Map.of("n", 7)))
        .setScheduledAt(FakeWorkerService.timestamp(scheduled))
        .setDeadline(FakeWorkerService.timestamp(deadline))
        .setTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .setTracestate("k=v")
        .build());

    ConnectRequest log = c.next(LOG);
    assertEquals("e1", log.getLog().getExecutionId());
    assertEquals(2, log.getLog().getAttempt());
    assertEquals(dev.cronstream.v1.LogLevel.LOG_LEVEL_WARN, log.getLog().getLevel());
    assertEquals("hello from java", log.getLog().getMessage());
    assertTrue(log.getLog().hasTime());

    WorkerResult r = c.next(RESULT).getResult();
    assertEquals("e1", r.getExecutionId());
    assertEquals(2, r.getAttempt());
    assertEquals(Map.of("ok", true, "n", 7.0), Payloads.toMap(r.getSuccess().getResult()));

    JobContext ctx = seen.get();
    assertEquals("j1", ctx.jobId());
    assertEquals("a", ctx.handlerName());
    assertEquals(2, ctx.attempt());
    assertEquals(scheduled, ctx.scheduledAt());
    assertEquals(deadline, ctx.deadline());
    assertEquals("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ctx.traceparent());
    assertEquals("k=v", ctx.tracestate());
    assertFalse(ctx.isCancelled());

    // heartbeats keep coming, listing nothing once the attempt is done
    assertEquals(0, c.next(HEARTBEAT).getHeartbeat().getExecutionIdsCount());
    c.ack("e1");

    // a graceful stop with nothing owed: capacity 0, then the worker half-closes the call
    worker.close();
    assertEquals(0, c.next(CAPACITY).getCapacity().getSlots());
    assertNull(c.awaitClosed(), "a graceful end half-closes the stream");
    assertTrue(worker.awaitTermination(Duration.ofSeconds(5)));
    worker.join();
  }

  /**
   * A handler that logs at once, on an assignment right behind the welcome, races the worker's
   * taking of the new session: its line must not be lost (it was, 1 run in ~50, while the run
   * thread attached the session after the stream thread had started the assignment).
   */
  @Test
  void aLineLoggedTheMomentTheFirstAssignmentArrivesReachesTheServer() throws Exception {
    for (int round = 0; round < 100; round++) {
      Worker w = builder().build().handle("a", ctx -> {
        ctx.log(LogLevel.INFO, "first");
        return Map.of();
      });
      worker = w;
      w.start();
      FakeWorkerService.Conn c = fake.nextConnection();
      c.next(HELLO);
      c.welcome(BEAT);
      c.assign("e" + round, 1, "a", Struct.getDefaultInstance());
      assertEquals("first", c.next(LOG).getLog().getMessage(), "round " + round);
      assertEquals("e" + round, c.next(RESULT).getResult().getExecutionId());
      c.ack("e" + round);
      w.close();
      assertEquals(0, c.next(CAPACITY).getCapacity().getSlots(), "round " + round);
      assertNull(c.awaitClosed(), "a graceful stop half-closes the stream");
      worker = null;
    }
  }

  record Report(String recipient, int copies, Instant since) {}

  record Summary(String sentTo, int sent, List<String> notes) {}

  @Test
  void typedHandlersConvertPayloadAndResultWithJackson() throws Exception {
    AtomicReference<Report> seen = new AtomicReference<>();
    worker = builder().build()
        .handler("typed", Report.class, (ctx, report) -> {
          seen.set(report);
          return new Summary(report.recipient(), report.copies(), List.of("ok"));
        })
        .handler("unit", Report.class, (ctx, report) -> null)
        .handler("scalar", Report.class, (ctx, report) -> "not an object");
    FakeWorkerService.Conn c = connect();

    c.assign("e1", 1, "typed", payload(Map.of("recipient", "ops@example.com", "copies", 3,
        "since", "2026-12-01T02:30:00Z", "added_later", true))); // unknown fields are ignored
    WorkerResult r = c.next(RESULT).getResult();
    assertTrue(r.hasSuccess(), r.toString());
    assertEquals(new Report("ops@example.com", 3, Instant.parse("2026-12-01T02:30:00Z")), seen.get());
    assertEquals(Map.of("sentTo", "ops@example.com", "sent", 3.0, "notes", List.of("ok")),
        Payloads.toMap(r.getSuccess().getResult()));
    c.ack("e1");

    c.assign("e2", 1, "unit", payload(Map.of("recipient", "a@b")));
    assertEquals(Struct.getDefaultInstance(), c.next(RESULT).getResult().getSuccess().getResult());
    c.ack("e2");

    // a payload that does not convert fails for good, naming the type and the field
    c.assign("e3", 1, "typed", payload(Map.of("recipient", "ops@example.com", "copies", "three")));
    r = c.next(RESULT).getResult();
    assertFalse(r.getFailure().getRetryable(), r.toString());
    assertTrue(r.getFailure().getError().contains("does not convert to " + Report.class.getName()), r.getFailure().getError());
    assertTrue(r.getFailure().getError().contains("copies"), r.getFailure().getError());
    c.ack("e3");

    c.assign("e4", 1, "typed", payload(Map.of("copies", 2.5))); // no silent truncation to 2
    assertFalse(c.next(RESULT).getResult().getFailure().getRetryable());
    c.ack("e4");

    // a result that is not a JSON object fails for good too
    c.assign("e5", 1, "scalar", payload(Map.of()));
    r = c.next(RESULT).getResult();
    assertFalse(r.getFailure().getRetryable());
    assertTrue(r.getFailure().getError().startsWith("handler result:"), r.getFailure().getError());
  }

  @Test
  void failuresCarryMessageStackAndRetryability() throws Exception {
    worker = builder().build()
        .handle("boom", ctx -> {
          throw new IllegalStateException("boom");
        })
        .handle("final", ctx -> {
          throw new NonRetryableException("no such recipient");
        })
        .handle("wrapped", ctx -> {
          throw new RuntimeException("outer", new NonRetryableException("inner"));
        })
        .handle("notjson", ctx -> Map.of("x", new Object()));
    FakeWorkerService.Conn c = connect();

    c.assign("e1", 1, "boom", Struct.getDefaultInstance());
    WorkerResult r = c.next(RESULT).getResult();
    assertEquals("boom", r.getFailure().getError());
    assertTrue(r.getFailure().getErrorStack().contains("java.lang.IllegalStateException: boom"), r.getFailure().getErrorStack());
    assertTrue(r.getFailure().getErrorStack().contains("WorkerTest"));
    assertTrue(r.getFailure().hasRetryable() && r.getFailure().getRetryable());

    c.assign("e2", 1, "final", Struct.getDefaultInstance());
    r = c.next(RESULT).getResult();
    assertEquals("no such recipient", r.getFailure().getError());
    assertFalse(r.getFailure().getRetryable());

    c.assign("e3", 1, "wrapped", Struct.getDefaultInstance());
    assertFalse(c.next(RESULT).getResult().getFailure().getRetryable());

    c.assign("e4", 1, "notjson", Struct.getDefaultInstance());
    r = c.next(RESULT).getResult();
    assertTrue(r.getFailure().getError().startsWith("handler result:"), r.getFailure().getError());
    assertFalse(r.getFailure().getRetryable());

    c.assign("e5", 1, "unknown", Struct.getDefaultInstance());
    r = c.next(RESULT).getResult();
    assertTrue(r.getFailure().getError().contains("has no handler unknown"), r.getFailure().getError());
  }

  @Test
  void cancelInterruptsTheHandler() throws Exception {
    CountDownLatch running = new CountDownLatch(1);
    AtomicReference<String> reason = new AtomicReference<>();
    AtomicReference<String> callback = new AtomicReference<>();
    worker = builder().build().handle("slow", ctx -> {
      ctx.onCancel(callback::set);
      running.countDown();
      try {
        Thread.sleep(30_000);
      } finally {
        reason.set(ctx.cancellationReason().orElse(null));
      }
      return Map.of();
    });
    FakeWorkerService.Conn c = connect();
    c.assign("e1", 1, "slow", Struct.getDefaultInstance());
    assertTrue(running.await(10, TimeUnit.SECONDS));
    // heartbeats name the running execution
    while (c.next(HEARTBEAT).getHeartbeat().getExecutionIdsList().isEmpty()) {
      // one sent before the assignment arrived
    }
    c.cancel("e1", "cancelled");
    WorkerResult r = c.next(RESULT).getResult();
    assertTrue(r.getFailure().getError().contains("execution cancelled: cancelled"), r.getFailure().getError());
    assertTrue(r.getFailure().getErrorStack().contains("InterruptedException"));
    assertEquals("cancelled", reason.get());
    assertEquals("cancelled", callback.get());
  }

  @Test
  void theDeadlineInterruptsTheHandler() throws Exception {
    worker = builder().build().handle("slow", ctx -> {
      Thread.sleep(30_000);
      return Map.of();
    });
    FakeWorkerService.Conn c = connect();
    long t0 = System.nanoTime();
    c.assign(Assignment.newBuilder().setExecutionId("e1").setHandlerName("slow").setAttempt(1)
        .setDeadline(FakeWorkerService.timestamp(Instant.now().plusMillis(300))).build());
    WorkerResult r = c.next(RESULT).getResult();
    assertTrue(r.getFailure().getError().contains("deadline exceeded"), r.getFailure().getError());
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
  }

  @Test
  void unacknowledgedResultsAreResentAfterAReconnect() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    worker = builder().build().handle("h", ctx -> Map.of("run", runs.incrementAndGet()));
    FakeWorkerService.Conn c1 = connect();
    c1.assign("e1", 1, "h", Struct.getDefaultInstance());
    WorkerResult first = c1.next(RESULT).getResult();
    // no ack: the server goes away
    c1.end(Status.UNAVAILABLE.withDescription("restarting"));

    FakeWorkerService.Conn c2 = fake.nextConnection();
    WorkerHello hello = c2.next(HELLO).getHello();
    assertEquals(List.of(RunningExecution.newBuilder().setExecutionId("e1").setAttempt(1).build()), hello.getRunningList());
    c2.welcome(BEAT);
    assertEquals(first, c2.next(RESULT).getResult(), "the same result, re-sent");
    assertEquals(1, runs.get(), "not run again");
    c2.ack("e1");

    // drain: the worker owes nothing, so it ends the session and reconnects with nothing held
    c2.drain();
    assertNull(c2.awaitClosed(), "a graceful end half-closes the stream");
    FakeWorkerService.Conn c3 = fake.nextConnection();
    assertEquals(0, c3.next(HELLO).getHello().getRunningCount());
  }

  @Test
  void drainWaitsForRunningAttemptsAndTheirAcks() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch running = new CountDownLatch(1);
    worker = builder().build().handle("h", ctx -> {
      running.countDown();
      release.await();
      return Map.of("done", true);
    });
    FakeWorkerService.Conn c = connect();
    c.assign("e1", 1, "h", Struct.getDefaultInstance());
    assertTrue(running.await(10, TimeUnit.SECONDS));
    c.drain();
    assertNull(c.poll(Duration.ofMillis(300)), "nothing until the handler returns");
    assertFalse(c.closed.isDone(), "the session stays while an attempt runs");
    assertTrue(fake.connections.isEmpty());
    release.countDown();
    assertEquals(true, Payloads.toMap(c.next(RESULT).getResult().getSuccess().getResult()).get("done"));
    Thread.sleep(200);
    assertFalse(c.closed.isDone(), "the session stays until the result is acknowledged");
    c.ack("e1");
    assertNull(c.awaitClosed(), "a graceful end half-closes the stream");
    FakeWorkerService.Conn next = fake.nextConnection();
    assertEquals(0, next.next(HELLO).getHello().getRunningCount());
  }

  @Test
  void slotsBoundConcurrentHandlers() throws Exception {
    AtomicInteger now = new AtomicInteger();
    AtomicInteger max = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    worker = builder().slots(2).build().handle("h", ctx -> {
      max.accumulateAndGet(now.incrementAndGet(), Math::max);
      try {
        release.await();
      } finally {
        now.decrementAndGet();
      }
      return Map.of();
    });
    FakeWorkerService.Conn c = connect();
    for (int i = 0; i < 5; i++) {
      c.assign("e" + i, 1, "h", Struct.getDefaultInstance());
    }
    eventually(() -> now.get() == 2);
    Thread.sleep(300);
    assertEquals(2, now.get(), "no third handler while two hold the slots");
    release.countDown();
    for (int i = 0; i < 5; i++) {
      c.next(RESULT);
    }
    assertEquals(2, max.get());
  }

  @Test
  void aRepeatedAssignmentRunsOnceAndANewerAttemptSupersedes() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    AtomicReference<String> superseded = new AtomicReference<>();
    worker = builder().build().handle("h", ctx -> {
      runs.incrementAndGet();
      if (ctx.attempt() == 1) {
        try {
          release.await();
        } catch (InterruptedException e) {
          superseded.set(ctx.cancellationReason().orElse(""));
          throw e;
        }
      }
      return Map.of("attempt", ctx.attempt());
    });
    FakeWorkerService.Conn c = connect();
    c.assign("e1", 1, "h", Struct.getDefaultInstance());
    c.assign("e1", 1, "h", Struct.getDefaultInstance());
    eventually(() -> runs.get() >= 1);
    Thread.sleep(200);
    assertEquals(1, runs.get());
    c.assign("e1", 2, "h", Struct.getDefaultInstance());
    WorkerResult r = c.next(RESULT).getResult();
    assertEquals(2, r.getAttempt(), "only the current attempt reports");
    assertNull(c.poll(Duration.ofMillis(200)), "the superseded attempt's result is dropped");
    assertEquals("superseded by attempt 2", superseded.get());
  }

  @Test
  void gracefulStopWaitsForRunningHandlers() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch running = new CountDownLatch(1);
    worker = builder().gracePeriod(Duration.ofSeconds(20)).build().handle("h", ctx -> {
      running.countDown();
      release.await();
      return Map.of("ok", true);
    });
    FakeWorkerService.Conn c = connect();
    c.assign("e1", 1, "h", Struct.getDefaultInstance());
    assertTrue(running.await(10, TimeUnit.SECONDS));
    Thread closer = new Thread(worker::close);
    closer.start();
    assertEquals(0, c.next(CAPACITY).getCapacity().getSlots());
    assertTrue(closer.isAlive(), "close waits");
    release.countDown();
    c.next(RESULT);
    c.ack("e1");
    closer.join(10_000);
    assertFalse(closer.isAlive());
    assertNull(c.awaitClosed(), "a graceful end half-closes the stream");
    worker.join(); // a graceful stop: no error
  }

  @Test
  void pastTheGracePeriodHandlersAreInterrupted() throws Exception {
    AtomicReference<String> reason = new AtomicReference<>();
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch interrupted = new CountDownLatch(1);
    worker = builder().gracePeriod(Duration.ofMillis(300)).build().handle("h", ctx -> {
      running.countDown();
      try {
        Thread.sleep(30_000);
      } finally {
        reason.set(ctx.cancellationReason().orElse(null));
        interrupted.countDown();
      }
      return Map.of();
    });
    FakeWorkerService.Conn c = connect();
    c.assign("e1", 1, "h", Struct.getDefaultInstance());
    assertTrue(running.await(10, TimeUnit.SECONDS));
    worker.close();
    assertThrows(GracePeriodExceededException.class, worker::join);
    // the worker ends without waiting for the interrupted handler's thread to unwind
    assertTrue(interrupted.await(10, TimeUnit.SECONDS));
    assertEquals("grace period exceeded", reason.get());
  }

  @Test
  void interruptingRunStopsGracefully() throws Exception {
    worker = builder().build().handle("h", ctx -> Map.of());
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicReference<Boolean> flag = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        worker.run();
      } catch (Throwable e) {
        thrown.set(e);
      }
      flag.set(Thread.currentThread().isInterrupted());
    });
    t.start();
    FakeWorkerService.Conn c = fake.nextConnection();
    c.next(HELLO);
    c.welcome(BEAT);
    t.interrupt();
    // idle, it ends the session at once (after a capacity 0 if the welcome was already in)
    assertNull(c.awaitClosed(), "a graceful end half-closes the stream");
    t.join(10_000);
    assertFalse(t.isAlive());
    assertNull(thrown.get());
    assertTrue(flag.get(), "the interrupt flag is set again");
  }

  @Test
  void permanentErrorsEndTheWorker() throws Exception {
    fake.refuse = Status.UNAUTHENTICATED.withDescription("bad key");
    worker = builder().build().handle("h", ctx -> Map.of());
    assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
      UnauthenticatedException e = assertThrows(UnauthenticatedException.class, worker::run);
      assertTrue(e.getMessage().contains("bad key"));
    });

    fake.refuse = Status.UNIMPLEMENTED;
    Worker w2 = builder().build().handle("h", ctx -> Map.of());
    w2.start();
    CronstreamException e = assertThrows(CronstreamException.class, w2::join);
    assertEquals(Status.Code.UNIMPLEMENTED, e.code());
  }

  @Test
  void transientErrorsAreRetried() throws Exception {
    fake.refuse = Status.UNAVAILABLE;
    worker = builder().build().handle("h", ctx -> Map.of());
    worker.start();
    Thread.sleep(300); // several refused attempts
    assertTrue(worker.isRunning());
    fake.refuse = null;
    FakeWorkerService.Conn c = fake.nextConnection();
    c.next(HELLO);
    assertTrue(fake.authorizations.size() >= 2, "it kept trying: " + fake.authorizations.size());
  }

  // --- sending results in batches ---------------------------------------------------

  private static ConnectRequest result(String id) {
    return Session.resultMessage(WorkerResult.newBuilder().setExecutionId(id).setAttempt(1).build());
  }

  private static List<String> ids(ConnectRequest m) {
    return m.getResults().getResultsList().stream().map(WorkerResult::getExecutionId).toList();
  }

  /** A session whose writer the test drives by hand: no stream, no loops. */
  private static Session writerOf(Ledger ledger, Duration linger) {
    return new Session(0, ledger, (a, startNanos) -> {}, s -> {}, linger);
  }

  @Test
  void queuedResultsGoAsOneMessageInOrder() {
    Session s = writerOf(new Ledger(() -> {}), Session.RESULT_LINGER);
    s.out.add(result("r2"));
    s.out.add(result("r3"));
    s.out.add(ConnectRequest.newBuilder().setHeartbeat(dev.cronstream.v1.WorkerHeartbeat.getDefaultInstance()).build());
    s.out.add(result("r4"));

    ConnectRequest m = s.withQueuedResults(result("r1"));

    assertEquals(RESULTS, m.getMsgCase());
    assertEquals(List.of("r1", "r2", "r3"), ids(m));
    assertEquals(HEARTBEAT, s.out.poll().getMsgCase(), "the heartbeat that ended the batch goes next");
    assertEquals("r4", s.out.poll().getResult().getExecutionId(), "the result after it is left in place");
  }

  @Test
  void aLoneResultGoesAsAPlainResult() {
    Session s = writerOf(new Ledger(() -> {}), Session.RESULT_LINGER);
    ConnectRequest r1 = result("r1");
    assertEquals(r1, s.withQueuedResults(r1));
    s.out.add(ConnectRequest.newBuilder().setLog(dev.cronstream.v1.WorkerLog.getDefaultInstance()).build());
    assertEquals(r1, s.withQueuedResults(r1), "a log right behind it ends the batch");
    assertEquals(LOG, s.out.poll().getMsgCase());
  }

  @Test
  void aResultWaitsBrieflyForOthersWhileMoreRun() throws Exception {
    Ledger ledger = new Ledger(() -> {});
    Session s = writerOf(ledger, Duration.ofSeconds(1));
    assertTrue(ledger.begin(new Attempt(Assignment.newBuilder().setExecutionId("r2").setAttempt(1).build())));
    Thread finisher = new Thread(() -> {
      try {
        Thread.sleep(20); // r2 finishes after r1 went to the writer
      } catch (InterruptedException e) {
        return;
      }
      ConnectRequest r2 = result("r2");
      assertTrue(ledger.finish(r2.getResult())); // as Worker.finish: the ledger, then the queue
      s.out.add(r2);
    });
    long began = System.nanoTime();
    finisher.start();

    ConnectRequest m = s.withQueuedResults(result("r1"));

    assertEquals(List.of("r1", "r2"), ids(m), "one message");
    // with r2 in, nothing runs: it does not wait out the rest of the linger
    assertTrue(System.nanoTime() - began < TimeUnit.MILLISECONDS.toNanos(500), "waited past the last result");
    finisher.join();
  }

  @Test
  void aLastResultLeavesAtOnce() {
    Session s = writerOf(new Ledger(() -> {}), Duration.ofSeconds(1));
    long began = System.nanoTime();

    ConnectRequest m = s.withQueuedResults(result("r1"));

    assertEquals(RESULT, m.getMsgCase());
    assertTrue(System.nanoTime() - began < TimeUnit.MILLISECONDS.toNanos(500), "lingered with nothing else running");
  }

  /** A worker whose "quick" handlers wait for {@code go} and whose "slow" one for {@code release}. */
  private Worker lingeringWorker(CountDownLatch started, CountDownLatch go, CountDownLatch release) {
    Worker w = builder().slots(4).build()
        .handle("quick", ctx -> {
          started.countDown();
          go.await();
          return Map.of();
        })
        .handle("slow", ctx -> {
          started.countDown();
          release.await();
          return Map.of();
        });
    w.resultLinger = Duration.ofSeconds(1);
    return w;
  }

  @Test
  void resultsThatFinishTogetherGoAsOneResultsMessage() throws Exception {
    CountDownLatch started = new CountDownLatch(4);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    worker = lingeringWorker(started, go, release);
    worker.start();
    FakeWorkerService.Conn c = fake.nextConnection();
    assertTrue(c.next(HELLO).getHello().getAcceptsBatches());
    c.welcome(Duration.ofSeconds(10), true); // no heartbeat to end the batch
    c.assign("slow", 1, "slow", Struct.getDefaultInstance());
    for (String id : List.of("e1", "e2", "e3")) {
      c.assign(id, 1, "quick", Struct.getDefaultInstance());
    }
    assertTrue(started.await(10, TimeUnit.SECONDS));

    go.countDown();
    ConnectRequest batch = c.next(RESULTS);
    assertEquals(Set.of("e1", "e2", "e3"), Set.copyOf(ids(batch)), "the slow one still runs: they wait for each other");

    long released = System.nanoTime();
    release.countDown();
    assertEquals("slow", c.next(RESULT).getResult().getExecutionId(), "alone, as a plain result");
    assertTrue(System.nanoTime() - released < TimeUnit.MILLISECONDS.toNanos(500), "the last result does not linger");
  }

  @Test
  void withoutAcceptsBatchesEachResultGoesAlone() throws Exception {
    CountDownLatch started = new CountDownLatch(4);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    worker = lingeringWorker(started, go, release);
    FakeWorkerService.Conn c = connect(); // its welcome does not say accepts_batches
    c.assign("slow", 1, "slow", Struct.getDefaultInstance());
    for (String id : List.of("e1", "e2", "e3")) {
      c.assign(id, 1, "quick", Struct.getDefaultInstance());
    }
    assertTrue(started.await(10, TimeUnit.SECONDS));

    long began = System.nanoTime();
    go.countDown();
    Set<String> got = new java.util.HashSet<>();
    for (int i = 0; i < 3; i++) {
      got.add(c.next(RESULT).getResult().getExecutionId()); // fails on a `results` message
    }
    assertEquals(Set.of("e1", "e2", "e3"), got);
    assertTrue(System.nanoTime() - began < TimeUnit.MILLISECONDS.toNanos(500), "no linger without batches");
    release.countDown();
    assertEquals("slow", c.next(RESULT).getResult().getExecutionId());
  }

  // --- holding assignments until their start ------------------------------------------

  /** The server's clock, years off the worker's: only differences of its times count. */
  private static final Instant SERVER_NOW = Instant.parse("2031-05-06T07:08:09.123456789Z");

  /** An assignment of handler "h" that starts at {@code startAt} on the server's clock (null: unset). */
  private static Assignment startingAt(String id, Instant startAt) {
    Assignment.Builder a = Assignment.newBuilder().setExecutionId(id).setAttempt(1).setHandlerName("h");
    if (startAt != null) {
      a.setStartAt(FakeWorkerService.timestamp(startAt));
    }
    return a.build();
  }

  /** A worker whose handler "h" records when (System.nanoTime()) each execution started. */
  private Worker recordingStarts(Map<String, Long> starts) {
    return builder().build().handle("h", ctx -> {
      starts.put(ctx.executionId(), System.nanoTime());
      return Map.of();
    });
  }

  @Test
  void theHelloSaysItHoldsAssignmentsUntilTheirStart() throws Exception {
    worker = builder().build().handle("h", ctx -> Map.of());
    worker.start();
    WorkerHello hello = fake.nextConnection().next(HELLO).getHello();
    assertTrue(hello.getAcceptsBatches());
    assertTrue(hello.getHoldsUntilStart());
  }

  @Test
  void aHeldAssignmentStartsAtItsStartNeverSooner() throws Exception {
    Map<String, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
    worker = recordingStarts(starts);
    FakeWorkerService.Conn c = connect();
    long sent = System.nanoTime(); // before the message arrives: a start 300 ms after it is later still
    c.assignAll(SERVER_NOW, startingAt("e1", SERVER_NOW.plusMillis(300)));
    assertEquals("e1", c.next(RESULT).getResult().getExecutionId());
    long waited = starts.get("e1") - sent;
    assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(300), "started " + waited / 1_000_000 + " ms after the send");
    assertTrue(waited < TimeUnit.MILLISECONDS.toNanos(1_000), "held " + waited / 1_000_000 + " ms, not 300");
  }

  @Test
  void anAssignmentDueAlreadyOrWithoutItsTimesStartsAtOnce() throws Exception {
    Map<String, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
    worker = recordingStarts(starts);
    FakeWorkerService.Conn c = connect();
    Instant later = SERVER_NOW.plusSeconds(4); // each would wait 4 s if held
    long sent = System.nanoTime();
    c.assignAll(SERVER_NOW,
        startingAt("past", SERVER_NOW.minusMillis(300)),
        startingAt("now", SERVER_NOW),
        startingAt("no-start", null));
    c.assignAll(null, startingAt("no-sent", later));
    c.assign(startingAt("single", later)); // a single `assignment` is never held
    Set<String> ids = Set.of("past", "now", "no-start", "no-sent", "single");
    for (int i = 0; i < ids.size(); i++) {
      c.next(RESULT);
    }
    assertEquals(ids, starts.keySet());
    for (String id : ids) {
      assertTrue(starts.get(id) - sent < TimeUnit.SECONDS.toNanos(2), id + " was held");
    }
  }

  @Test
  void aHeldAssignmentHoldsItsLeaseAcrossAReconnect() throws Exception {
    Map<String, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
    worker = recordingStarts(starts);
    FakeWorkerService.Conn c1 = connect();
    long sent = System.nanoTime();
    c1.assignAll(SERVER_NOW, startingAt("e1", SERVER_NOW.plusSeconds(2)));
    // the heartbeats list it while it waits
    while (c1.next(HEARTBEAT).getHeartbeat().getExecutionIdsList().isEmpty()) {
      // one sent before the assignment arrived
    }
    assertTrue(starts.isEmpty());
    c1.end(Status.UNAVAILABLE.withDescription("restarting"));

    FakeWorkerService.Conn c2 = fake.nextConnection();
    assertEquals(List.of(RunningExecution.newBuilder().setExecutionId("e1").setAttempt(1).build()),
        c2.next(HELLO).getHello().getRunningList(), "the next hello names it");
    c2.welcome(BEAT);
    assertEquals("e1", c2.next(RESULT).getResult().getExecutionId(), "it starts on its own time, on the new session");
    assertTrue(starts.get("e1") - sent >= TimeUnit.SECONDS.toNanos(2));
  }

  @Test
  void aCancelBeforeItsStartDropsAHeldAssignment() throws Exception {
    Map<String, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
    worker = recordingStarts(starts);
    worker.start();
    FakeWorkerService.Conn c = fake.nextConnection();
    c.next(HELLO);
    c.welcome(Duration.ofSeconds(60)); // no periodic heartbeat: the next one answers the cancel
    long sent = System.nanoTime();
    c.assignAll(SERVER_NOW, startingAt("e1", SERVER_NOW.plusSeconds(2)), startingAt("e2", SERVER_NOW.plusSeconds(2)));
    c.cancel("e1", "cancelled");
    assertEquals(List.of("e2"), c.next(HEARTBEAT).getHeartbeat().getExecutionIdsList(),
        "the heartbeat that confirms the cancel lists only the other one");
    assertEquals("e2", c.next(RESULT).getResult().getExecutionId(), "the other one runs");
    long left = sent + TimeUnit.MILLISECONDS.toNanos(2_300) - System.nanoTime();
    assertNull(c.poll(Duration.ofNanos(Math.max(0, left))), "no result for the cancelled one");
    assertEquals(Set.of("e2"), starts.keySet(), "the cancelled one never started");
  }

  @Test
  void aDrainLetsAHeldAssignmentStartAndFinish() throws Exception {
    Map<String, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
    worker = recordingStarts(starts);
    FakeWorkerService.Conn c = connect();
    long sent = System.nanoTime();
    c.assignAll(SERVER_NOW, startingAt("e1", SERVER_NOW.plusMillis(500)));
    c.drain();
    assertEquals("e1", c.next(RESULT).getResult().getExecutionId());
    assertTrue(starts.get("e1") - sent >= TimeUnit.MILLISECONDS.toNanos(500));
    assertFalse(c.closed.isDone(), "the session stays until the result is acknowledged");
    c.ack("e1");
    assertNull(c.awaitClosed(), "a graceful end half-closes the stream");
  }

  @Test
  void theHoldIsStartAtLessSentAtWithinFiveSeconds() {
    assertEquals(300_000_000L, hold(SERVER_NOW, SERVER_NOW.plusMillis(300)));
    assertEquals(1_999_999_999L, hold(SERVER_NOW, SERVER_NOW.plusNanos(1_999_999_999)));
    assertEquals(4_000_000_001L, hold(Instant.ofEpochSecond(10, 999_999_999), Instant.ofEpochSecond(15, 0)));
    assertEquals(Session.MAX_HOLD.toNanos(), hold(SERVER_NOW, SERVER_NOW.plusSeconds(5).plusNanos(1)));
    assertEquals(Session.MAX_HOLD.toNanos(), hold(SERVER_NOW, SERVER_NOW.plusSeconds(3600)));
    assertEquals(0, hold(SERVER_NOW, SERVER_NOW));
    assertEquals(0, hold(SERVER_NOW, SERVER_NOW.minusNanos(1)));
    assertEquals(0, hold(SERVER_NOW, SERVER_NOW.minusSeconds(3600)));
    assertEquals(0, hold(null, SERVER_NOW.plusMillis(300)));
    assertEquals(0, hold(SERVER_NOW, null));
  }

  private static long hold(Instant sentAt, Instant startAt) {
    var batch = dev.cronstream.v1.Assignments.newBuilder();
    if (sentAt != null) {
      batch.setSentAt(FakeWorkerService.timestamp(sentAt));
    }
    return Session.holdNanos(batch.build(), startingAt("e", startAt));
  }

  private static void eventually(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long end = System.nanoTime() + FakeWorkerService.WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < end, "condition not met within " + FakeWorkerService.WAIT);
      Thread.sleep(10);
    }
  }

  @Test
  void usageErrors() {
    Worker w = builder().build();
    assertThrows(IllegalStateException.class, w::run, "no handlers");
    Worker w2 = builder().build().handle("h", ctx -> Map.of());
    assertThrows(IllegalArgumentException.class, () -> w2.handle("h", ctx -> Map.of()));
    assertThrows(IllegalArgumentException.class, () -> Worker.builder(client).slots(0));
    Worker w3 = builder().build().handle("h", ctx -> Map.of());
    w3.stop();
    w3.run(); // stopped before it started: returns at once
  }

  @Test
  void heartbeatIntervalFollowsTheWelcome() {
    var w = dev.cronstream.v1.Welcome.newBuilder();
    assertEquals(Duration.ofSeconds(10), Session.heartbeatInterval(w.build()));
    w.setLeaseDuration(com.google.protobuf.Duration.newBuilder().setSeconds(30));
    assertEquals(Duration.ofSeconds(10), Session.heartbeatInterval(w.build()));
    w.setHeartbeatInterval(com.google.protobuf.Duration.newBuilder().setSeconds(5));
    assertEquals(Duration.ofSeconds(5), Session.heartbeatInterval(w.build()));
    w.setHeartbeatInterval(com.google.protobuf.Duration.newBuilder().setNanos(1000));
    assertEquals(Session.MIN_HEARTBEAT, Session.heartbeatInterval(w.build()));
  }

  @Test
  void logsAreCutTo64KiB() {
    String big = "é".repeat(40_000); // 80,000 bytes
    String cut = JobContext.truncateUtf8(big, JobContext.MAX_LOG_BYTES);
    assertTrue(cut.getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= 65536);
    assertEquals(32768, cut.length());
    assertInstanceOf(String.class, cut);
  }
}
