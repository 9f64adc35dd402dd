package dev.cronstream;

import dev.cronstream.v1.Assignment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One attempt of an execution, from its assignment to its result: its cancellation state and the
 * thread that runs its handler, which cancellation interrupts.
 */
final class Attempt {
  final Assignment assignment;

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
   * Cancels the attempt: interrupts its handler's thread if it is running, and runs the
   * callbacks registered with {@link #onCancel}. Only the first call counts.
   */
  void cancel(String reason) {
    List<Consumer<String>> toRun;
    synchronized (this) {
      if (cancelReason != null || exited) {
        return;
      }
      cancelReason = reason == null || reason.isEmpty() ? "cancelled" : reason;
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
        Worker.LOG.log(System.Logger.Level.WARNING, "cronstream: an onCancel callback failed", e);
      }
    }
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
}
