// One attempt: wait for a slot, run the handler (in a span when tracing),
// and say how it went.
import { timestampDate } from "@bufbuild/protobuf/wkt";

import { jobContext, type JobContext } from "./context.js";
import { isNonRetryable } from "./errors.js";
import type { Assignment } from "./gen/cronstream/v1/worker_service_pb.js";
import type { WorkerResultInit } from "./ledger.js";
import type { ConnectRequestInit } from "./messages.js";
import { toPayload } from "./payload.js";
import type { Semaphore } from "./semaphore.js";
import { inSpan, loadOtel } from "./tracing.js";

/**
 * A handler runs one attempt. What it returns (a JSON object; undefined is
 * an empty one) is the execution's result. What it throws fails the attempt,
 * which the server retries under the job's policy unless it is a
 * NonRetryableError (or has one in its cause chain).
 */
export type Handler = (job: JobContext) => Promise<object | void | undefined> | object | void | undefined;

/** @internal What an attempt needs from its worker. */
export interface AttemptSettings {
  /** The handler the assignment names; undefined when the worker has none of that name. */
  readonly handler: Handler | undefined;
  /** Names the worker in the failure of an attempt it has no handler for. */
  readonly workerId: string;
  /** Run the handler in an OpenTelemetry span, when @opentelemetry/api is installed. */
  readonly tracing: boolean;
  /** The worker's slots: the attempt takes one to run. */
  readonly slots: Semaphore;
  /** Writes the handler's log lines on the worker's stream; false while disconnected. */
  readonly send: (m: ConnectRequestInit) => boolean;
}

/**
 * @internal Runs assignment a once a slot is free and returns the result to
 * report. Aborting controller (the server's cancel, the deadline, the grace
 * period's end) aborts the handler's signal.
 */
export async function runAttempt(a: Assignment, controller: AbortController, settings: AttemptSettings): Promise<WorkerResultInit> {
  const signal = controller.signal;
  const deadlineTimer = armDeadline(a, controller);
  let out: unknown;
  let error: unknown;
  let failed = false;
  try {
    await settings.slots.acquire(signal);
    try {
      out = await invoke(a, signal, settings);
    } finally {
      settings.slots.release();
    }
  } catch (err) {
    failed = true;
    error = err;
  } finally {
    clearTimeout(deadlineTimer);
  }
  return resultOf(a, failed, out, error, signal);
}

/** Aborts controller at a's deadline, if it has one. */
function armDeadline(a: Assignment, controller: AbortController): NodeJS.Timeout | undefined {
  if (!a.deadline) {
    return undefined;
  }
  const ms = timestampDate(a.deadline).getTime() - Date.now();
  return setTimeout(() => controller.abort(new DOMException("the attempt's deadline passed", "TimeoutError")), Math.max(0, ms));
}

async function invoke(a: Assignment, signal: AbortSignal, settings: AttemptSettings): Promise<unknown> {
  const { handler, workerId } = settings;
  const job = jobContext(a, signal, settings.send);
  const call = async () => {
    if (!handler) {
      throw new Error(`cronstream: worker ${workerId} has no handler ${a.handlerName}`);
    }
    return await handler(job);
  };
  const api = settings.tracing ? await loadOtel() : undefined;
  if (!api) {
    return call();
  }
  return inSpan(api, a, call);
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
