import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WorkerResultSchema } from "./gen/cronstream/v1/worker_service_pb.js";

export type WorkerResultInit = MessageInitShape<typeof WorkerResultSchema> & { executionId: string; attempt: number };
type RunningExecutionInit = { executionId: string; attempt: number };

/**
 * How long a result waits for its acknowledgement. Past it the server has
 * long fenced the attempt (its lease expired and the execution was
 * retried), so re-sending it, or naming it in hello.running, would only
 * hold a lease that belongs to someone else.
 */
export const RESULT_RETENTION_MS = 10 * 60_000;

interface HeldAttempt {
  attempt: number;
  controller: AbortController;
}

interface HeldResult {
  result: WorkerResultInit;
  since: number;
}

/**
 * The ledger holds what a worker owes the server, across sessions: attempts
 * still running (assigned, no result yet) and results not yet acknowledged.
 * A new session names both in its hello and re-sends the results.
 */
export class Ledger {
  private readonly running = new Map<string, HeldAttempt>();
  private readonly results = new Map<string, HeldResult>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Records attempt n of an execution. It returns false for a repeated
   * assignment of an attempt already running; a newer attempt supersedes an
   * older one, which is aborted and whose result is dropped.
   */
  begin(executionId: string, attempt: number, controller: AbortController, supersededReason: unknown): boolean {
    const old = this.running.get(executionId);
    if (old) {
      if (old.attempt >= attempt) {
        return false;
      }
      old.controller.abort(supersededReason);
    }
    const result = this.results.get(executionId);
    if (result && result.result.attempt < attempt) {
      this.results.delete(executionId); // the server has moved on to this attempt
    }
    this.running.set(executionId, { attempt, controller });
    this.notify();
    return true;
  }

  /**
   * Turns a running attempt into a result awaiting acknowledgement. It
   * returns false, dropping the result, when its attempt is no longer the
   * one held.
   */
  finish(result: WorkerResultInit): boolean {
    const held = this.running.get(result.executionId);
    if (!held || held.attempt !== result.attempt) {
      return false;
    }
    this.running.delete(result.executionId);
    this.results.set(result.executionId, { result, since: this.now() });
    this.notify();
    return true;
  }

  /**
   * Forgets an attempt that ends without a result: one cancelled before its
   * handler started. Another attempt of the execution is left alone.
   */
  drop(executionId: string, attempt: number): void {
    if (this.running.get(executionId)?.attempt === attempt) {
      this.running.delete(executionId);
      this.notify();
    }
  }

  /** Forgets an acknowledged result. */
  ack(executionId: string): void {
    if (this.results.delete(executionId)) {
      this.notify();
    }
  }

  /** Aborts a running attempt with reason; false if it is not running. */
  cancel(executionId: string, reason: unknown): boolean {
    const held = this.running.get(executionId);
    held?.controller.abort(reason);
    return held !== undefined;
  }

  /** Aborts every running attempt with reason. */
  cancelAll(reason: unknown): void {
    for (const held of this.running.values()) {
      held.controller.abort(reason);
    }
  }

  /** The running executions, for heartbeats. */
  runningIds(): string[] {
    return [...this.running.keys()].sort();
  }

  /**
   * How many attempts run. Unlike counts() it expires nothing, so the
   * sender can ask it for every batch of results at no cost.
   */
  get runningCount(): number {
    return this.running.size;
  }

  /** Every attempt the worker still answers for, running or unacknowledged, for hello.running. */
  held(): RunningExecutionInit[] {
    this.expire();
    return [
      ...[...this.running].map(([executionId, a]) => ({ executionId, attempt: a.attempt })),
      ...[...this.results].map(([executionId, r]) => ({ executionId, attempt: r.result.attempt })),
    ];
  }

  /** The results awaiting acknowledgement. */
  unacked(): WorkerResultInit[] {
    this.expire();
    return [...this.results.values()].map((r) => r.result);
  }

  /** How many attempts run and how many results await acknowledgement. */
  counts(): { running: number; unacked: number } {
    this.expire();
    return { running: this.running.size, unacked: this.results.size };
  }

  /** Whether the worker owes the server nothing. */
  idle(): boolean {
    const { running, unacked } = this.counts();
    return running === 0 && unacked === 0;
  }

  /** Calls fn after every change until the returned function is called. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves true once the worker owes nothing, or false when signal is
   * aborted first.
   */
  waitIdle(signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        off();
        signal.removeEventListener("abort", onAbort);
        resolve(idle);
      };
      const onAbort = () => done(false);
      const off = this.onChange(() => {
        if (this.idle()) {
          done(true);
        }
      });
      if (this.idle()) {
        done(true);
      } else if (signal.aborted) {
        done(false);
      } else {
        signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  }

  private expire(): void {
    const cutoff = this.now() - RESULT_RETENTION_MS;
    for (const [id, r] of this.results) {
      if (r.since < cutoff) {
        this.results.delete(id);
      }
    }
  }

  private notify(): void {
    for (const fn of [...this.listeners]) {
      fn();
    }
  }
}
