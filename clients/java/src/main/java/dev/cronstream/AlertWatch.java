package dev.cronstream;

import dev.cronstream.v1.SchedulerServiceGrpc;
import dev.cronstream.v1.WatchAlertsRequest;
import dev.cronstream.v1.WatchAlertsResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A watch of the platform's alert events, made by {@link CronstreamClient#watchAlerts(long,
 * Consumer)}: a thread of its own holds a {@code WatchAlerts} stream open and hands each event to
 * the consumer, one at a time, in cursor order. When the stream breaks it opens another with the
 * workers' backoff ({@code uniform(0, min(5 s, 100 ms × 2^n))}), after the cursor of the last
 * event the consumer returned from, so the consumer sees every event once. A watch from 0 starts
 * where the server's first response says "now" was, and a reconnection before its first event
 * resumes from there: it misses none even then.
 *
 * <p>It ends when closed, or with an exception that {@link #join()} throws: an {@link
 * UnauthenticatedException} or {@link InvalidArgumentException} (a {@link CronstreamException} of
 * PERMISSION_DENIED or UNIMPLEMENTED too), which a new stream would get again; or what the
 * consumer threw, in which case {@link #lastCursor()} is still the event before, so a new watch
 * from it gets that event again.
 */
public final class AlertWatch implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AlertWatch.class);
  private static final Set<Status.Code> PERMANENT = EnumSet.of(
      Status.Code.UNAUTHENTICATED, Status.Code.PERMISSION_DENIED, Status.Code.INVALID_ARGUMENT,
      Status.Code.UNIMPLEMENTED);
  /** A stream that lived this long worked: the backoff starts over after it. */
  private static final Duration LIVED = Duration.ofSeconds(1);
  private static final AtomicInteger NUMBER = new AtomicInteger();

  private final SchedulerServiceGrpc.SchedulerServiceBlockingStub scheduler;
  private final Consumer<AlertEvent> onEvent;
  private final Backoff backoff;
  private final CountDownLatch closing = new CountDownLatch(1);
  private final CountDownLatch ended = new CountDownLatch(1);
  private final Thread thread;
  private volatile long cursor;
  private volatile Context.CancellableContext stream;
  private volatile RuntimeException failure;
  private int failures;

  AlertWatch(SchedulerServiceGrpc.SchedulerServiceBlockingStub scheduler, long afterCursor,
      Consumer<AlertEvent> onEvent, Backoff backoff) {
    if (afterCursor < 0) {
      throw new IllegalArgumentException("cronstream: afterCursor must not be negative, not " + afterCursor);
    }
    this.scheduler = scheduler;
    this.cursor = afterCursor;
    this.onEvent = onEvent;
    this.backoff = backoff;
    this.thread = new Thread(this::run, "cronstream-alert-watch-" + NUMBER.incrementAndGet());
  }

  void start() {
    thread.start();
  }

  /**
   * The cursor of the last event the consumer returned from (before any, where a watch from 0
   * started, or its {@code afterCursor}): where a new watch would resume.
   */
  public long lastCursor() {
    return cursor;
  }

  /** Whether it still runs: neither closed nor ended by an error. */
  public boolean isRunning() {
    return ended.getCount() > 0;
  }

  /** Waits until the watch has ended; throws what ended it, unless {@link #close()} did. */
  public void join() throws InterruptedException {
    ended.await();
    if (failure != null) {
      throw failure;
    }
  }

  /** Waits up to {@code timeout} for the watch to end; whether it has. */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    return ended.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * Closes the stream and waits for the consumer's current call, if any, to return (unless
   * called by the consumer itself). Idempotent.
   */
  @Override
  public void close() {
    closing.countDown();
    Context.CancellableContext s = stream;
    if (s != null) {
      s.cancel(null);
    }
    if (Thread.currentThread() == thread) {
      return;
    }
    try {
      ended.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private boolean closed() {
    return closing.getCount() == 0;
  }

  /** Stream after stream until closed, or an error a new stream would get again. */
  private void run() {
    try {
      while (!closed()) {
        long began = System.nanoTime();
        CronstreamException why = streamOnce();
        if (closed()) {
          return;
        }
        if (why != null && PERMANENT.contains(why.code())) {
          failure = why;
          return;
        }
        if (System.nanoTime() - began > LIVED.toNanos()) {
          failures = 0;
        }
        Duration delay = backoff.delay(failures++);
        LOG.warn("cronstream: alert stream ended ({}); resuming after cursor {} in {} ms",
            why == null ? "the server ended it" : why.getMessage(), cursor, delay.toMillis());
        if (closing.await(delay.toNanos(), TimeUnit.NANOSECONDS)) {
          return;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      failure = e; // the consumer's
    } finally {
      ended.countDown();
    }
  }

  /**
   * One stream from the cursor, handing its new events to the consumer; returns why it ended
   * ({@code null}: the server ended it). What the consumer throws goes through.
   */
  private CronstreamException streamOnce() {
    Context.CancellableContext s = Context.current().withCancellation();
    stream = s;
    if (closed()) { // close() ran before the stream was published
      s.cancel(null);
    }
    Context previous = s.attach();
    try {
      Iterator<WatchAlertsResponse> responses =
          scheduler.watchAlerts(WatchAlertsRequest.newBuilder().setAfterCursor(cursor).build());
      while (true) {
        WatchAlertsResponse r;
        try {
          if (!responses.hasNext()) {
            return null;
          }
          r = responses.next();
        } catch (StatusRuntimeException e) {
          return CronstreamException.from(e);
        }
        if (closed()) {
          return null; // cancelling leaves what was received already queued: hand out no more
        }
        if (!r.hasEvent()) { // where a stream from 0 starts: a reconnection resumes after it
          cursor = Math.max(cursor, r.getCursor());
          continue;
        }
        long at = r.getCursor() != 0 ? r.getCursor() : r.getEvent().getCursor(); // 0: an older server
        if (at <= cursor) {
          continue; // seen already: the server resumes after the cursor, this makes sure
        }
        failures = 0; // the stream works
        onEvent.accept(Convert.alertEvent(r.getEvent()));
        cursor = at;
      }
    } finally {
      s.detach(previous);
      s.cancel(null);
    }
  }
}
