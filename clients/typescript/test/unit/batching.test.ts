import { test } from "node:test";
import assert from "node:assert/strict";

import { create, type MessageInitShape } from "@bufbuild/protobuf";

import { ConnectRequestSchema } from "../../src/gen/cronstream/v1/worker_service_pb.js";
import { Ledger } from "../../src/ledger.js";
import { Outbox } from "../../src/outbox.js";
import { MAX_BATCH, requestStream, withQueuedResults, type ResultBatching } from "../../src/batching.js";

type Request = MessageInitShape<typeof ConnectRequestSchema>;

const result = (executionId: string): Request => ({ msg: { case: "result", value: { executionId, attempt: 1 } } });
const heartbeat = (...executionIds: string[]): Request => ({ msg: { case: "heartbeat", value: { executionIds } } });
const log = (executionId: string): Request => ({ msg: { case: "log", value: { executionId, message: "a line" } } });

/** A message as "case:ids", to compare streams at a glance. */
function describe(m: Request | undefined): string {
  if (m === undefined) {
    return "nothing";
  }
  const msg = create(ConnectRequestSchema, m).msg;
  switch (msg.case) {
    case "result":
      return `result:${msg.value.executionId}`;
    case "results":
      return `results:${msg.value.results.map((r) => r.executionId).join(",")}`;
    case "heartbeat":
      return `heartbeat:${msg.value.executionIds.join(",")}`;
    case "log":
      return `log:${msg.value.executionId}`;
    default:
      return String(msg.case);
  }
}

function outboxOf(...items: Request[]): Outbox<Request> {
  const outbox = new Outbox<Request>();
  for (const m of items) {
    outbox.push(m);
  }
  return outbox;
}

/** Everything the stream writes for what is queued in outbox, which is then closed. */
async function written(outbox: Outbox<Request>, batching: ResultBatching): Promise<string[]> {
  outbox.close();
  const out: string[] = [];
  for await (const m of requestStream(outbox, batching)) {
    out.push(describe(m));
  }
  return out;
}

const nothingElseRuns = { othersRunning: () => false, lingerMs: 1000 };

test("results queued back to back go as one results message, in order; the message that ends the batch is carried", async () => {
  const outbox = outboxOf(result("r2"), result("r3"), heartbeat("x"), result("r4"));
  const { message, carried } = await withQueuedResults({ executionId: "r1", attempt: 1 }, outbox, nothingElseRuns);
  assert.equal(describe(message), "results:r1,r2,r3");
  assert.equal(describe(carried), "heartbeat:x", "the heartbeat that ended the batch goes next");
  assert.equal(describe(outbox.take()), "result:r4", "what follows stays queued");
  assert.equal(outbox.take(), undefined);
});

test("a lone result goes as a plain result message", async () => {
  const { message, carried } = await withQueuedResults({ executionId: "r1", attempt: 1 }, outboxOf(), nothingElseRuns);
  assert.equal(describe(message), "result:r1");
  assert.equal(carried, undefined);
});

test("the stream with batches keeps the order of every message: a heartbeat or log between results ends the batch and goes right after it", async () => {
  const outbox = outboxOf(result("r1"), result("r2"), result("r3"), heartbeat("a"), log("a"), result("r4"), log("b"), result("r5"), result("r6"));
  assert.deepEqual(await written(outbox, { batches: true, ...nothingElseRuns }), [
    "results:r1,r2,r3",
    "heartbeat:a",
    "log:a",
    "result:r4",
    "log:b",
    "results:r5,r6",
  ]);
});

test("a results message holds at most MAX_BATCH results", async () => {
  const ids = Array.from({ length: MAX_BATCH + 2 }, (_, i) => `r${i}`);
  const out = await written(outboxOf(...ids.map(result)), { batches: true, ...nothingElseRuns });
  assert.deepEqual(out, [`results:${ids.slice(0, MAX_BATCH).join(",")}`, `results:${ids.slice(MAX_BATCH).join(",")}`]);
});

test("without accepts_batches, each result goes in its own message, as before", async () => {
  const outbox = outboxOf(result("r1"), result("r2"), heartbeat("a"), result("r3"));
  assert.deepEqual(await written(outbox, { batches: false, othersRunning: () => true, lingerMs: 1000 }), [
    "result:r1",
    "result:r2",
    "heartbeat:a",
    "result:r3",
  ]);
});

test("a result waits briefly for others while more executions run", async () => {
  const ledger = new Ledger();
  ledger.begin("r2", 1, new AbortController(), "superseded");
  const outbox = outboxOf();
  setTimeout(() => {
    // r2 finishes after r1 was taken, as the worker reports it: ledger first, then the outbox.
    ledger.finish({ executionId: "r2", attempt: 1 });
    outbox.push(result("r2"));
  }, 20);
  const began = performance.now();
  const { message } = await withQueuedResults({ executionId: "r1", attempt: 1 }, outbox, {
    othersRunning: () => ledger.runningCount > 0,
    lingerMs: 1000,
  });
  assert.equal(describe(message), "results:r1,r2", "one message for both");
  const waited = performance.now() - began;
  assert.ok(waited < 500, `waited ${waited} ms: once nothing else runs the batch goes without the rest of the linger`);
});

test("the linger is bounded: with others still running and no result coming, the result goes after lingerMs", async () => {
  const began = performance.now();
  const { message } = await withQueuedResults({ executionId: "r1", attempt: 1 }, outboxOf(), { othersRunning: () => true, lingerMs: 50 });
  const waited = performance.now() - began;
  assert.equal(describe(message), "result:r1");
  assert.ok(waited >= 40 && waited < 1000, `waited ${waited} ms, want about 50`);
});

test("a last result leaves at once: no linger when nothing else runs", async () => {
  const ledger = new Ledger();
  const began = performance.now();
  const { message } = await withQueuedResults({ executionId: "r1", attempt: 1 }, outboxOf(), {
    othersRunning: () => ledger.runningCount > 0,
    lingerMs: 1000,
  });
  const waited = performance.now() - began;
  assert.equal(describe(message), "result:r1");
  assert.ok(waited < 100, `waited ${waited} ms with nothing else running, want no linger`);
});
