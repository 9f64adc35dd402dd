// What a handler is given: one attempt of one execution, and its log.
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";

import { LogLevel } from "./gen/cronstream/v1/execution_pb.js";
import type { Assignment } from "./gen/cronstream/v1/worker_service_pb.js";
import { logMessage, type ConnectRequestInit } from "./messages.js";
import { fromPayload } from "./payload.js";

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

/** The server's limit on one log message. */
const MAX_LOG_BYTES = 64 * 1024;

/** @internal The context of assignment a, whose log lines go to send (false while disconnected). */
export function jobContext(a: Assignment, signal: AbortSignal, send: (m: ConnectRequestInit) => boolean): JobContext {
  const { executionId, attempt } = a;
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
      send(logMessage(executionId, attempt, logLevelOf(level), truncateUtf8(String(message), MAX_LOG_BYTES))),
  };
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
