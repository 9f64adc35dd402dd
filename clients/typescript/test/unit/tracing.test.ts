import { test } from "node:test";
import assert from "node:assert/strict";
import * as otel from "@opentelemetry/api";

import { createClient } from "../../src/client.js";
import { parseTraceparent } from "../../src/tracing.js";
import { Worker } from "../../src/worker.js";
import { FakeWorkerService, quiet, serve } from "../support/fake.js";

const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

test("traceparent parsing follows W3C Trace Context", () => {
  assert.deepEqual(parseTraceparent(TP), { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 });
  assert.equal(parseTraceparent(""), undefined);
  assert.equal(parseTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"), undefined);
  assert.equal(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"), undefined);
  assert.equal(parseTraceparent("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), undefined);
  assert.equal(parseTraceparent(`${TP}-extra`), undefined); // version 00 has exactly four fields
  assert.equal(parseTraceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"), undefined);
  assert.deepEqual(parseTraceparent(`01${TP.slice(2)}-future`)?.spanId, "b7ad6b7169203331");
});

interface Recorded {
  name: string;
  options: otel.SpanOptions;
  parent: otel.SpanContext | undefined;
  status?: otel.SpanStatus;
  exceptions: unknown[];
  ended: boolean;
}

/** A tracer provider that records the spans started. */
function recordingProvider(spans: Recorded[]): otel.TracerProvider {
  const tracer = {
    startSpan(name: string, options: otel.SpanOptions = {}, ctx?: otel.Context) {
      const rec: Recorded = { name, options, parent: ctx && otel.trace.getSpanContext(ctx), exceptions: [], ended: false };
      spans.push(rec);
      const spanContext: otel.SpanContext = {
        traceId: rec.parent?.traceId ?? "1".repeat(32),
        spanId: "2".repeat(16),
        traceFlags: 1,
      };
      const span = {
        spanContext: () => spanContext,
        setAttribute: () => span,
        setAttributes: () => span,
        addEvent: () => span,
        addLink: () => span,
        addLinks: () => span,
        updateName: () => span,
        isRecording: () => true,
        setStatus: (s: otel.SpanStatus) => ((rec.status = s), span),
        recordException: (e: unknown) => void rec.exceptions.push(e),
        end: () => void (rec.ended = true),
      };
      return span as unknown as otel.Span;
    },
  } as unknown as otel.Tracer;
  return { getTracer: () => tracer };
}

test("a handler runs in a span continuing the assignment's trace", async () => {
  const spans: Recorded[] = [];
  otel.trace.setGlobalTracerProvider(recordingProvider(spans));
  const fake = new FakeWorkerService();
  const server = await serve(fake.routes);
  const client = createClient({ address: server.address });
  const worker = new Worker(client, { logger: quiet, gracePeriodMs: 100 });
  worker.handle("traced", async (job) => {
    if (job.payload.fail) {
      throw new Error("failed on purpose");
    }
    return {};
  });
  const stop = new AbortController();
  const run = worker.run(stop.signal).catch(() => {});
  try {
    const s = await fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "traced", attempt: 2, traceparent: TP });
    await s.expect("result");
    s.assign({ executionId: "e2", handlerName: "traced", payload: { fail: true } });
    await s.expect("result");

    assert.equal(spans.length, 2);
    const [ok, failed] = spans as [Recorded, Recorded];
    assert.equal(ok.name, "process traced");
    assert.equal(ok.options.kind, otel.SpanKind.CONSUMER);
    assert.deepEqual(ok.options.attributes, {
      "messaging.system": "cronstream",
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "messaging.destination.name": "traced",
      "messaging.message.id": "e1",
      "cronstream.job.id": "job-of-e1",
      "cronstream.execution.attempt": 2,
    });
    assert.equal(ok.parent?.traceId, "0af7651916cd43dd8448eb211c80319c");
    assert.equal(ok.parent?.spanId, "b7ad6b7169203331");
    assert.equal(ok.parent?.isRemote, true);
    assert.ok(ok.ended);
    assert.equal(ok.status, undefined);

    assert.equal(failed.parent, undefined, "no traceparent: a new trace");
    assert.equal(failed.status?.code, otel.SpanStatusCode.ERROR);
    assert.equal(failed.exceptions.length, 1);
    assert.ok(failed.ended);
  } finally {
    stop.abort();
    await run;
    client.close();
    await server.close();
    otel.trace.disable();
  }
});

test("with tracing off, no span is made", async () => {
  const spans: Recorded[] = [];
  otel.trace.setGlobalTracerProvider(recordingProvider(spans));
  const fake = new FakeWorkerService();
  const server = await serve(fake.routes);
  const client = createClient({ address: server.address });
  const worker = new Worker(client, { logger: quiet, gracePeriodMs: 100, tracing: false });
  worker.handle("h", () => ({}));
  const stop = new AbortController();
  const run = worker.run(stop.signal).catch(() => {});
  try {
    const s = await fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "h", traceparent: TP });
    await s.expect("result");
    assert.equal(spans.length, 0);
  } finally {
    stop.abort();
    await run;
    client.close();
    await server.close();
    otel.trace.disable();
  }
});
