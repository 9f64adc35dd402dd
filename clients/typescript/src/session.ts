import { durationMs } from "@bufbuild/protobuf/wkt";

import { requestStream, RESULT_LINGER_MS, type ResultBatching } from "./batching.js";
import type { Client } from "./client.js";
import { ExecutionCancelledError } from "./errors.js";
import type { Assignment, Assignments, ConnectResponse, Welcome } from "./gen/cronstream/v1/worker_service_pb.js";
import { holdMs } from "./hold.js";
import type { Ledger } from "./ledger.js";
import type { WorkerLogger } from "./logger.js";
import { heartbeatMessage, helloMessage, type ConnectRequestInit, type HelloInit } from "./messages.js";
import { Outbox } from "./outbox.js";

const WELCOME_TIMEOUT_MS = 30_000;
const DEFAULT_HEARTBEAT_MS = 10_000;
const MIN_HEARTBEAT_MS = 10;

/** @internal Where a session is in its life; it only moves down this list. */
export enum SessionState {
  /** Hello sent, waiting for welcome. */
  Handshake = "handshake",
  /** Taking assignments. */
  Active = "active",
  /** The server asked to drain: finish, then reconnect. */
  Draining = "draining",
  /** Ended; sends are refused. */
  Closed = "closed",
}

/** @internal Why a session or the worker's life ended, when no status error says so. */
export class SessionEnd extends Error {}
/** @internal */
export const DRAINED = new SessionEnd("cronstream: session drained");
const STREAM_CLOSED = new SessionEnd("cronstream: the server closed the worker stream");
const NO_WELCOME = new SessionEnd("cronstream: no welcome from the server");

/** @internal What a session is given: no more than it needs, and not the worker. */
export interface SessionSettings {
  /**
   * What the worker owes the server, across sessions: the session settles
   * cancels and acknowledgements in it, lists its running executions in
   * heartbeats, and drains against it.
   */
  readonly ledger: Ledger;
  /**
   * Takes an assignment to run: at once, or, given startsAt (a
   * performance.now() instant), not before then.
   */
  readonly start: (a: Assignment, startsAt?: number) => void;
  readonly logger: WorkerLogger;
  /** The worker's life: its abort ends the session, with its reason. */
  readonly life: AbortSignal;
}

/**
 * @internal A session is one WorkerService.Connect stream: the hello/welcome
 * handshake, then a receive loop dispatching the server's messages and a
 * heartbeat timer, until the first of them ends it. What outlives a session
 * (running attempts, unacknowledged results) lives in the worker's ledger,
 * so a session can die at any moment.
 */
export class Session implements ResultBatching {
  id = "";
  heartbeatMs = DEFAULT_HEARTBEAT_MS;
  /** The server takes `results` batches: its welcome says so. */
  batches = false;
  /** How long a result waits for others; tests lengthen it. */
  lingerMs = RESULT_LINGER_MS;
  /** Resolves with why the session ended. */
  readonly done: Promise<unknown>;

  private state = SessionState.Handshake;
  private readonly outbox = new Outbox<ConnectRequestInit>();
  private readonly abort = new AbortController();
  private resolveDone!: (reason: unknown) => void;
  private heartbeat: NodeJS.Timeout | undefined;
  private offLedger: (() => void) | undefined;
  private readonly onLife = () => this.end(this.settings.life.reason);

  constructor(private readonly settings: SessionSettings) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    if (settings.life.aborted) {
      this.end(settings.life.reason);
    } else {
      settings.life.addEventListener("abort", this.onLife, { once: true });
    }
  }

  /** Opens the stream, sends hello and waits for welcome; on success starts the loops. */
  async handshake(client: Client, hello: HelloInit): Promise<boolean> {
    const responses = this.open(client, hello);
    const welcome = responses && (await this.awaitWelcome(responses));
    if (!responses || !welcome) {
      return false;
    }
    this.welcomed(welcome);
    void this.receive(responses);
    return true;
  }

  /** Queues m for the stream; false if the session has ended. */
  send(m: ConnectRequestInit): boolean {
    return this.state !== SessionState.Closed && this.outbox.push(m);
  }

  /** A result taken for sending has left the ledger's running set, so any count is of others. */
  othersRunning(): boolean {
    return this.settings.ledger.runningCount > 0;
  }

  /** The server's messages, hello first; undefined if the session ended first. */
  private open(client: Client, hello: HelloInit): AsyncIterator<ConnectResponse> | undefined {
    if (this.state === SessionState.Closed) {
      return undefined;
    }
    this.outbox.push(helloMessage(hello));
    try {
      return client.workers.connect(requestStream(this.outbox, this), { signal: this.abort.signal })[Symbol.asyncIterator]();
    } catch (err) {
      this.end(err);
      return undefined;
    }
  }

  /** The server's answer to hello if it is a welcome; else the session ends, saying why. */
  private async awaitWelcome(responses: AsyncIterator<ConnectResponse>): Promise<Welcome | undefined> {
    const timer = setTimeout(() => this.end(NO_WELCOME), WELCOME_TIMEOUT_MS);
    let first: IteratorResult<ConnectResponse>;
    try {
      first = await responses.next();
    } catch (err) {
      this.end(err);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
    if (this.state === SessionState.Closed) {
      return undefined;
    }
    if (first.done) {
      this.end(STREAM_CLOSED);
      return undefined;
    }
    if (first.value.msg.case !== "welcome") {
      this.end(new Error(`cronstream: the server answered hello with ${first.value.msg.case ?? "nothing"}, not welcome`));
      return undefined;
    }
    return first.value.msg.value;
  }

  /** Takes the welcome's settings and starts the heartbeats. */
  private welcomed(w: Welcome): void {
    this.id = w.sessionId;
    this.heartbeatMs = heartbeatIntervalMs(w);
    this.batches = w.acceptsBatches;
    this.state = SessionState.Active;
    this.heartbeat = setInterval(() => this.send(heartbeatMessage(this.settings.ledger.runningIds())), this.heartbeatMs);
  }

  private async receive(responses: AsyncIterator<ConnectResponse>): Promise<void> {
    try {
      for (;;) {
        const r = await responses.next();
        if (this.state === SessionState.Closed) {
          return;
        }
        if (r.done) {
          this.end(this.state === SessionState.Draining ? DRAINED : STREAM_CLOSED);
          return;
        }
        this.dispatch(r.value);
      }
    } catch (err) {
      this.end(err);
    }
  }

  private dispatch(m: ConnectResponse): void {
    const { ledger, start, logger } = this.settings;
    switch (m.msg.case) {
      case "assignment":
        start(m.msg.value);
        break;
      case "assignments":
        this.startBatch(m.msg.value);
        break;
      case "cancel":
        ledger.cancel(m.msg.value.executionId, new ExecutionCancelledError(m.msg.value.reason));
        break;
      case "resultAck":
        ledger.ack(m.msg.value.executionId);
        break;
      case "resultAcks":
        for (const ack of m.msg.value.acks) {
          ledger.ack(ack.executionId);
        }
        break;
      case "drain":
        this.drain();
        break;
      default:
        logger.warn("cronstream: unexpected message on the worker stream", { type: m.msg.case });
    }
  }

  /**
   * Starts a batch's assignments, each held start_at - sent_at from now, the
   * message's arrival: the hello's holds_until_start lets the server send
   * them ahead of their time. Measured on the monotonic clock, and from a
   * moment no earlier than the arrival, so a hold never ends too soon.
   */
  private startBatch(batch: Assignments): void {
    const arrived = performance.now();
    for (const a of batch.assignments) {
      const hold = holdMs(batch.sentAt, a.startAt);
      this.settings.start(a, hold > 0 ? arrived + hold : undefined);
    }
  }

  /** Enters draining: from now on the session ends as soon as the worker owes the server nothing. */
  private drain(): void {
    if (this.state !== SessionState.Active) {
      return;
    }
    this.state = SessionState.Draining;
    const { ledger, logger } = this.settings;
    const check = () => {
      if (ledger.idle()) {
        this.end(DRAINED);
      }
    };
    this.offLedger = ledger.onChange(check);
    check();
    logger.info("cronstream: server draining; finishing, then reconnecting", { sessionId: this.id });
  }

  /** Ends the session (the first reason wins) and cancels the stream. */
  private end(reason: unknown): void {
    if (this.state === SessionState.Closed) {
      return;
    }
    this.state = SessionState.Closed;
    clearInterval(this.heartbeat);
    this.offLedger?.();
    this.settings.life.removeEventListener("abort", this.onLife);
    this.outbox.close();
    this.abort.abort(reason);
    this.resolveDone(reason);
  }
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
