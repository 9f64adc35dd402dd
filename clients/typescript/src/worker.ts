import { hostname } from "node:os";
import { Code, ConnectError } from "@connectrpc/connect";

import { runAttempt, type Handler } from "./attempt.js";
import type { JobContext } from "./context.js";
import { Backoff, sleep } from "./backoff.js";
import type { Client } from "./client.js";
import { ExecutionCancelledError, GracePeriodExceededError, NonRetryableError } from "./errors.js";
import type { Assignment } from "./gen/cronstream/v1/worker_service_pb.js";
import { waitUntil } from "./hold.js";
import { Ledger } from "./ledger.js";
import { completeLogger, consoleLogger, type WorkerLogger } from "./logger.js";
import { capacityMessage, resultMessage, type ConnectRequestInit, type HelloInit } from "./messages.js";
import { Semaphore } from "./semaphore.js";
import { DRAINED, Session, SessionEnd } from "./session.js";

export type { Handler } from "./attempt.js";
export type { JobContext, LogLevelName } from "./context.js";
export type { WorkerLogger } from "./logger.js";

/** Options of a Worker; absent ones take the defaults. */
export interface WorkerOptions {
  /** Names the worker process to the server; keep it stable across restarts. Default: "<hostname>-<pid>". */
  workerId?: string;
  /** The most executions the worker runs at once, 1 to 10000. Default: 10. */
  slots?: number;
  /**
   * How long run() waits, once its signal is aborted, for running handlers
   * to finish and their results to be acknowledged. Default: 30 s.
   */
  gracePeriodMs?: number;
  /** Bounds of the jittered exponential wait between reconnections. Defaults: 100 ms and 5 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Where the worker's own records go: a failed attempt (warn; error when
   * final), a successful one (debug), connections and reconnections (info,
   * warn). Default: console, with debug shown when NODE_DEBUG=cronstream.
   */
  logger?: WorkerLogger;
  /** Run handlers in OpenTelemetry spans when @opentelemetry/api is installed. Default: true. */
  tracing?: boolean;
}

// Ends the worker's life after a graceful stop.
const STOPPED = new SessionEnd("cronstream: worker stopped");
const PERMANENT_CODES = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented]);

/**
 * A Worker runs handlers for the executions a Cronstream server assigns to
 * it over the WorkerService stream. Register handlers with handle(), then
 * call run() once.
 *
 *     const worker = new Worker(client, { slots: 4 });
 *     worker.handle("send_report", async (job) => ({ sent: true }));
 *     await worker.run(signal);
 */
export class Worker {
  readonly workerId: string;
  private readonly slots: number;
  private readonly gracePeriodMs: number;
  private readonly backoff: Backoff;
  private readonly logger: Required<WorkerLogger>;
  private readonly tracing: boolean;
  private readonly handlers = new Map<string, Handler>();
  private readonly ledger = new Ledger();
  private readonly semaphore: Semaphore;

  private started = false;
  private stopping = false;
  private session: Session | undefined; // the welcomed session, undefined while disconnected
  private readonly life = new AbortController(); // ends the worker: its reason is why

  constructor(
    private readonly client: Client,
    options: WorkerOptions = {},
  ) {
    this.workerId = options.workerId || `${hostname()}-${process.pid}`;
    this.slots = options.slots ?? 10;
    this.gracePeriodMs = options.gracePeriodMs ?? 30_000;
    this.backoff = new Backoff(options.minBackoffMs ?? 100, options.maxBackoffMs ?? 5_000);
    this.logger = completeLogger(options.logger ?? consoleLogger);
    this.tracing = options.tracing ?? true;
    this.semaphore = new Semaphore(this.slots);
  }

  /**
   * Registers fn for jobs whose handler_name is name. It throws on an empty
   * name, a name registered twice, or a call after run().
   */
  handle(name: string, fn: Handler): this {
    if (!name || typeof fn !== "function") {
      throw new TypeError("cronstream: handle needs a name and a function");
    }
    if (this.started) {
      throw new Error("cronstream: handle called after run");
    }
    if (this.handlers.has(name)) {
      throw new Error(`cronstream: handler ${name} registered twice`);
    }
    this.handlers.set(name, fn);
    return this;
  }

  /**
   * Registers a typed handler for jobs whose handler_name is name: fn gets
   * the attempt's context and the payload as an I, and returns the result.
   * With validate (a schema's parse, such as zod's `schema.parse`), the
   * payload goes through it first; when it throws, the attempt fails for
   * good (no retry would make the payload valid) with an error naming the
   * handler and what validate said.
   *
   *     worker.handler("greet", async (job, input: { name: string }) => ({ greeting: `hello ${input.name}` }));
   *     worker.handler("greet", greet, { validate: GreetSchema.parse });
   */
  handler<I = unknown, O extends object | void = object | void>(
    name: string,
    fn: (job: JobContext, input: I) => Promise<O> | O,
    options: { validate?: (payload: unknown) => I } = {},
  ): this {
    const { validate } = options;
    return this.handle(name, (job) => fn(job, validated(name, job.payload, validate)));
  }

  /**
   * Connects and runs assignments until signal is aborted, reconnecting
   * with jittered exponential backoff whenever the stream ends. When signal
   * is aborted it stops taking work (it tells the server its capacity is
   * 0), waits up to the grace period for running handlers to finish and for
   * their results to be acknowledged, and resolves; or it aborts the
   * handlers still running and rejects with a GracePeriodExceededError. It
   * rejects early with what reconnecting cannot fix: a wrong API key
   * (UnauthenticatedError), a rejected hello (InvalidArgumentError), a
   * server without the WorkerService (a ConnectError of Code.Unimplemented).
   */
  async run(signal?: AbortSignal): Promise<void> {
    this.begin();
    if (signal?.aborted) {
      return;
    }
    const onAbort = () => void this.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const reason = await this.connectLoop();
      if (reason !== STOPPED) {
        throw reason;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.ledger.cancelAll(STOPPED);
      this.end(STOPPED); // a permanent error ends the worker too
    }
  }

  /** Checks the worker can run, once. */
  private begin(): void {
    if (this.started) {
      throw new Error("cronstream: run called twice");
    }
    if (this.handlers.size === 0) {
      throw new Error("cronstream: no handlers: call handle before run");
    }
    if (!Number.isInteger(this.slots) || this.slots < 1 || this.slots > 10000) {
      throw new RangeError(`cronstream: slots must be 1 to 10000, not ${this.slots}`);
    }
    this.started = true;
  }

  private end(reason: unknown): void {
    if (!this.life.signal.aborted) {
      this.life.abort(reason);
    }
  }

  /** The graceful stop: no new work, then end when nothing is owed or the grace period is over. */
  private async stop(): Promise<void> {
    if (this.life.signal.aborted) {
      return;
    }
    this.stopping = true;
    this.logger.info("cronstream: worker stopping", { gracePeriodMs: this.gracePeriodMs });
    this.session?.send(capacityMessage(0));
    const grace = new AbortController();
    const timer = setTimeout(() => grace.abort(), this.gracePeriodMs);
    const onLife = () => grace.abort();
    this.life.signal.addEventListener("abort", onLife, { once: true });
    const idle = await this.ledger.waitIdle(grace.signal);
    clearTimeout(timer);
    this.life.signal.removeEventListener("abort", onLife);
    if (this.life.signal.aborted) {
      return; // ended meanwhile, by an error reconnecting cannot fix
    }
    if (idle) {
      this.end(STOPPED);
      return;
    }
    const { running, unacked } = this.ledger.counts();
    const err = new GracePeriodExceededError(
      `cronstream: grace period exceeded (${this.gracePeriodMs} ms): ${running} executions running, ${unacked} results unacknowledged`,
    );
    this.ledger.cancelAll(err);
    this.end(err);
  }

  /** Runs session after session; returns why the worker's life ended, or throws what reconnecting cannot fix. */
  private async connectLoop(): Promise<unknown> {
    const life = this.life.signal;
    let failures = 0;
    for (;;) {
      const began = Date.now();
      const { welcomed, reason } = await this.runSession();
      if (life.aborted) {
        return life.reason;
      }
      if (reason instanceof ConnectError && PERMANENT_CODES.has(reason.code)) {
        throw reason;
      }
      if (welcomed && Date.now() - began > 1000) {
        failures = 0; // a session that lived: start the backoff over
      }
      const delayMs = this.backoff.delay(failures++);
      const log = reason === DRAINED ? this.logger.info : this.logger.warn; // drained: the server asked for it
      const error = reason instanceof Error ? reason.message : String(reason);
      log(`cronstream: worker stream ended (${error}); reconnecting in ${Math.round(delayMs)} ms`, { error, inMs: delayMs, failures });
      if (!(await sleep(delayMs, life))) {
        return life.reason;
      }
    }
  }

  /** Opens a stream and runs it until it ends. */
  private async runSession(): Promise<{ welcomed: boolean; reason: unknown }> {
    const session = new Session({
      ledger: this.ledger,
      start: (a, startsAt) => this.start(a, startsAt),
      logger: this.logger,
      life: this.life.signal,
    });
    const welcomed = await session.handshake(this.client, this.hello());
    if (welcomed) {
      this.logger.info("cronstream: worker connected", { sessionId: session.id, heartbeatMs: session.heartbeatMs });
      this.attach(session);
    }
    const reason = await session.done;
    if (this.session === session) {
      this.session = undefined;
    }
    return { welcomed, reason };
  }

  private hello(): HelloInit {
    return {
      workerId: this.workerId,
      handlerNames: [...this.handlers.keys()].sort(),
      slots: this.stopping ? 0 : this.slots,
      running: this.ledger.held(),
      // A dispatch round's assignments, and a batch's acks, may come as one message.
      acceptsBatches: true,
      // The worker starts each batched assignment at its start_at itself (Session.startBatch),
      // so the server may send it ahead of its instant.
      holdsUntilStart: true,
    };
  }

  /** Routes the worker's messages to session and re-sends the results never acknowledged. */
  private attach(session: Session): void {
    this.session = session;
    if (this.stopping) {
      session.send(capacityMessage(0)); // hello may have offered slots before the stop
    }
    // Results finished from here on are sent through the session; one also
    // in this snapshot is sent twice, which the server ignores.
    for (const r of this.ledger.unacked()) {
      session.send(resultMessage(r));
    }
  }

  /** Hands m to the current session; false while disconnected. */
  private send(m: ConnectRequestInit): boolean {
    return this.session?.send(m) ?? false;
  }

  /**
   * Takes an assignment: records the attempt and runs it once a slot is
   * free, and not before startsAt (a performance.now() instant) when given.
   * A held attempt is recorded at once, so that heartbeats and a reconnect's
   * hello name it as running: the server counts it in the worker's slots.
   */
  private start(a: Assignment, startsAt?: number): void {
    const controller = new AbortController();
    if (!this.ledger.begin(a.executionId, a.attempt, controller, new ExecutionCancelledError("superseded"))) {
      return; // a repeated assignment of an attempt already running
    }
    void this.execute(a, controller, startsAt);
  }

  /** Runs one attempt, after its hold if it has one, and reports its result. */
  private async execute(a: Assignment, controller: AbortController, startsAt: number | undefined): Promise<void> {
    if (startsAt !== undefined && !(await waitUntil(startsAt, controller.signal))) {
      // Cancelled (or superseded, or cut off by the end of a stop's grace
      // period) while held: the handler never ran, so there is no result.
      // Leaving the heartbeats' list is what tells the server it is gone.
      this.ledger.drop(a.executionId, a.attempt);
      const why = controller.signal.reason instanceof Error ? controller.signal.reason.message : String(controller.signal.reason);
      this.logger.debug(`cronstream: execution ${a.executionId} attempt ${a.attempt} dropped before its start: ${why}`, {
        executionId: a.executionId,
        attempt: a.attempt,
      });
      return;
    }
    const r = await runAttempt(a, controller, {
      handler: this.handlers.get(a.handlerName),
      workerId: this.workerId,
      tracing: this.tracing,
      slots: this.semaphore,
      send: (m) => this.send(m),
    });
    this.report(a, r);
    if (this.ledger.finish(r)) {
      this.send(resultMessage(r));
    }
  }

  /** One record per attempt: failures as warnings (errors when final), successes at debug. */
  private report(a: Assignment, r: Awaited<ReturnType<typeof runAttempt>>): void {
    const fields = { executionId: a.executionId, attempt: a.attempt, handler: a.handlerName, jobId: a.jobId };
    const what = `cronstream: execution ${a.executionId} attempt ${a.attempt} (${a.handlerName})`;
    if (r.outcome?.case === "failure") {
      const error = r.outcome.value.error ?? "";
      const retryable = r.outcome.value.retryable ?? true;
      const log = retryable ? this.logger.warn : this.logger.error;
      log(`${what} failed${retryable ? "" : " for good (not retryable)"}: ${error}`, { ...fields, retryable });
    } else {
      this.logger.debug(`${what} succeeded`, fields);
    }
  }
}

/** payload as an I: through validate when given, which failing fails the attempt for good. */
function validated<I>(name: string, payload: unknown, validate: ((payload: unknown) => I) | undefined): I {
  if (!validate) {
    return payload as I;
  }
  try {
    return validate(payload);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new NonRetryableError(`cronstream: invalid payload for handler ${name}: ${why}`, { cause: err });
  }
}
