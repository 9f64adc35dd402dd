package dev.cronstream;

import com.google.protobuf.Struct;
import dev.cronstream.v1.Assignment;
import dev.cronstream.v1.ResultFailure;
import dev.cronstream.v1.ResultSuccess;
import dev.cronstream.v1.WorkerResult;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One attempt of an execution, from its assignment to its result: its hold until its start, its
 * cancellation state, the thread that runs its handler, which cancellation interrupts, and the
 * result it reports.
 */
final class Attempt {
  final Assignment assignment;

  private ScheduledFuture<?> hold; // while held until its start
  private Thread thread; // while the handler runs
  private boolean exited;
  private String cancelReason; // non-null once cancelled
  private List<Consumer<String>> callbacks = new ArrayList<>();

  Attempt(Assignment assignment) {
    this.assignment = assignment;
  }

  String executionId() {
    return assignment.getExecutionId();
  }

  int number() {
    return assignment.getAttempt();
  }

  /**
   * Holds the attempt: {@code release} runs on {@code timer} after {@code nanos}, unless a cancel
   * drops the attempt first. Under the lock, so {@link #release} cannot run before the timer is
   * known.
   */
  synchronized void hold(ScheduledExecutorService timer, long nanos, Runnable release) {
    hold = timer.schedule(release, nanos, TimeUnit.NANOSECONDS);
  }

  /** The hold is over: whether the attempt goes on to its handler (false: a cancel dropped it). */
  synchronized boolean release() {
    hold = null;
    return cancelReason == null;
  }

  /**
   * Cancels the attempt: drops it if it is held (its handler never starts), else interrupts its
   * handler's thread if it is running and runs the callbacks registered with {@link #onCancel}.
   * Only the first call counts. Returns whether it dropped a held attempt, which owes no result.
   */
  boolean cancel(String reason) {
    List<Consumer<String>> toRun;
    synchronized (this) {
      if (cancelReason != null || exited) {
        return false;
      }
      cancelReason = reason == null || reason.isEmpty() ? "cancelled" : reason;
      if (hold != null) {
        hold.cancel(false);
        hold = null;
        return true; // no handler ran, so no callback was registered
      }
      if (thread != null) {
        thread.interrupt();
      }
      toRun = callbacks;
      callbacks = List.of();
    }
    for (Consumer<String> c : toRun) {
      try {
        c.accept(cancelReason);
      } catch (RuntimeException e) {
        Worker.LOG.warn("cronstream: an onCancel callback failed", e);
      }
    }
    return false;
  }

  synchronized boolean isCancelled() {
    return cancelReason != null;
  }

  synchronized String cancelReason() {
    return cancelReason;
  }

  /** Runs {@code c} with the reason on cancellation, now if already cancelled. */
  void onCancel(Consumer<String> c) {
    String reason;
    synchronized (this) {
      reason = cancelReason;
      if (reason == null) {
        if (!exited) {
          callbacks.add(c);
        }
        return;
      }
    }
    c.accept(reason);
  }

  /** The current thread starts the handler; false if the attempt was cancelled first. */
  synchronized boolean enter() {
    if (cancelReason != null) {
      return false;
    }
    thread = Thread.currentThread();
    return true;
  }

  /**
   * The handler returned: no later cancel interrupts the thread, and an interrupt left over from
   * one is cleared, as the thread goes back to the pool.
   */
  void exit() {
    synchronized (this) {
      thread = null;
      exited = true;
      callbacks = List.of();
    }
    Thread.interrupted();
  }

  /** The result message of an attempt that returned {@code out} or threw {@code err}. */
  static WorkerResult resultOf(Assignment a, Map<String, ?> out, Throwable err, String cancelReason) {
    WorkerResult.Builder r = WorkerResult.newBuilder().setExecutionId(a.getExecutionId()).setAttempt(a.getAttempt());
    if (err == null) {
      try {
        Struct result = Payloads.toStruct(out);
        return r.setSuccess(ResultSuccess.newBuilder().setResult(result)).build();
      } catch (IllegalArgumentException e) {
        err = new NonRetryableException("handler result: " + e.getMessage(), e); // a retry would return it again
      }
    }
    return r.setFailure(failureOf(err, cancelReason)).build();
  }

  static ResultFailure failureOf(Throwable err, String cancelReason) {
    String message = err.getMessage();
    if (message == null || message.isBlank()) {
      message = err.getClass().getName();
    }
    if (cancelReason != null) {
      message += " (execution cancelled: " + cancelReason + ")";
    }
    StringWriter stack = new StringWriter();
    err.printStackTrace(new PrintWriter(stack));
    return ResultFailure.newBuilder()
        .setError(JobContext.truncateUtf8(message, JobContext.MAX_LOG_BYTES))
        .setErrorStack(JobContext.truncateUtf8(stack.toString(), JobContext.MAX_LOG_BYTES))
        .setRetryable(!NonRetryableException.isNonRetryable(err))
        .build();
  }
}
