import { hostname } from "node:os";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { durationMs, timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";

import type { Client } from "./client.js";
import { LogLevel } from "./gen/cronstream/v1/execution_pb.js";
import type {
  Assignment,
  ConnectRequestSchema,
  ConnectResponse,
  Welcome,
  WorkerResultSchema,
} from "./gen/cronstream/v1/worker_service_pb.js";
import { Backoff } from "./backoff.js";
import { ExecutionCancelledError, GracePeriodExceededError, isNonRetryable } from "./errors.js";
import { Ledger, type WorkerResultInit } from "./ledger.js";
import { Outbox } from "./outbox.js";
import { fromPayload, toPayload } from "./payload.js";
import { inSpan, loadOtel } from "./tracing.js";

/** The level of a log line, by name or as the generated enum. */
export type LogLevelName = "debug" | "info" | "warn" | "error";

/** What a handler is asked to run: one attempt of one execution. */
export interface JobContext {
  readonly executionId: string;
  /** Empty for event-handler deliveries. */
  readonly jobId: string;
  readonly handlerName: string;
  /** The job's JSON payload. */
  readonly payload: JsonObject;
  /** Counts from 1. */
  readonly attempt: number;
  /** The slot the execution was scheduled for. */
  readonly scheduledAt: Date | undefined;
  /** When the server times the attempt out; signal aborts then too. */
  readonly deadline: Date | undefined;
  /** The W3C trace context of the execution's span ("" when none). */
  readonly traceparent: string;
  /**
   * Aborted when the server cancels the execution (reason: an
   * ExecutionCancelledError saying why), at the deadline (a "TimeoutError"
   * DOMException), and when the worker's grace period ends (a
   * GracePeriodExceededError). Pass it on to fetch() and the like.
   */
  readonly signal: AbortSignal;
  /**
   * Stores a line with the execution. Lines are sent on the worker stream
   * as they come; one logged while the worker is disconnected is dropped.
   * Returns whether the line was handed to the stream (an empty line is not).
   */
  log(level: LogLevelName | LogLevel, message: string): boolean;
}

/**
 * A handler runs one attempt. What it returns (a JSON object; undefined is
 * an empty one) is the execution's result. What it throws fails the attempt,
 * which the server retries under the job's policy unless it is a
 * NonRetryableError (or has one in its cause chain).
 */
export type Handler = (job: JobContext) => Promise<object | void | undefined> | object | void | undefined;

/** Receives the worker's own log records. `console` fits. */
export interface WorkerLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

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
  /** Bounds of the jittered exponential wait between reconnections. Defaults: 100 ms and 10 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Default: console. */
  logger?: WorkerLogger;
  /** Run handlers in OpenTelemetry spans when @opentelemetry/api is installed. Default: true. */
  tracing?: boolean;
}

type ConnectRequestInit = MessageInitShape<typeof ConnectRequestSchema>;
type ResultInit = MessageInitShape<typeof WorkerResultSchema>;

const WELCOME_TIMEOUT_MS = 30_000;
const DEFAULT_HEARTBEAT_MS = 10_000;
const MIN_HEARTBEAT_MS = 10;
/** The server's limit on one log message. */
const MAX_LOG_BYTES = 64 * 1024;
/** The most results in one `results` message: the server refuses more. */
export const MAX_BATCH = 500;
/**
 * How long a result waits for others to share its message while other
 * executions still run. The server pays per message, not per result, and
 * fast handlers finish one at a time, so the sender mostly finds a single
 * result queued: the Go worker, before it waited, sent 13,185 of 20,000
 * results alone. With nothing else running no result can join, so it goes
 * at once.
 */
export const RESULT_LINGER_MS = 1;

// Why a session or the worker's life ended, when no status error says so.
class SessionEnd extends Error {}
const DRAINED = new SessionEnd("cronstream: session drained");
const STREAM_CLOSED = new SessionEnd("cronstream: the server closed the worker stream");
const NO_WELCOME = new SessionEnd("cronstream: no welcome from the server");
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
  private readonly logger: WorkerLogger;
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
    this.backoff = new Backoff(options.minBackoffMs ?? 100, options.maxBackoffMs ?? 10_000);
    this.logger = options.logger ?? console;
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
      log.call(this.logger, "cronstream: worker stream ended; reconnecting", {
        error: reason instanceof Error ? reason.message : String(reason),
        inMs: delayMs,
      });
      if (!(await sleep(delayMs, life))) {
        return life.reason;
      }
    }
  }

  /** Opens a stream and runs it until it ends. */
  private async runSession(): Promise<{ welcomed: boolean; reason: unknown }> {
    const session = new Session(this, this.life.signal);
    const welcomed = await session.handshake(this.client, {
      workerId: this.workerId,
      handlerNames: [...this.handlers.keys()].sort(),
      slots: this.stopping ? 0 : this.slots,
      running: this.ledger.held(),
      // A dispatch round's assignments, and a batch's acks, may come as one message.
      acceptsBatches: true,
    });
    if (welcomed) {
      this.logger.info("cronstream: worker connected", { sessionId: session.id, heartbeatMs: session.heartbeatMs });
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
    const reason = await session.done;
    if (this.session === session) {
      this.session = undefined;
    }
    return { welcomed, reason };
  }

  /** @internal Hands m to the current session; false while disconnected. */
  send(m: ConnectRequestInit): boolean {
    return this.session?.send(m) ?? false;
  }

  /** @internal the session's dispatch of the server's messages. */
  dispatch(m: ConnectResponse, session: Session): void {
    switch (m.msg.case) {
      case "assignment":
        this.start(m.msg.value);
        break;
      case "assignments":
        for (const assignment of m.msg.value.assignments) {
          this.start(assignment);
        }
        break;
      case "cancel":
        this.ledger.cancel(m.msg.value.executionId, new ExecutionCancelledError(m.msg.value.reason));
        break;
      case "resultAck":
        this.ledger.ack(m.msg.value.executionId);
        break;
      case "resultAcks":
        for (const ack of m.msg.value.acks) {
          this.ledger.ack(ack.executionId);
        }
        break;
      case "drain":
        if (session.beginDrain(this.ledger)) {
          this.logger.info("cronstream: server draining; finishing, then reconnecting", { sessionId: session.id });
        }
        break;
      default:
        this.logger.warn("cronstream: unexpected message on the worker stream", { type: m.msg.case });
    }
  }

  /** @internal The running executions, for the session's heartbeats. */
  runningIds(): string[] {
    return this.ledger.runningIds();
  }

  /** @internal How many executions run, whose results a batch may wait for. */
  runningCount(): number {
    return this.ledger.runningCount;
  }

  /** Takes an assignment: records the attempt and runs it once a slot is free. */
  private start(a: Assignment): void {
    const controller = new AbortController();
    if (!this.ledger.begin(a.executionId, a.attempt, controller, new ExecutionCancelledError("superseded"))) {
      return; // a repeated assignment of an attempt already running
    }
    void this.execute(a, controller);
  }

  /** Runs one attempt and reports its result. */
  private async execute(a: Assignment, controller: AbortController): Promise<void> {
    const signal = controller.signal;
    let deadlineTimer: NodeJS.Timeout | undefined;
    if (a.deadline) {
      const ms = timestampDate(a.deadline).getTime() - Date.now();
      deadlineTimer = setTimeout(
        () => controller.abort(new DOMException("the attempt's deadline passed", "TimeoutError")),
        Math.max(0, ms),
      );
    }
    let out: unknown;
    let error: unknown;
    let failed = false;
    try {
      await this.semaphore.acquire(signal);
      try {
        out = await this.invoke(a, signal);
      } finally {
        this.semaphore.release();
      }
    } catch (err) {
      failed = true;
      error = err;
    } finally {
      clearTimeout(deadlineTimer);
    }
    const r = resultOf(a, failed, out, error, signal);
    if (this.ledger.finish(r)) {
      this.send(resultMessage(r));
    }
  }

  private async invoke(a: Assignment, signal: AbortSignal): Promise<unknown> {
    const handler = this.handlers.get(a.handlerName);
    const job = this.jobContext(a, signal);
    const call = async () => {
      if (!handler) {
        throw new Error(`cronstream: worker ${this.workerId} has no handler ${a.handlerName}`);
      }
      return await handler(job);
    };
    const api = this.tracing ? await loadOtel() : undefined;
    if (!api) {
      return call();
    }
    return inSpan(api, a, call);
  }

  private jobContext(a: Assignment, signal: AbortSignal): JobContext {
    const attempt = a.attempt;
    const executionId = a.executionId;
    return {
      executionId,
      jobId: a.jobId,
      handlerName: a.handlerName,
      payload: fromPayload(a.payload),
      attempt,
      scheduledAt: a.scheduledAt ? timestampDate(a.scheduledAt) : undefined,
      deadline: a.deadline ? timestampDate(a.deadline) : undefined,
      traceparent: a.traceparent,
      signal,
      log: (level, message) =>
        String(message) !== "" &&
        this.send({
          msg: {
            case: "log",
            value: {
              executionId,
              level: logLevelOf(level),
              message: truncateUtf8(String(message), MAX_LOG_BYTES),
              time: timestampNow(),
              attempt,
            },
          },
        }),
    };
  }
}

/**
 * A session is one WorkerService.Connect stream: the hello/welcome
 * handshake, then a receive loop dispatching the server's messages and a
 * heartbeat timer, until the first of them ends it. What outlives a session
 * (running attempts, unacknowledged results) lives in the worker's ledger,
 * so a session can die at any moment.
 */
class Session implements ResultBatching {
  id = "";
  heartbeatMs = DEFAULT_HEARTBEAT_MS;
  /** The server takes `results` batches: its welcome says so. */
  batches = false;
  /** How long a result waits for others; tests lengthen it. */
  lingerMs = RESULT_LINGER_MS;
  /** Resolves with why the session ended. */
  readonly done: Promise<unknown>;

  private readonly outbox = new Outbox<ConnectRequestInit>();
  private readonly abort = new AbortController();
  private ended = false;
  private draining = false;
  private resolveDone!: (reason: unknown) => void;
  private heartbeat: NodeJS.Timeout | undefined;
  private offLedger: (() => void) | undefined;
  private readonly onLife = () => this.end(this.life.reason);

  constructor(
    private readonly worker: Worker,
    private readonly life: AbortSignal,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    if (life.aborted) {
      this.end(life.reason);
    } else {
      life.addEventListener("abort", this.onLife, { once: true });
    }
  }

  /** Opens the stream, sends hello and waits for welcome; on success starts the loops. */
  async handshake(client: Client, hello: HelloInit): Promise<boolean> {
    if (this.ended) {
      return false;
    }
    this.outbox.push({ msg: { case: "hello", value: hello } });
    let responses: AsyncIterator<ConnectResponse>;
    try {
      responses = client.workers.connect(requestStream(this.outbox, this), { signal: this.abort.signal })[Symbol.asyncIterator]();
    } catch (err) {
      this.end(err);
      return false;
    }
    const timer = setTimeout(() => this.end(NO_WELCOME), WELCOME_TIMEOUT_MS);
    let first: IteratorResult<ConnectResponse>;
    try {
      first = await responses.next();
    } catch (err) {
      this.end(err);
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (this.ended) {
      return false;
    }
    if (first.done) {
      this.end(STREAM_CLOSED);
      return false;
    }
    if (first.value.msg.case !== "welcome") {
      this.end(new Error(`cronstream: the server answered hello with ${first.value.msg.case ?? "nothing"}, not welcome`));
      return false;
    }
    this.id = first.value.msg.value.sessionId;
    this.heartbeatMs = heartbeatIntervalMs(first.value.msg.value);
    this.batches = first.value.msg.value.acceptsBatches;
    this.heartbeat = setInterval(() => this.send(heartbeatMessage(this.worker.runningIds())), this.heartbeatMs);
    void this.receive(responses);
    return true;
  }

  /** Queues m for the stream; false if the session has ended. */
  send(m: ConnectRequestInit): boolean {
    return !this.ended && this.outbox.push(m);
  }

  /** A result taken for sending has left the ledger's running set, so any count is of others. */
  othersRunning(): boolean {
    return this.worker.runningCount() > 0;
  }

  /**
   * Enters draining (false if already there): from now on the session ends
   * as soon as the worker owes the server nothing.
   */
  beginDrain(ledger: Ledger): boolean {
    if (this.draining || this.ended) {
      return false;
    }
    this.draining = true;
    const check = () => {
      if (ledger.idle()) {
        this.end(DRAINED);
      }
    };
    this.offLedger = ledger.onChange(check);
    check();
    return true;
  }

  private async receive(responses: AsyncIterator<ConnectResponse>): Promise<void> {
    try {
      for (;;) {
        const r = await responses.next();
        if (this.ended) {
          return;
        }
        if (r.done) {
          this.end(this.draining ? DRAINED : STREAM_CLOSED);
          return;
        }
        this.worker.dispatch(r.value, this);
      }
    } catch (err) {
      this.end(err);
    }
  }

  /** Ends the session (the first reason wins) and cancels the stream. */
  private end(reason: unknown): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    clearInterval(this.heartbeat);
    this.offLedger?.();
    this.life.removeEventListener("abort", this.onLife);
    this.outbox.close();
    this.abort.abort(reason);
    this.resolveDone(reason);
  }
}

type HelloInit = {
  workerId: string;
  handlerNames: string[];
  slots: number;
  running: { executionId: string; attempt: number }[];
  acceptsBatches: boolean;
};

/** @internal What the request stream needs to know to group results. */
export interface ResultBatching {
  /** The server takes `results`. Read at each result: the welcome that says so comes after the stream opens. */
  readonly batches: boolean;
  /** Whether other executions still run, so that their results may join a batch. */
  othersRunning(): boolean;
  /** How long a batch waits for them (RESULT_LINGER_MS). */
  readonly lingerMs: number;
}

/**
 * @internal The messages to write on a worker stream: the outbox's, in
 * order, until it is closed. While batching.batches holds, results queued
 * back to back go as one message, since a message per result is most of
 * what a busy worker's stream costs the server.
 */
export async function* requestStream(outbox: Outbox<ConnectRequestInit>, batching: ResultBatching): AsyncGenerator<ConnectRequestInit> {
  let carried: ConnectRequestInit | undefined;
  for (;;) {
    const m = carried ?? outbox.take();
    carried = undefined;
    if (m === undefined) {
      if (outbox.isClosed) {
        return;
      }
      await outbox.ready();
    } else if (m.msg?.case === "result" && batching.batches) {
      const batch = await withQueuedResults(m.msg.value, outbox, batching);
      carried = batch.carried;
      yield batch.message;
    } else {
      yield m;
    }
  }
}

/**
 * @internal Groups first with the results queued right behind it, up to
 * MAX_BATCH, into one message (a lone result stays a plain `result`). The
 * first other message taken ends the group and comes back as carried, to
 * be written next so that the stream keeps its order. While other
 * executions run, it waits up to batching.lingerMs in all for their results.
 */
export async function withQueuedResults(
  first: ResultInit,
  outbox: Outbox<ConnectRequestInit>,
  batching: Pick<ResultBatching, "othersRunning" | "lingerMs">,
): Promise<{ message: ConnectRequestInit; carried: ConnectRequestInit | undefined }> {
  const results = [first];
  let deadline: number | undefined;
  while (results.length < MAX_BATCH) {
    let next = outbox.take();
    if (next === undefined) {
      // Asked each time the queue runs dry: once the last other execution
      // has reported, no result can join and waiting would only delay these.
      if (!batching.othersRunning()) {
        break;
      }
      deadline ??= performance.now() + batching.lingerMs;
      const left = deadline - performance.now();
      if (left <= 0 || !(await outbox.ready(left))) {
        break;
      }
      next = outbox.take();
      if (next === undefined) {
        break; // closed
      }
    }
    if (next.msg?.case !== "result") {
      return { message: resultsMessage(results), carried: next };
    }
    results.push(next.msg.value);
  }
  return { message: resultsMessage(results), carried: undefined };
}

/** Bounds the handlers running at once. */
class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      return Promise.reject(signal.reason);
    }
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) {
          this.waiters.splice(i, 1);
        }
        reject(signal.reason);
      };
      this.waiters.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      next(); // the slot passes on
    } else {
      this.free++;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The heartbeat interval the welcome asks for: else a third of the lease, else 10 s. */
export function heartbeatIntervalMs(w: Welcome): number {
  const interval = w.heartbeatInterval ? durationMs(w.heartbeatInterval) : 0;
  if (interval > 0) {
    return Math.max(interval, MIN_HEARTBEAT_MS);
  }
  const lease = w.leaseDuration ? durationMs(w.leaseDuration) : 0;
  if (lease > 0) {
    return Math.max(lease / 3, MIN_HEARTBEAT_MS);
  }
  return DEFAULT_HEARTBEAT_MS;
}

/** The result message of an attempt that returned out, or threw error. */
export function resultOf(a: Assignment, failed: boolean, out: unknown, error: unknown, signal?: AbortSignal): WorkerResultInit {
  const base = { executionId: a.executionId, attempt: a.attempt };
  if (!failed) {
    try {
      return { ...base, outcome: { case: "success", value: { result: toPayload(out) } } };
    } catch (err) {
      // A retry would return the same value again.
      return {
        ...base,
        outcome: { case: "failure", value: { error: `handler result: ${(err as Error).message}`, errorStack: "", retryable: false } },
      };
    }
  }
  let message = errorMessage(error) || "the handler failed without a message";
  if (signal?.aborted && error !== signal.reason) {
    const why = errorMessage(signal.reason);
    if (!message.includes(why)) {
      message = `${message} (${why})`; // say why the signal was aborted
    }
  }
  return {
    ...base,
    outcome: {
      case: "failure",
      value: {
        error: message,
        errorStack: error instanceof Error ? (error.stack ?? "") : "",
        retryable: !isNonRetryable(error),
      },
    },
  };
}

function errorMessage(err: unknown): string {
  try {
    if (err instanceof Error) {
      return err.name && err.name !== "Error" ? `${err.name}: ${err.message}` : err.message;
    }
    return String(err);
  } catch {
    return "a value that cannot be shown as text"; // such as Object.create(null)
  }
}

function logLevelOf(level: LogLevelName | LogLevel): LogLevel {
  if (typeof level === "number") {
    return level;
  }
  switch (level) {
    case "debug":
      return LogLevel.DEBUG;
    case "warn":
      return LogLevel.WARN;
    case "error":
      return LogLevel.ERROR;
    default:
      return LogLevel.INFO;
  }
}

/** Cuts s to at most n UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, n: number): string {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length <= n) {
    return s;
  }
  let end = n;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) {
    end--; // back to the first byte of the character cut
  }
  return bytes.subarray(0, end).toString("utf8");
}

function resultMessage(r: WorkerResultInit): ConnectRequestInit {
  return { msg: { case: "result", value: r } };
}

function resultsMessage(results: ResultInit[]): ConnectRequestInit {
  if (results.length === 1) {
    return { msg: { case: "result", value: results[0]! } };
  }
  return { msg: { case: "results", value: { results } } };
}

function heartbeatMessage(executionIds: string[]): ConnectRequestInit {
  return { msg: { case: "heartbeat", value: { executionIds } } };
}

function capacityMessage(slots: number): ConnectRequestInit {
  return { msg: { case: "capacity", value: { slots } } };
}
