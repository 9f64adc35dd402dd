package dev.cronstream;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.Assignment;
import dev.cronstream.v1.ConnectRequest;
import dev.cronstream.v1.WorkerHello;
import dev.cronstream.v1.WorkerLog;
import dev.cronstream.v1.WorkerResult;
import io.grpc.Status;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs handlers for the executions a Cronstream server assigns, over one WorkerService.Connect
 * stream at a time.
 *
 * <pre>{@code
 * Worker worker = Worker.builder(client).workerId("reports-1").slots(8).build();
 * worker.handle("send_report", ctx -> {
 *   ctx.log(LogLevel.INFO, "attempt " + ctx.attempt());
 *   return Map.of("sent", true);
 * });
 * worker.run(); // blocks until stop() or close() from another thread, or an interrupt
 * }</pre>
 *
 * <ul>
 *   <li><b>Flow control.</b> It runs at most {@code slots} handlers at once, on a thread pool of
 *       that size, and tells the server so in its hello.
 *   <li><b>Start on time.</b> The server may send an assignment up to a fraction of a second
 *       before it is due; the worker holds it (in its slot, named in heartbeats) and starts the
 *       handler at the assignment's start, never sooner. A cancel before then drops it: the
 *       handler never runs and no result is sent.
 *   <li><b>Cancellation.</b> A handler's thread is interrupted when the server cancels the
 *       execution, at the attempt's deadline, and when a stop's grace period runs out (see {@link
 *       JobContext}).
 *   <li><b>Results, exactly once per attempt.</b> A returned map is the result; a thrown
 *       exception a retryable failure with its message and stack trace, a {@link
 *       NonRetryableException} a final one. A result is kept until the server acknowledges it,
 *       re-sent after a reconnect, and named (with what still runs) in the next hello, so the
 *       server keeps those leases instead of running them again.
 *   <li><b>Reconnection</b> with full-jitter exponential backoff (100 ms doubling to 5 s); on
 *       the server's drain it finishes what it runs, then reconnects. A wrong API key, a rejected
 *       hello or a server without the WorkerService end the worker with that {@link
 *       CronstreamException} instead.
 *   <li><b>Graceful stop.</b> {@link #stop()} (or {@link #close()}, or interrupting the thread in
 *       {@link #run()}) tells the server it takes no more work, waits up to the grace period (30
 *       s) for running handlers and their acknowledgements, then ends; past it, it interrupts the
 *       handlers still running and ends with a {@link GracePeriodExceededException}.
 *   <li><b>Liveness.</b> Heartbeats inside the stream at the interval the server asks for.
 * </ul>
 *
 * <p>A worker runs once: register handlers with {@link #handle}, then call {@link #run()} or
 * {@link #start()}.
 */
public final class Worker implements AutoCloseable {
  static final Logger LOG = LoggerFactory.getLogger(Worker.class);

  static final Session.End STOPPED = new Session.End("cronstream: worker stopped");
  private static final Set<Status.Code> PERMANENT = Set.of(
      Status.Code.UNAUTHENTICATED, Status.Code.PERMISSION_DENIED, Status.Code.INVALID_ARGUMENT, Status.Code.UNIMPLEMENTED);
  private static final AtomicInteger WORKERS = new AtomicInteger();

  private final CronstreamClient client;
  private final String workerId;
  private final int slots;
  private final Duration gracePeriod;
  private final Backoff backoff;
  private final int number = WORKERS.incrementAndGet();
  private final Map<String, Handler> handlers = new TreeMap<>();
  final Ledger ledger = new Ledger(this::ledgerChanged);
  /** How long its sessions' results wait for others to share a message; tests lengthen it before start. */
  Duration resultLinger = Session.RESULT_LINGER;

  private final Object lock = new Object();
  private boolean started; // guarded by lock
  private boolean stopping; // guarded by lock
  private Session attached; // the welcomed session, null while disconnected; guarded by lock
  private volatile Session live; // the newest session, welcomed or not
  private int sessions; // loop thread only
  private boolean interrupted; // loop thread only: run()'s thread was interrupted

  /** Completes, once, with why the worker ends: STOPPED, or an error. */
  private final CompletableFuture<Throwable> life = new CompletableFuture<>();
  /** Completes when the worker has ended. */
  private final CompletableFuture<Void> done = new CompletableFuture<>();
  private ThreadPoolExecutor pool;
  private ScheduledThreadPoolExecutor timer;

  private Worker(Builder b) {
    this.client = b.client;
    this.workerId = b.workerId != null ? b.workerId : defaultWorkerId();
    this.slots = b.slots;
    this.gracePeriod = b.gracePeriod;
    this.backoff = new Backoff(b.minBackoff, b.maxBackoff);
  }

  /** A builder of a worker that connects through {@code client}. */
  public static Builder builder(CronstreamClient client) {
    return new Builder(client);
  }

  /** Configures a {@link Worker}; every setting has a default. */
  public static final class Builder {
    private final CronstreamClient client;
    private String workerId;
    private int slots = 10;
    private Duration gracePeriod = Duration.ofSeconds(30);
    private Duration minBackoff = Backoff.BASE;
    private Duration maxBackoff = Backoff.CAP;

    private Builder(CronstreamClient client) {
      this.client = Objects.requireNonNull(client, "client");
    }

    /** Names the worker process to the server; keep it stable across restarts. Default: host-pid. */
    public Builder workerId(String workerId) {
      if (workerId == null || workerId.isEmpty() || workerId.length() > 200) {
        throw new IllegalArgumentException("cronstream: workerId must be 1 to 200 characters");
      }
      this.workerId = workerId;
      return this;
    }

    /** The most executions run at once, 1 to 10000. Default: 10. */
    public Builder slots(int slots) {
      if (slots < 1 || slots > 10_000) {
        throw new IllegalArgumentException("cronstream: slots must be 1 to 10000, not " + slots);
      }
      this.slots = slots;
      return this;
    }

    /** How long a stop waits for running handlers and their acknowledgements. Default: 30 s. */
    public Builder gracePeriod(Duration gracePeriod) {
      if (gracePeriod.isNegative()) {
        throw new IllegalArgumentException("cronstream: negative grace period");
      }
      this.gracePeriod = gracePeriod;
      return this;
    }

    /** The bounds of the jittered exponential wait between reconnections. Default: 100 ms, 5 s (as in every Cronstream client). */
    public Builder backoff(Duration min, Duration max) {
      if (min.isNegative() || max.compareTo(min) < 0) {
        throw new IllegalArgumentException("cronstream: backoff needs 0 <= min <= max");
      }
      this.minBackoff = min;
      this.maxBackoff = max;
      return this;
    }

    public Worker build() {
      return new Worker(this);
    }
  }

  private static String defaultWorkerId() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      host = "java";
    }
    return host + "-" + ProcessHandle.current().pid();
  }

  public String workerId() {
    return workerId;
  }

  /**
   * Registers a typed handler: the payload is converted to {@code payloadType} with Jackson (a
   * payload that does not convert fails the attempt, not retried, naming the type and the
   * field), the returned object back to a JSON object. See {@link TypedHandler}.
   */
  public <P> Worker handler(String name, Class<P> payloadType, TypedHandler<? super P, ?> handler) {
    Objects.requireNonNull(payloadType, "payloadType");
    Objects.requireNonNull(handler, "handler");
    return handle(name, typed(payloadType, handler));
  }

  static <P> Handler typed(Class<P> payloadType, TypedHandler<? super P, ?> handler) {
    return ctx -> {
      P payload;
      try {
        payload = Json.fromStruct(ctx.payloadStruct(), payloadType);
      } catch (IllegalArgumentException e) {
        throw new NonRetryableException(e.getMessage(), e);
      }
      Object out = handler.handle(ctx, payload);
      try {
        return Payloads.toMap(Json.toStruct(out));
      } catch (IllegalArgumentException e) {
        throw new NonRetryableException("handler result: " + e.getMessage(), e);
      }
    };
  }

  /**
   * Registers {@code handler} for jobs whose handler_name is {@code name}. Throws on an empty
   * name, a name registered twice, or a call after the worker started.
   */
  public Worker handle(String name, Handler handler) {
    Objects.requireNonNull(handler, "handler");
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("cronstream: a handler needs a name");
    }
    synchronized (lock) {
      if (started) {
        throw new IllegalStateException("cronstream: handle called after the worker started");
      }
      if (handlers.putIfAbsent(name, handler) != null) {
        throw new IllegalArgumentException("cronstream: handler " + name + " registered twice");
      }
    }
    return this;
  }

  /**
   * Runs the worker on the calling thread until it ends: after a graceful stop ({@link #stop()},
   * {@link #close()}, or an interrupt of this thread, whose flag is set again on return) it
   * returns normally. It throws {@link GracePeriodExceededException} when the stop's grace period
   * ran out, or the {@link CronstreamException} of what reconnecting cannot fix
   * (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, UNIMPLEMENTED).
   */
  public void run() {
    begin();
    loop();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    rethrow();
  }

  /** Runs the worker on a thread of its own; see {@link #run()}, {@link #join()}. */
  public void start() {
    begin();
    Thread t = new Thread(this::loop, "cronstream-worker-" + number);
    t.start();
  }

  /** Waits until the worker has ended and throws what {@link #run()} would. */
  public void join() throws InterruptedException {
    try {
      done.get();
    } catch (ExecutionException e) {
      // rethrown below
    }
    rethrow();
  }

  /** Waits up to {@code timeout} for the worker to end; whether it has. */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    try {
      done.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      // ended with an error
    } catch (TimeoutException e) {
      return false;
    }
    return true;
  }

  /** Whether the worker was started and has not ended. */
  public boolean isRunning() {
    synchronized (lock) {
      return started && !done.isDone();
    }
  }

  private void rethrow() {
    Throwable cause = life.getNow(null);
    if (cause == null || cause == STOPPED) {
      return;
    }
    if (cause instanceof RuntimeException re) {
      throw re;
    }
    if (cause instanceof Error e) {
      throw e;
    }
    throw new IllegalStateException(cause);
  }

  /**
   * Stops gracefully, without waiting: no more work (capacity 0), then the worker ends once the
   * running handlers have finished and their results are acknowledged, or when the grace period
   * runs out. A worker stopped before it starts does not run.
   */
  public void stop() {
    Session s;
    synchronized (lock) {
      if (stopping) {
        return;
      }
      stopping = true;
      s = attached;
      if (!started) {
        endLife(STOPPED);
        return;
      }
    }
    LOG.info("cronstream: worker {} stopping (grace period {} ms)", workerId, gracePeriod.toMillis());
    if (s != null) {
      s.enqueue(Session.capacityMessage(0));
    }
    Thread t = new Thread(this::graceful, "cronstream-worker-stop-" + number);
    t.setDaemon(true);
    t.start();
  }

  /**
   * {@link #stop()}, then waits for the worker to end (up to the grace period and a little more).
   * Errors are not thrown here; {@link #run()} and {@link #join()} throw them. Do not call it
   * from a handler: it would wait for that handler.
   */
  @Override
  public void close() {
    stop();
    synchronized (lock) {
      if (!started) {
        return;
      }
    }
    try {
      awaitTermination(gracePeriod.plusSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // --- the connection loop -----------------------------------------------------

  private void begin() {
    synchronized (lock) {
      if (started) {
        throw new IllegalStateException("cronstream: a worker runs once");
      }
      if (handlers.isEmpty()) {
        throw new IllegalStateException("cronstream: no handlers: call handle before run or start");
      }
      started = true;
      pool = new ThreadPoolExecutor(slots, slots, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), daemonThreads("cronstream-handler-" + number + "-"));
      pool.allowCoreThreadTimeOut(true);
      timer = new ScheduledThreadPoolExecutor(1, daemonThreads("cronstream-timer-" + number + "-"));
      timer.setRemoveOnCancelPolicy(true);
    }
  }

  private static java.util.concurrent.ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  private void loop() {
    try {
      connectLoop();
    } catch (RuntimeException | Error e) {
      LOG.error("cronstream: worker failed", e);
      endLife(e);
    } finally {
      Throwable cause = life.getNow(STOPPED);
      ledger.cancelAll("worker stopped");
      pool.shutdownNow();
      timer.shutdownNow();
      if (cause == STOPPED) {
        LOG.info("cronstream: worker {} stopped", workerId);
        done.complete(null);
      } else {
        LOG.warn("cronstream: worker {} ended: {}", workerId, cause.getMessage());
        done.completeExceptionally(cause);
      }
    }
  }

  private void connectLoop() {
    int failures = 0;
    while (!life.isDone()) {
      long began = System.nanoTime();
      Outcome o = runSession();
      if (life.isDone()) {
        return;
      }
      if (o.reason instanceof RuntimeException && PERMANENT.contains(Status.fromThrowable(o.reason).getCode())) {
        endLife(CronstreamException.from(o.reason));
        return;
      }
      if (o.welcomed && System.nanoTime() - began > TimeUnit.SECONDS.toNanos(1)) {
        failures = 0; // a session that lived: start the backoff over
      }
      Duration delay = backoff.delay(failures);
      failures = Math.min(failures + 1, 62);
      String how = "cronstream: worker {} stream ended ({}); reconnecting in {} ms (consecutive failure {})";
      if (o.draining) {
        LOG.info(how, workerId, describe(o.reason), delay.toMillis(), failures);
      } else {
        LOG.warn(how, workerId, describe(o.reason), delay.toMillis(), failures);
      }
      try {
        await(life, delay.toNanos());
      } catch (TimeoutException | ExecutionException e) {
        // time to reconnect
      }
    }
  }

  private record Outcome(boolean welcomed, Throwable reason, boolean draining) {}

  /** Opens a session and runs it until it ends. */
  private Outcome runSession() {
    Session s = new Session(++sessions, ledger, this::startAttempt, this::attach, resultLinger);
    live = s;
    if (life.isDone()) {
      s.end(life.getNow(STOPPED));
      return new Outcome(false, STOPPED, false);
    }
    try {
      s.open(client.workersAsync(), hello());
      await(s.welcome); // the session ends itself without a welcome in time
    } catch (RuntimeException e) {
      s.end(e);
      return new Outcome(false, e, false);
    } catch (ExecutionException e) {
      detach(s); // welcomed and attached, then ended before the welcome completed
      return new Outcome(false, s.ended.getNow(e.getCause()), false);
    }
    LOG.info("cronstream: worker {} connected (session {}, heartbeat {} ms)", workerId, s.id(), s.heartbeat().toMillis());
    Throwable reason;
    try {
      reason = await(s.ended);
    } catch (ExecutionException e) {
      reason = e.getCause(); // not reached: ended completes normally
    }
    detach(s);
    return new Outcome(true, reason, s.wasDraining());
  }

  private WorkerHello hello() {
    return WorkerHello.newBuilder()
        .setWorkerId(workerId)
        .addAllHandlerNames(handlerNames())
        .setSlots(offeredSlots())
        .addAllRunning(ledger.held())
        // A dispatch round's assignments, and a batch's acks, may come as one message.
        .setAcceptsBatches(true)
        // startAttempt holds each assignment until its start_at, so the server may send it early.
        .setHoldsUntilStart(true)
        .build();
  }

  /**
   * Waits for {@code f}; an interrupt of the waiting thread (run()'s caller) starts a graceful
   * stop, and the wait goes on.
   */
  private <T> T await(CompletableFuture<T> f) throws ExecutionException {
    while (true) {
      try {
        return f.get();
      } catch (InterruptedException e) {
        stopOnInterrupt();
      }
    }
  }

  /** {@link #await(CompletableFuture)}, for at most {@code nanos}. */
  private <T> T await(CompletableFuture<T> f, long nanos) throws TimeoutException, ExecutionException {
    long end = System.nanoTime() + nanos;
    while (true) {
      try {
        return f.get(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        stopOnInterrupt();
      }
    }
  }

  private void stopOnInterrupt() {
    interrupted = true; // run() sets the flag again on return
    stop();
  }

  private static String describe(Throwable t) {
    if (t == null) {
      return "no reason";
    }
    return t.getMessage() != null ? t.getMessage() : t.toString();
  }

  private Iterable<String> handlerNames() {
    synchronized (lock) {
      return new ArrayList<>(handlers.keySet()); // sorted: a TreeMap
    }
  }

  private int offeredSlots() {
    synchronized (lock) {
      return stopping ? 0 : slots;
    }
  }

  /**
   * Routes the worker's messages to {@code s} and re-sends the results never acknowledged. The
   * session calls it on its stream's thread when the welcome is in, before it reads an assignment.
   */
  private void attach(Session s) {
    boolean stop;
    synchronized (lock) {
      attached = s;
      stop = stopping;
    }
    if (stop) {
      s.enqueue(Session.capacityMessage(0)); // hello may have offered slots before the stop
    }
    s.endIfDrained();
    // From here on a result is either in this snapshot or sent through the session; one in both
    // is sent twice, which the server ignores.
    for (WorkerResult r : ledger.unacked()) {
      if (!s.enqueue(Session.resultMessage(r))) {
        break;
      }
    }
  }

  private void detach(Session s) {
    synchronized (lock) {
      if (attached == s) {
        attached = null;
      }
    }
  }

  /** Hands {@code m} to the current session; false while disconnected. */
  boolean send(ConnectRequest m) {
    Session s;
    synchronized (lock) {
      s = attached;
    }
    return s != null && s.enqueue(m);
  }

  /** The ledger changed: a draining session may owe nothing now. */
  private void ledgerChanged() {
    Session s = live;
    if (s != null) {
      s.endIfDrained();
    }
  }

  private void endLife(Throwable cause) {
    if (life.complete(cause)) {
      Session s = live;
      if (s != null) {
        s.end(cause);
      }
    }
  }

  /** The graceful stop: end once idle, or cancel the handlers at the end of the grace period. */
  private void graceful() {
    long end = System.nanoTime() + gracePeriod.toNanos();
    try {
      while (!life.isDone()) {
        long left = end - System.nanoTime();
        if (ledger.awaitIdle(Duration.ofNanos(Math.max(0, Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)))))) {
          endLife(STOPPED);
          return;
        }
        if (left <= 0) {
          break;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (life.isDone()) {
      return;
    }
    int running = ledger.runningCount();
    int unacked = ledger.unackedCount();
    ledger.cancelAll("grace period exceeded");
    endLife(new GracePeriodExceededException(String.format(
        "cronstream: grace period exceeded (%d ms): %d executions running, %d results unacknowledged",
        gracePeriod.toMillis(), running, unacked)));
  }

  // --- attempts ------------------------------------------------------------------

  /**
   * Takes an assignment: records the attempt, which holds a slot from now on (heartbeats and a
   * reconnect's hello name it), and queues it for its handler at {@code startNanos} (on {@link
   * System#nanoTime()}), at once if that has passed. The timer runs a hold out: never sooner.
   */
  void startAttempt(Assignment a, long startNanos) {
    Attempt at = new Attempt(a);
    if (!ledger.begin(at)) {
      return; // a repeated assignment of an attempt already running
    }
    long hold = startNanos - System.nanoTime();
    try {
      if (hold > 0) {
        at.hold(timer, hold, () -> release(at));
      } else {
        submit(at);
      }
    } catch (RejectedExecutionException e) {
      stopped(at); // the timer is shut down: the worker ended
    }
  }

  /** A hold ran out: the attempt goes to its handler, unless a cancel dropped it meanwhile. */
  private void release(Attempt at) {
    if (at.release()) {
      submit(at);
    }
  }

  /** Queues the attempt for a free slot, with its deadline's timer. */
  private void submit(Attempt at) {
    ScheduledFuture<?> deadline = null;
    try {
      Assignment a = at.assignment;
      if (a.hasDeadline()) {
        long nanos = Duration.between(Instant.now(), JobContext.instant(a.getDeadline())).toNanos();
        deadline = timer.schedule(() -> at.cancel("deadline exceeded"), Math.max(0, nanos), TimeUnit.NANOSECONDS);
      }
      ScheduledFuture<?> d = deadline;
      pool.execute(() -> execute(at, d));
    } catch (RejectedExecutionException e) {
      stopped(at);
    }
  }

  /** The worker ended before the attempt could start. */
  private void stopped(Attempt at) {
    at.cancel("worker stopped");
    finish(at, null, new CancellationException("cronstream: worker stopped"));
  }

  private void execute(Attempt at, ScheduledFuture<?> deadline) {
    Map<String, ?> out = null;
    Throwable err = null;
    if (at.enter()) {
      try {
        Handler h;
        synchronized (lock) {
          h = handlers.get(at.assignment.getHandlerName());
        }
        if (h == null) {
          err = new IllegalStateException("cronstream: worker " + workerId + " has no handler " + at.assignment.getHandlerName());
        } else {
          out = h.handle(new JobContext(at, this));
        }
      } catch (Throwable t) {
        err = t;
      } finally {
        at.exit();
      }
    } else {
      err = new CancellationException("cronstream: cancelled before it started");
    }
    if (deadline != null) {
      deadline.cancel(false);
    }
    finish(at, out, err);
  }

  private void finish(Attempt at, Map<String, ?> out, Throwable err) {
    WorkerResult r = Attempt.resultOf(at.assignment, out, err, at.cancelReason());
    logResult(at, r, err);
    if (ledger.finish(r)) {
      send(Session.resultMessage(r));
    }
  }

  /** One line per attempt: failures at WARN (ERROR when final), successes at DEBUG. */
  private static void logResult(Attempt at, WorkerResult r, Throwable err) {
    String handler = at.assignment.getHandlerName();
    if (r.hasSuccess()) {
      LOG.debug("cronstream: {} execution {} attempt {} succeeded", handler, at.executionId(), at.number());
    } else if (r.getFailure().getRetryable()) {
      LOG.warn("cronstream: {} execution {} attempt {} failed, retryable: {}", handler, at.executionId(), at.number(),
          r.getFailure().getError(), err);
    } else {
      LOG.error("cronstream: {} execution {} attempt {} failed, not retried: {}", handler, at.executionId(), at.number(),
          r.getFailure().getError(), err);
    }
  }

  boolean log(Attempt at, LogLevel level, String message) {
    Instant now = Instant.now();
    return send(ConnectRequest.newBuilder().setLog(WorkerLog.newBuilder()
        .setExecutionId(at.executionId())
        .setAttempt(at.number())
        .setLevel(level.proto())
        .setMessage(message)
        .setTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))).build());
  }
}
