package dev.cronstream;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.Assignment;
import dev.cronstream.v1.Assignments;
import dev.cronstream.v1.ConnectRequest;
import dev.cronstream.v1.ConnectResponse;
import dev.cronstream.v1.Welcome;
import dev.cronstream.v1.WorkerCapacity;
import dev.cronstream.v1.WorkerHeartbeat;
import dev.cronstream.v1.WorkerHello;
import dev.cronstream.v1.WorkerResult;
import dev.cronstream.v1.WorkerResults;
import dev.cronstream.v1.WorkerServiceGrpc;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One WorkerService.Connect stream, from hello to its end. grpc-java delivers the server's
 * messages on its own threads, one at a time, to {@link #dispatch}; every write (and the final
 * cancel) goes through {@link #enqueue} to a single writer thread, since a StreamObserver is not
 * safe for concurrent use. The writer thread also keeps the clock: the welcome's timeout and the
 * heartbeats. When the server takes them, results queued back to back go as one {@code results}
 * message.
 *
 * <p>A session is given what it needs and no more: the {@link Ledger} of what the worker owes
 * (which outlives it, so a session can end at any moment) and a function that starts an
 * assignment.
 *
 * <p>Its hello says it holds assignments until their start: the server may then send an
 * assignment a little before its instant, in an {@code assignments} message, and the session
 * starts it {@code start_at - sent_at} after the message arrived. Both times are on the server's
 * clock, so the worker's clock may be off by any amount; the time the message took on the way
 * only makes the start later, never sooner.
 */
final class Session {
  enum State {
    HANDSHAKE, // hello sent, waiting for welcome
    ACTIVE, // taking assignments
    DRAINING, // the server asked to drain: finish, then reconnect
    CLOSED // ended; writes are refused
  }

  /** A reason a session ended that is not a status from the server. */
  static final class End extends Exception {
    private static final long serialVersionUID = 1L;

    End(String message) {
      super(message, null, false, false);
    }
  }

  static final End DRAINED = new End("cronstream: session drained");
  static final End STREAM_CLOSED = new End("cronstream: the server closed the worker stream");
  static final End NO_WELCOME = new End("cronstream: no welcome from the server");

  static final Duration WELCOME_TIMEOUT = Duration.ofSeconds(30);
  /** How long a session that ends gracefully waits for the server to end the call after its half-close. */
  static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
  static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(10);
  static final Duration MIN_HEARTBEAT = Duration.ofMillis(10);
  /** The most results in one {@code results} message: the server's limit. */
  static final int MAX_BATCH = 500;
  /**
   * How long a result waits for others to share its message while other executions still run.
   * The server's cost is per message, and fast handlers finish one by one, so without the wait
   * most results go alone (with the Go worker, 13,185 of 20,000 did before it waited).
   */
  static final Duration RESULT_LINGER = Duration.ofMillis(1);
  /**
   * The longest an assignment is held until its start: a safety bound against a wrong
   * {@code start_at}, since the server sends at most a fraction of a second ahead.
   */
  static final Duration MAX_HOLD = Duration.ofSeconds(5);

  /** Starts an assignment's handler, not before {@code startNanos} on {@link System#nanoTime()}. */
  @FunctionalInterface
  interface Starter {
    void start(Assignment a, long startNanos);
  }

  /** The worker's logger: a session's records are the worker's. */
  private static final Logger LOG = LoggerFactory.getLogger(Worker.class);

  private final Ledger ledger;
  private final Starter start;
  private final Consumer<Session> onWelcome;
  private final ScheduledThreadPoolExecutor writer;
  /**
   * The messages to write, in order. Each enqueue also hands the writer one task, which writes the
   * oldest message (with the results behind it, when batching); only the writer takes from it.
   */
  final BlockingDeque<ConnectRequest> out = new LinkedBlockingDeque<>();
  /** How long a result waits for others ({@link #RESULT_LINGER}; tests lengthen it). */
  final Duration linger;
  /** The welcome said the server takes {@code results} batches. */
  volatile boolean batches;
  /** The welcome, or the reason the session ended before it. */
  final CompletableFuture<Welcome> welcome = new CompletableFuture<>();
  /** Completes, once, with the reason the session ended. */
  final CompletableFuture<Throwable> ended = new CompletableFuture<>();

  private volatile ClientCallStreamObserver<ConnectRequest> requests;
  private boolean writesClosed; // writer thread only
  private State state = State.HANDSHAKE; // guarded by this
  private boolean drained; // entered DRAINING at some point; guarded by this
  private ScheduledFuture<?> welcomeTimeout; // guarded by this
  private volatile String id = "";
  private volatile Duration heartbeat = DEFAULT_HEARTBEAT;

  /**
   * A session numbered {@code number} (its writer thread's name) that hands each assignment, with
   * when it is to start, to {@code start} and settles cancels and acknowledgements in {@code
   * ledger}. {@code onWelcome} runs on the stream's thread once the welcome is in, before any
   * assignment is read: whatever a handler sends from then on finds the session.
   */
  Session(int number, Ledger ledger, Starter start, Consumer<Session> onWelcome, Duration linger) {
    this.ledger = ledger;
    this.start = start;
    this.onWelcome = onWelcome;
    this.linger = linger;
    this.writer = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "cronstream-worker-writer-" + number);
      t.setDaemon(true);
      return t;
    });
    writer.setRemoveOnCancelPolicy(true);
    // What is scheduled for later (the welcome's timeout, heartbeats) dies with the session.
    writer.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
  }

  /**
   * Opens the stream and sends {@code hello}; {@link #welcome} then completes with the server's
   * welcome, or fails with why the session ended ({@link #NO_WELCOME} after WELCOME_TIMEOUT).
   */
  void open(WorkerServiceGrpc.WorkerServiceStub stub, WorkerHello hello) {
    stub.connect(new ClientResponseObserver<ConnectRequest, ConnectResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<ConnectRequest> stream) {
        requests = stream;
      }

      @Override
      public void onNext(ConnectResponse m) {
        dispatch(m);
      }

      @Override
      public void onError(Throwable t) {
        end(t);
        writer.shutdown(); // the call is over: nothing waits for it to end any more
      }

      @Override
      public void onCompleted() {
        end(wasDraining() ? DRAINED : STREAM_CLOSED);
        writer.shutdown();
      }
    });
    enqueue(ConnectRequest.newBuilder().setHello(hello).build());
    synchronized (this) {
      if (state == State.HANDSHAKE) { // else welcomed or ended already
        // The writer is running: end() shuts it down only once CLOSED, which needs this lock.
        welcomeTimeout = writer.schedule(() -> end(NO_WELCOME), WELCOME_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
      }
    }
  }

  String id() {
    return id;
  }

  /** The heartbeat interval the welcome asked for. */
  Duration heartbeat() {
    return heartbeat;
  }

  synchronized State state() {
    return state;
  }

  /** Whether the server asked this session to drain. */
  synchronized boolean wasDraining() {
    return drained;
  }

  private synchronized boolean transition(State from, State to) {
    if (state != from) {
      return false;
    }
    state = to;
    if (to == State.DRAINING) {
      drained = true;
    }
    return true;
  }

  void dispatch(ConnectResponse m) {
    long received = System.nanoTime(); // first: holds count from the message's arrival
    if (state() == State.HANDSHAKE) {
      welcomed(m);
      return;
    }
    switch (m.getMsgCase()) {
      case ASSIGNMENT -> start.start(m.getAssignment(), received); // never held: at once
      case ASSIGNMENTS -> startAll(m.getAssignments(), received);
      case CANCEL -> {
        if (ledger.cancel(m.getCancel().getExecutionId(), m.getCancel().getReason())) {
          // A held one never runs, so no result confirms the cancel: a heartbeat that no longer
          // lists it does, now rather than an interval later, so the server frees its slot.
          sendHeartbeat();
        }
      }
      case RESULT_ACK -> ledger.ack(m.getResultAck().getExecutionId());
      case RESULT_ACKS -> m.getResultAcks().getAcksList().forEach(ack -> ledger.ack(ack.getExecutionId()));
      case DRAIN -> {
        if (transition(State.ACTIVE, State.DRAINING)) {
          LOG.info("cronstream: server draining session {}; finishing, then reconnecting", id);
          endIfDrained();
        }
      }
      default -> LOG.warn("cronstream: unexpected message on the worker stream: {}", m.getMsgCase());
    }
  }

  private void startAll(Assignments batch, long received) {
    for (Assignment a : batch.getAssignmentsList()) {
      start.start(a, received + holdNanos(batch, a));
    }
  }

  /**
   * How long to hold {@code a} from its message's arrival: {@code start_at - sent_at}, at most
   * {@link #MAX_HOLD}; 0 (start at once) when it is due already or either time is unset.
   */
  static long holdNanos(Assignments batch, Assignment a) {
    if (!batch.hasSentAt() || !a.hasStartAt()) {
      return 0;
    }
    Timestamp sentAt = batch.getSentAt();
    Timestamp startAt = a.getStartAt();
    long seconds = startAt.getSeconds() - sentAt.getSeconds();
    if (seconds < 0) {
      return 0; // the nanos differ by less than a second: negative whatever they are
    }
    if (seconds > MAX_HOLD.getSeconds()) {
      return MAX_HOLD.toNanos(); // and no overflow below
    }
    long nanos = TimeUnit.SECONDS.toNanos(seconds) + startAt.getNanos() - sentAt.getNanos();
    return Math.max(0, Math.min(nanos, MAX_HOLD.toNanos()));
  }

  /** The answer to hello: a welcome starts the session's heartbeats; anything else ends it. */
  private void welcomed(ConnectResponse m) {
    if (m.getMsgCase() != ConnectResponse.MsgCase.WELCOME) {
      end(new IllegalStateException("cronstream: the server answered hello with " + m.getMsgCase() + ", not welcome"));
      return;
    }
    Welcome w = m.getWelcome();
    id = w.getSessionId();
    batches = w.getAcceptsBatches();
    heartbeat = heartbeatInterval(w);
    synchronized (this) {
      if (!transition(State.HANDSHAKE, State.ACTIVE)) {
        return; // ended meanwhile
      }
      if (welcomeTimeout != null) {
        welcomeTimeout.cancel(false);
      }
      long every = heartbeat.toNanos(); // the writer runs: as in open()
      writer.scheduleWithFixedDelay(this::sendHeartbeat, every, every, TimeUnit.NANOSECONDS);
    }
    onWelcome.accept(this); // on this thread, so before the next message (an assignment) is read
    welcome.complete(w);
  }

  /** Lists the running executions, whose leases the server then extends. */
  private void sendHeartbeat() {
    enqueue(heartbeatMessage(ledger.runningIds()));
  }

  /** Ends a draining session once the worker owes the server nothing; call it on ledger changes. */
  void endIfDrained() {
    if (state() == State.DRAINING && ledger.idle()) {
      end(DRAINED);
    }
  }

  /** Hands {@code m} to the writer; false if the session has ended. */
  boolean enqueue(ConnectRequest m) {
    if (ended.isDone()) {
      return false;
    }
    out.add(m); // before its task: the task then finds it, or an earlier task took it in a batch
    try {
      writer.execute(this::writeNext);
      return true;
    } catch (RejectedExecutionException e) {
      return false; // ended meanwhile: m is never written
    }
  }

  /** Writes the oldest queued message, batching the results right behind it if the server takes them. */
  private void writeNext() {
    ConnectRequest m = out.poll();
    if (m == null) {
      return; // an earlier task wrote it in a batch
    }
    if (batches && m.hasResult()) {
      m = withQueuedResults(m);
    }
    write(m);
  }

  /**
   * The result {@code first} with the results queued right behind it, as one message: a plain
   * {@code result} when alone. The first other message goes back to the head of the queue, to be
   * written next, so the stream keeps its order. While other executions still run, it waits up to
   * {@link #linger} for their results; when none runs, no result is coming, so it does not wait.
   */
  ConnectRequest withQueuedResults(ConnectRequest first) {
    List<WorkerResult> results = new ArrayList<>(List.of(first.getResult()));
    long lingerEnd = System.nanoTime() + linger.toNanos();
    try {
      while (results.size() < MAX_BATCH) {
        ConnectRequest next = out.poll();
        if (next == null && ledger.runningCount() > 0) {
          next = out.poll(lingerEnd - System.nanoTime(), TimeUnit.NANOSECONDS);
        }
        if (next == null) {
          break;
        }
        if (!next.hasResult()) {
          out.addFirst(next); // safe: only this thread takes from the queue
          break;
        }
        results.add(next.getResult());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // write what was taken
    }
    if (results.size() == 1) {
      return first;
    }
    return ConnectRequest.newBuilder().setResults(WorkerResults.newBuilder().addAllResults(results)).build();
  }

  private void write(ConnectRequest m) {
    if (writesClosed) {
      return;
    }
    try {
      requests.onNext(m);
    } catch (RuntimeException e) {
      writesClosed = true;
      end(e);
    }
  }

  /**
   * Ends the session, once: wakes whoever waits for it and ends the call after the writes queued
   * before. A graceful end (the worker stopped, or a drain finished) half-closes the call, so the
   * server reads every message sent before it, and cancels it only if the server has not ended it
   * within {@link #CLOSE_TIMEOUT}; any other end cancels it at once.
   */
  void end(Throwable reason) {
    if (!ended.complete(reason)) {
      return;
    }
    synchronized (this) {
      state = State.CLOSED;
    }
    welcome.completeExceptionally(reason);
    boolean graceful = reason == Worker.STOPPED || reason == DRAINED;
    try {
      writer.execute(() -> closeCall(graceful));
    } catch (RejectedExecutionException e) {
      return; // the call is over already
    }
    if (!graceful) {
      writer.shutdown();
    }
  }

  /** On the writer thread, after every write queued before the end. */
  private void closeCall(boolean graceful) {
    if (writesClosed || requests == null) {
      writer.shutdown();
      return;
    }
    writesClosed = true;
    if (!graceful) {
      requests.cancel("cronstream: worker session ended", null);
      return;
    }
    requests.onCompleted();
    try {
      writer.schedule(() -> {
        requests.cancel("cronstream: the server did not end the worker stream after its half-close", null);
        writer.shutdown();
      }, CLOSE_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      // the server ended the call meanwhile
    }
  }

  /** The heartbeat interval the welcome asks for: else a third of the lease, else 10 s. */
  static Duration heartbeatInterval(Welcome w) {
    if (w.hasHeartbeatInterval()) {
      Duration d = Duration.ofSeconds(w.getHeartbeatInterval().getSeconds(), w.getHeartbeatInterval().getNanos());
      if (d.compareTo(Duration.ZERO) > 0) {
        return d.compareTo(MIN_HEARTBEAT) < 0 ? MIN_HEARTBEAT : d;
      }
    }
    if (w.hasLeaseDuration()) {
      Duration lease = Duration.ofSeconds(w.getLeaseDuration().getSeconds(), w.getLeaseDuration().getNanos());
      if (lease.compareTo(Duration.ZERO) > 0) {
        Duration d = lease.dividedBy(3);
        return d.compareTo(MIN_HEARTBEAT) < 0 ? MIN_HEARTBEAT : d;
      }
    }
    return DEFAULT_HEARTBEAT;
  }

  static ConnectRequest resultMessage(WorkerResult r) {
    return ConnectRequest.newBuilder().setResult(r).build();
  }

  static ConnectRequest capacityMessage(int slots) {
    return ConnectRequest.newBuilder().setCapacity(WorkerCapacity.newBuilder().setSlots(slots)).build();
  }

  static ConnectRequest heartbeatMessage(List<String> executionIds) {
    return ConnectRequest.newBuilder().setHeartbeat(WorkerHeartbeat.newBuilder().addAllExecutionIds(executionIds)).build();
  }
}
