// Watching alerts: SchedulerService.WatchAlerts as one async iterable that
// outlives its streams. Each event carries a cursor; when a stream breaks,
// the next one asks for the events after the last cursor yielded, so the
// caller sees every event once, across any number of reconnections. A stream
// from now first says the cursor it starts after: the watch keeps it (and
// yields nothing), so it resumes from where it started even before its
// first event.
import { Code, ConnectError, type CallOptions, type Client as ServiceClient } from "@connectrpc/connect";

import { Backoff, sleep } from "./backoff.js";
import { alertEventInfo, type AlertEventInfo } from "./convert.js";
import type { SchedulerService, WatchAlertsResponse } from "./gen/cronstream/v1/scheduler_service_pb.js";
import { consoleLogger, type WorkerLogger } from "./logger.js";

/** Options of client.watchAlerts; the call options (headers...) apply to each stream. */
export interface WatchAlertsOptions extends CallOptions {
  /**
   * Start after this event: the cursor of the last event handled, kept from
   * an earlier watch (or a webhook), to miss none in between. 0 or absent:
   * the events from now on (from when the server reads the first request;
   * a reconnection before the first event resumes from there too).
   */
  afterCursor?: number | bigint;
  /** Aborting it ends the iteration quietly (the loop just exits) and closes the stream. */
  signal?: AbortSignal;
  /** Reconnection backoff bounds, as the worker's: 100 ms doubling to 5 s, full jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Gets a warning per reconnection (default: console). */
  logger?: Pick<WorkerLogger, "warn">;
}

/** Codes a new stream would get again: they end the watch instead of a reconnection. */
const PERMANENT_CODES = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented]);
/** A stream that lived this long worked: the backoff starts over after it. */
const LIVED_MS = 1000;
const NEVER = new AbortController().signal;
const STREAM_ENDED = new Error("cronstream: the server ended the alert stream");

type SchedulerClient = ServiceClient<typeof SchedulerService>;

/**
 * The platform's alert events as they happen, reconnecting with backoff
 * whenever a stream breaks; see Client.watchAlerts. Each iteration is a
 * watch of its own, from options.afterCursor.
 */
export function watchAlerts(scheduler: SchedulerClient, options: WatchAlertsOptions = {}): AsyncIterable<AlertEventInfo> {
  return { [Symbol.asyncIterator]: () => new AlertWatch(scheduler, options).events() };
}

/** @internal One watch: where it stands (its cursor) and the streams it opens one after the other. */
export class AlertWatch {
  /**
   * The cursor of the last event yielded (or where a watch from now
   * started, or afterCursor): where the next stream starts.
   */
  cursor: bigint;
  private failures = 0;
  private readonly backoff: Backoff;
  private readonly signal: AbortSignal;
  private readonly logger: Pick<WorkerLogger, "warn">;
  private readonly callOptions: CallOptions;

  constructor(
    private readonly scheduler: SchedulerClient,
    options: WatchAlertsOptions,
  ) {
    const { afterCursor, signal, minBackoffMs, maxBackoffMs, logger, ...callOptions } = options;
    this.cursor = BigInt(afterCursor ?? 0);
    if (this.cursor < 0n) {
      throw new RangeError(`cronstream: afterCursor must not be negative, not ${afterCursor}`);
    }
    this.signal = signal ?? NEVER;
    this.backoff = new Backoff(minBackoffMs ?? 100, maxBackoffMs ?? 5_000);
    this.logger = logger ?? consoleLogger;
    this.callOptions = callOptions;
  }

  /** Stream after stream until the signal aborts or an error reconnecting cannot fix. */
  async *events(): AsyncGenerator<AlertEventInfo, void, undefined> {
    while (!this.signal.aborted) {
      const began = Date.now();
      const ended = yield* this.stream();
      if (this.signal.aborted) {
        return;
      }
      if (ended instanceof ConnectError && PERMANENT_CODES.has(ended.code)) {
        throw ended; // already a typed error (UnauthenticatedError...) through the client's interceptor
      }
      if (Date.now() - began > LIVED_MS) {
        this.failures = 0;
      }
      const delayMs = this.backoff.delay(this.failures++);
      const error = ended instanceof Error ? ended.message : String(ended);
      this.logger.warn(`cronstream: alert stream ended (${error}); resuming after cursor ${this.cursor} in ${Math.round(delayMs)} ms`, {
        error,
        cursor: this.cursor.toString(),
        inMs: delayMs,
        failures: this.failures,
      });
      if (!(await sleep(delayMs, this.signal))) {
        return;
      }
    }
  }

  /**
   * One WatchAlerts stream from the cursor: yields its new events and
   * returns why it ended. Only the stream's own errors are caught; one
   * thrown into the generator by its consumer goes through.
   */
  private async *stream(): AsyncGenerator<AlertEventInfo, unknown, undefined> {
    const call = new AbortController();
    const onAbort = () => call.abort(this.signal.reason);
    this.signal.addEventListener("abort", onAbort, { once: true });
    const responses = this.scheduler
      .watchAlerts({ afterCursor: this.cursor }, { ...this.callOptions, signal: call.signal })
      [Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<WatchAlertsResponse>;
        try {
          next = await responses.next();
        } catch (err) {
          return err;
        }
        if (next.done) {
          return STREAM_ENDED;
        }
        const { event, cursor } = next.value;
        if (event === undefined) {
          // Where a stream from now starts: a reconnection resumes after it.
          if (cursor > this.cursor) {
            this.cursor = cursor;
          }
          continue;
        }
        const at = cursor > 0n ? cursor : event.cursor; // 0: a server older than the response's cursor
        if (at <= this.cursor) {
          continue; // seen already: a server resumes after the cursor, this makes sure
        }
        this.failures = 0; // the stream works
        this.cursor = at;
        yield alertEventInfo(event);
      }
    } finally {
      this.signal.removeEventListener("abort", onAbort);
      call.abort();
      void responses.return?.().catch(() => {});
    }
  }
}
