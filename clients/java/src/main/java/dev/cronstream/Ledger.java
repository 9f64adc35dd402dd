package dev.cronstream;

import dev.cronstream.v1.RunningExecution;
import dev.cronstream.v1.WorkerResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What a worker owes the server, across sessions: attempts still running (assigned, no result
 * yet, whether started or held until their start) and results not yet acknowledged. A new
 * session names both in its hello and re-sends the results.
 */
final class Ledger {
  /**
   * How long a result waits for its acknowledgement. Past it the server has long fenced the
   * attempt (its lease expired and the execution was retried), so re-sending it, or naming it in
   * hello.running, would only hold a lease that belongs to someone else.
   */
  static final Duration RESULT_RETENTION = Duration.ofMinutes(10);

  private final Map<String, Attempt> running = new HashMap<>();
  private final Map<String, WorkerResult> results = new HashMap<>();
  private final Map<String, Long> since = new HashMap<>(); // nanoTime each result was made
  private final Runnable onChange;

  /** {@code onChange} runs after every change, outside the ledger's lock. */
  Ledger(Runnable onChange) {
    this.onChange = onChange;
  }

  /**
   * Records an attempt. Returns false for a repeated assignment of an attempt already running
   * (or older than it); a newer attempt supersedes an older one, which is cancelled and whose
   * result is dropped.
   */
  boolean begin(Attempt a) {
    Attempt old;
    synchronized (this) {
      old = running.get(a.executionId());
      if (old != null && old.number() >= a.number()) {
        return false;
      }
      WorkerResult r = results.get(a.executionId());
      if (r != null && r.getAttempt() < a.number()) {
        results.remove(a.executionId()); // the server has moved on to this attempt
        since.remove(a.executionId());
      }
      running.put(a.executionId(), a);
      notifyAll();
    }
    if (old != null) {
      old.cancel("superseded by attempt " + a.number());
    }
    onChange.run();
    return true;
  }

  /**
   * Turns a running attempt into a result awaiting acknowledgement. Returns false, dropping r,
   * when r's attempt is no longer the one held.
   */
  boolean finish(WorkerResult r) {
    synchronized (this) {
      Attempt held = running.get(r.getExecutionId());
      if (held == null || held.number() != r.getAttempt()) {
        return false;
      }
      running.remove(r.getExecutionId());
      results.put(r.getExecutionId(), r);
      since.put(r.getExecutionId(), System.nanoTime());
      notifyAll();
    }
    onChange.run();
    return true;
  }

  /** Forgets an acknowledged result. */
  void ack(String executionId) {
    synchronized (this) {
      if (results.remove(executionId) == null) {
        return;
      }
      since.remove(executionId);
      notifyAll();
    }
    onChange.run();
  }

  /**
   * Cancels a running attempt. Returns true when it was held, not started: it is dropped then,
   * owes no result, and the next heartbeat no longer lists it, which confirms the cancel.
   */
  boolean cancel(String executionId, String reason) {
    Attempt a;
    synchronized (this) {
      a = running.get(executionId);
    }
    return a != null && cancelOne(a, reason);
  }

  /** Cancels every running attempt; the held ones are dropped. */
  void cancelAll(String reason) {
    List<Attempt> all;
    synchronized (this) {
      all = new ArrayList<>(running.values());
    }
    all.forEach(a -> cancelOne(a, reason));
  }

  /** Cancels {@code a}; a held one leaves the running set at once, as it never reports. */
  private boolean cancelOne(Attempt a, String reason) {
    if (!a.cancel(reason)) {
      return false;
    }
    synchronized (this) {
      if (!running.remove(a.executionId(), a)) {
        return true; // superseded meanwhile
      }
      notifyAll();
    }
    onChange.run();
    return true;
  }

  /** The running executions, sorted, for heartbeats. */
  synchronized List<String> runningIds() {
    return new ArrayList<>(new TreeSet<>(running.keySet()));
  }

  /** Every attempt still owed, running or awaiting acknowledgement, for hello.running. */
  synchronized List<RunningExecution> held() {
    expire();
    List<RunningExecution> out = new ArrayList<>();
    running.forEach((id, a) -> out.add(RunningExecution.newBuilder().setExecutionId(id).setAttempt(a.number()).build()));
    results.forEach((id, r) -> out.add(RunningExecution.newBuilder().setExecutionId(id).setAttempt(r.getAttempt()).build()));
    return out;
  }

  /** The results awaiting acknowledgement. */
  synchronized List<WorkerResult> unacked() {
    expire();
    return new ArrayList<>(results.values());
  }

  synchronized int runningCount() {
    return running.size();
  }

  synchronized int unackedCount() {
    expire();
    return results.size();
  }

  /** Whether the worker owes the server nothing. */
  synchronized boolean idle() {
    expire();
    return running.isEmpty() && results.isEmpty();
  }

  /** Waits until idle; false if {@code timeout} passed first. */
  synchronized boolean awaitIdle(Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!idle()) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      // also wake now and then, for results that expire without a change
      long ms = Math.max(1, Math.min(left / 1_000_000, 1_000));
      wait(ms);
    }
    return true;
  }

  /** Drops results older than RESULT_RETENTION; the lock must be held. */
  private void expire() {
    long cutoff = System.nanoTime() - RESULT_RETENTION.toNanos();
    since.entrySet().removeIf(e -> {
      if (e.getValue() - cutoff < 0) {
        results.remove(e.getKey());
        return true;
      }
      return false;
    });
  }
}
