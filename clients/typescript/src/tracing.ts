// Optional OpenTelemetry support. @opentelemetry/api is an optional peer
// dependency: when the application has it, each handler runs in a span
// "process <handler>" that continues the execution's trace (the
// W3C traceparent and tracestate of the assignment), made with the global
// tracer provider; without it, handlers simply run.
import type * as otel from "@opentelemetry/api";
import { VERSION } from "./version.js";

type OtelApi = typeof otel;

let loaded: Promise<OtelApi | undefined> | undefined;

/** The application's @opentelemetry/api, or undefined when it has none. */
export function loadOtel(): Promise<OtelApi | undefined> {
  loaded ??= import("@opentelemetry/api").then(
    (m: OtelApi) => m,
    () => undefined,
  );
  return loaded;
}

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a W3C traceparent as W3CTraceContextPropagator.extract does:
 * version 00 exactly as specified, a later version by its first four
 * fields (forward compatible), never version ff nor all-zero ids.
 */
export function parseTraceparent(value: string): ParsedTraceparent | undefined {
  const m = TRACEPARENT.exec(value.trim());
  if (!m) {
    return undefined;
  }
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) {
    return undefined;
  }
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) {
    return undefined;
  }
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

export interface SpanInfo {
  handlerName: string;
  executionId: string;
  jobId: string;
  attempt: number;
  traceparent: string;
  tracestate: string;
}

/**
 * Runs fn in a consumer span that continues the assignment's trace, with
 * fn's async work inside the span's context (so the handler's own spans
 * are its children). A thrown error is recorded on the span.
 */
export async function inSpan<T>(api: OtelApi, info: SpanInfo, fn: () => Promise<T>): Promise<T> {
  let parent = api.ROOT_CONTEXT;
  const remote = parseTraceparent(info.traceparent);
  if (remote) {
    parent = api.trace.setSpanContext(parent, {
      ...remote,
      isRemote: true,
      traceState: info.tracestate ? api.createTraceState(info.tracestate) : undefined,
    });
  }
  const tracer = api.trace.getTracer("@cronstream/client", VERSION);
  // OpenTelemetry's messaging conventions: the processing of a message (the
  // execution) from a destination (the handler), a child of the server's
  // "send <handler>" span.
  const span = tracer.startSpan(
    `process ${info.handlerName}`,
    {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "cronstream",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": info.handlerName,
        "messaging.message.id": info.executionId,
        "cronstream.job.id": info.jobId,
        "cronstream.execution.attempt": info.attempt,
      },
    },
    parent,
  );
  try {
    return await api.context.with(api.trace.setSpan(parent, span), fn);
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}
