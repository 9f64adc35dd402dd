import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";

import { createClient } from "../../src/client.js";
import { ExecutionCancelledError, GracePeriodExceededError, NonRetryableError, UnauthenticatedError } from "../../src/errors.js";
import { LogLevel } from "../../src/gen/cronstream/v1/execution_pb.js";
import { Worker, type JobContext, type WorkerOptions } from "../../src/worker.js";
import { FakeWorkerService, quiet, serve, until } from "../support/fake.js";

async function setup(options: WorkerOptions = {}) {
  const fake = new FakeWorkerService();
  const server = await serve(fake.routes);
  const client = createClient({ address: server.address, apiKey: "secret" });
  const worker = new Worker(client, { workerId: "w1", slots: 2, logger: quiet, minBackoffMs: 5, maxBackoffMs: 20, gracePeriodMs: 200, ...options });
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  return {
    fake,
    worker,
    stop,
    start() {
      running = worker.run(stop.signal);
      running.catch(() => {}); // awaited by the test or at cleanup
      return running;
    },
    async cleanup() {
      stop.abort();
      await running?.catch(() => {});
      client.close();
      await server.close();
    },
  };
}

/** A promise with its resolve function, to hold handlers until a test lets them go. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

test("hello, welcome, an assignment, its log line and its result", async () => {
  const t = await setup();
  const seen: JobContext[] = [];
  t.worker.handle("zeta", async () => ({}));
  t.worker.handle("send_report", async (job) => {
    seen.push(job);
    assert.equal(job.log("info", "hello from typescript"), true);
    job.log(LogLevel.WARN, "é".repeat(40_000)); // 80 000 bytes: cut to 64 KiB
    return { sent: job.payload.recipient, attempt: job.attempt, when: new Date(0) };
  });
  try {
    const run = t.start();
    const s = await t.fake.session(0);
    assert.equal(s.header.get("authorization"), "Bearer secret");
    const hello = await s.expect("hello");
    assert.equal(hello.workerId, "w1");
    assert.deepEqual(hello.handlerNames, ["send_report", "zeta"]);
    assert.equal(hello.slots, 2);
    assert.deepEqual(hello.running, []);
    s.welcome();
    const deadline = new Date(Date.now() + 60_000);
    s.assign({ executionId: "e1", handlerName: "send_report", attempt: 3, payload: { recipient: "ops@example.com", n: 1 }, deadline });

    const log = await s.expect("log");
    assert.deepEqual([log.executionId, log.level, log.message, log.attempt], ["e1", LogLevel.INFO, "hello from typescript", 3]);
    assert.ok(log.time);
    const long = await s.expect("log");
    assert.equal(long.level, LogLevel.WARN);
    assert.equal(Buffer.byteLength(long.message), 65_536);
    assert.equal(long.message, "é".repeat(32_768));

    const result = await s.expect("result");
    assert.equal(result.executionId, "e1");
    assert.equal(result.attempt, 3);
    assert.equal(result.outcome.case, "success");
    assert.deepEqual(result.outcome.value!.result, { sent: "ops@example.com", attempt: 3, when: "1970-01-01T00:00:00.000Z" });

    const job = seen[0]!;
    assert.deepEqual(job.payload, { recipient: "ops@example.com", n: 1 });
    assert.equal(job.executionId, "e1");
    assert.equal(job.jobId, "job-of-e1");
    assert.equal(job.handlerName, "send_report");
    assert.ok(job.scheduledAt instanceof Date);
    assert.equal(job.deadline?.getTime(), Math.floor(deadline.getTime()));
    assert.equal(job.signal.aborted, false);

    s.ack("e1");
    t.stop.abort();
    assert.equal((await s.expect("capacity")).slots, 0);
    await run; // resolves: nothing owed
    await until(() => s.closedByClient, 2000, "the stream to end");
  } finally {
    await t.cleanup();
  }
});

test("a thrown error is a retryable failure with its stack; NonRetryableError is final", async () => {
  const t = await setup();
  t.worker.handle("boom", async function boomHandler(job) {
    if (job.payload.final) {
      throw new Error("wrapped", { cause: new NonRetryableError("no such recipient") });
    }
    if (job.payload.notAnError) {
      throw "a string"; // eslint-disable-line no-throw-literal
    }
    throw new TypeError("kaput");
  });
  t.worker.handle("bad_result", () => [1, 2] as unknown as object);
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "boom" });
    const r1 = await s.expect("result");
    assert.equal(r1.outcome.case, "failure");
    const f1 = r1.outcome.value!;
    assert.equal(f1.error, "TypeError: kaput");
    assert.match(f1.errorStack, /boomHandler/);
    assert.equal(f1.retryable, true);

    s.assign({ executionId: "e2", handlerName: "boom", payload: { final: true } });
    const r2 = await s.expect("result");
    assert.equal(r2.outcome.case === "failure" && r2.outcome.value.retryable, false);

    s.assign({ executionId: "e3", handlerName: "boom", payload: { notAnError: true } });
    const r3 = await s.expect("result");
    assert.deepEqual(r3.outcome.case === "failure" && [r3.outcome.value.error, r3.outcome.value.errorStack, r3.outcome.value.retryable], ["a string", "", true]);

    s.assign({ executionId: "e4", handlerName: "bad_result" });
    const r4 = await s.expect("result");
    assert.ok(r4.outcome.case === "failure");
    assert.match(r4.outcome.value.error, /^handler result: .*not an array/);
    assert.equal(r4.outcome.value.retryable, false);

    s.assign({ executionId: "e5", handlerName: "unknown" });
    const r5 = await s.expect("result");
    assert.ok(r5.outcome.case === "failure");
    assert.match(r5.outcome.value.error, /worker w1 has no handler unknown/);
  } finally {
    await t.cleanup();
  }
});

test("no more handlers run at once than slots", async () => {
  const t = await setup({ slots: 2 });
  let now = 0;
  let peak = 0;
  const release = gate();
  t.worker.handle("h", async () => {
    now++;
    peak = Math.max(peak, now);
    await release.p;
    now--;
    return {};
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    for (let i = 0; i < 5; i++) {
      s.assign({ executionId: `e${i}`, handlerName: "h" }); // more than slots: the worker must still bound them
    }
    await until(() => now === 2, 2000, "two handlers running");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(now, 2);
    release.open();
    for (let i = 0; i < 5; i++) {
      await s.expect("result");
    }
    assert.equal(peak, 2);
  } finally {
    await t.cleanup();
  }
});

test("cancel and the deadline abort the handler's signal", async () => {
  const t = await setup();
  const reasons = new Map<string, unknown>();
  t.worker.handle("slow", (job) => {
    return new Promise((_, reject) => {
      job.signal.addEventListener("abort", () => {
        reasons.set(job.executionId, job.signal.reason);
        reject(job.signal.reason);
      });
    });
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "c1", handlerName: "slow" });
    s.assign({ executionId: "d1", handlerName: "slow", deadline: new Date(Date.now() + 150) });
    await new Promise((r) => setTimeout(r, 30));
    s.send({ msg: { case: "cancel", value: { executionId: "c1", reason: "timeout" } } });
    const r1 = await s.expect("result");
    assert.equal(r1.executionId, "c1");
    const c1 = reasons.get("c1");
    assert.ok(c1 instanceof ExecutionCancelledError);
    assert.equal(c1.reason, "timeout");
    assert.ok(r1.outcome.case === "failure");
    assert.equal(r1.outcome.value.error, "ExecutionCancelledError: execution cancelled by the server: timeout");

    const r2 = await s.expect("result");
    assert.equal(r2.executionId, "d1");
    assert.equal((reasons.get("d1") as DOMException).name, "TimeoutError");
    assert.ok(r2.outcome.case === "failure" && r2.outcome.value.retryable);
  } finally {
    await t.cleanup();
  }
});

test("heartbeats list the running executions at the welcome's interval", async () => {
  const t = await setup();
  const release = gate();
  t.worker.handle("h", () => release.p.then(() => ({})));
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome(40);
    s.assign({ executionId: "b", handlerName: "h" });
    s.assign({ executionId: "a", handlerName: "h" });
    await until(() => s.all("heartbeat").some((h) => h.executionIds.length === 2), 2000, "a heartbeat");
    assert.deepEqual(s.all("heartbeat").find((h) => h.executionIds.length === 2)!.executionIds, ["a", "b"]);
    release.open();
    await s.expect("result");
    await s.expect("result");
    const n = s.all("heartbeat").length;
    await until(() => s.all("heartbeat").length > n + 1, 2000, "more heartbeats");
    assert.deepEqual(s.all("heartbeat").at(-1)!.executionIds, []);
  } finally {
    await t.cleanup();
  }
});

test("drain: the worker finishes what runs, sends its results, then reconnects", async () => {
  const t = await setup();
  const release = gate();
  t.worker.handle("h", () => release.p.then(() => ({ done: true })));
  try {
    t.start();
    const s0 = await t.fake.session(0);
    s0.welcome();
    s0.assign({ executionId: "e1", handlerName: "h" });
    await until(() => t.worker["ledger"].runningIds().length === 1);
    s0.send({ msg: { case: "drain", value: {} } });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.fake.sessions.length, 1, "no reconnect while the attempt runs");
    assert.equal(s0.closedByClient, false);
    release.open();
    const r = await s0.expect("result");
    assert.equal(r.executionId, "e1");
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(t.fake.sessions.length, 1, "no reconnect before the ack");
    s0.ack("e1");
    const s1 = await t.fake.session(1);
    await until(() => s0.closedByClient, 2000, "the drained stream to end");
    const hello = await s1.expect("hello");
    assert.deepEqual(hello.running, []);
    assert.equal(hello.slots, 2);
  } finally {
    await t.cleanup();
  }
});

test("an unacknowledged result is named in the next hello and sent again after a reconnect", async () => {
  const t = await setup();
  const release = gate();
  t.worker.handle("h", (job) => (job.executionId === "late" ? release.p.then(() => ({ late: true })) : { ok: true }));
  try {
    t.start();
    const s0 = await t.fake.session(0);
    s0.welcome();
    s0.assign({ executionId: "e1", handlerName: "h", attempt: 2 });
    s0.assign({ executionId: "late", handlerName: "h", attempt: 1 });
    const r0 = await s0.expect("result");
    assert.equal(r0.executionId, "e1");
    s0.end(new ConnectError("server went away", Code.Unavailable)); // no ack

    const s1 = await t.fake.session(1);
    const hello = await s1.expect("hello");
    const running = hello.running.map((r) => [r.executionId, r.attempt]).sort();
    assert.deepEqual(running, [["e1", 2], ["late", 1]]);
    s1.welcome();
    const again = await s1.expect("result");
    assert.deepEqual([again.executionId, again.attempt, again.outcome.case], ["e1", 2, "success"]);
    s1.ack("e1");

    release.open(); // the attempt that ran across the reconnect reports on the new stream
    const late = await s1.expect("result");
    assert.equal(late.executionId, "late");
    s1.ack("late");
    await until(() => t.worker["ledger"].idle(), 2000, "the ledger to empty");

    s1.end(); // a clean end: reconnect again, owing nothing
    const s2 = await t.fake.session(2);
    assert.deepEqual((await s2.expect("hello")).running, []);
  } finally {
    await t.cleanup();
  }
});

test("a repeated assignment is ignored; a newer attempt supersedes the older", async () => {
  const t = await setup();
  const calls: number[] = [];
  const aborted: unknown[] = [];
  const release = gate();
  t.worker.handle("h", async (job) => {
    calls.push(job.attempt);
    job.signal.addEventListener("abort", () => aborted.push(job.signal.reason));
    await release.p;
    return { attempt: job.attempt };
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e", handlerName: "h", attempt: 1 });
    s.assign({ executionId: "e", handlerName: "h", attempt: 1 });
    await until(() => calls.length === 1);
    s.assign({ executionId: "e", handlerName: "h", attempt: 2 });
    await until(() => calls.length === 2);
    assert.deepEqual(calls, [1, 2]);
    assert.equal((aborted[0] as ExecutionCancelledError).reason, "superseded");
    release.open();
    const r = await s.expect("result");
    assert.equal(r.attempt, 2);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(s.all("result").length, 1, "the superseded attempt's result is dropped");
  } finally {
    await t.cleanup();
  }
});

test("a graceful stop waits for running handlers and their acknowledgement", async () => {
  const t = await setup({ gracePeriodMs: 5000 });
  const release = gate();
  t.worker.handle("h", () => release.p.then(() => ({})));
  try {
    const run = t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "h" });
    await until(() => t.worker["ledger"].runningIds().length === 1);
    t.stop.abort();
    assert.equal((await s.expect("capacity")).slots, 0);
    let settled = false;
    void run.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false);
    release.open();
    await s.expect("result");
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false, "waits for the ack");
    s.ack("e1");
    await run;
  } finally {
    await t.cleanup();
  }
});

test("past the grace period, run aborts the handlers and rejects", async () => {
  const t = await setup({ gracePeriodMs: 100 });
  let reason: unknown;
  t.worker.handle("stuck", (job) => {
    job.signal.addEventListener("abort", () => (reason = job.signal.reason));
    return new Promise(() => {}); // never settles
  });
  try {
    const run = t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "stuck" });
    await until(() => t.worker["ledger"].runningIds().length === 1);
    const began = Date.now();
    t.stop.abort();
    await assert.rejects(run, (err: unknown) => err instanceof GracePeriodExceededError && /1 executions running/.test(err.message));
    assert.ok(Date.now() - began >= 90);
    assert.ok(reason instanceof GracePeriodExceededError);
  } finally {
    await t.cleanup();
  }
});

test("what reconnecting cannot fix ends run with the error", async () => {
  for (const [code, check] of [
    [Code.Unauthenticated, (e: unknown) => e instanceof UnauthenticatedError],
    [Code.Unimplemented, (e: unknown) => e instanceof ConnectError && e.code === Code.Unimplemented],
  ] as const) {
    const t = await setup();
    t.worker.handle("h", () => ({}));
    t.fake.reject = new ConnectError("no", code);
    try {
      await assert.rejects(t.start(), check);
    } finally {
      await t.cleanup();
    }
  }
});

test("a failing server is retried with backoff until it answers", async () => {
  const t = await setup();
  t.worker.handle("h", () => ({ ok: 1 }));
  t.fake.reject = new ConnectError("starting up", Code.Unavailable);
  try {
    t.start();
    await new Promise((r) => setTimeout(r, 100));
    t.fake.reject = undefined;
    const s = await t.fake.session(0, 2000);
    s.welcome();
    s.assign({ executionId: "e", handlerName: "h" });
    assert.equal((await s.expect("result")).executionId, "e");
  } finally {
    await t.cleanup();
  }
});

test("handle and run check their use", async () => {
  const client = createClient({ address: "127.0.0.1:1", tls: false });
  const w = new Worker(client, { logger: quiet });
  await assert.rejects(w.run(), /no handlers/);
  const w2 = new Worker(client, { logger: quiet, slots: 0 }).handle("a", () => ({}));
  await assert.rejects(w2.run(), /slots must be 1 to 10000/);
  const w3 = new Worker(client, { logger: quiet }).handle("a", () => ({}));
  assert.throws(() => w3.handle("a", () => ({})), /registered twice/);
  assert.throws(() => w3.handle("", () => ({})), TypeError);
  const stopped = AbortSignal.abort();
  await w3.run(stopped); // already stopped: returns at once
  assert.throws(() => w3.handle("b", () => ({})), /after run/);
  await assert.rejects(w3.run(), /run called twice/);
  assert.match(new Worker(client).workerId, /^.+-\d+$/);
  client.close();
});

test("a batch of assignments runs each; a batch of acks settles each", async () => {
  const t = await setup({ slots: 3 });
  const ran: string[] = [];
  t.worker.handle("h", async (job) => {
    ran.push(job.executionId);
    return { ok: true };
  });
  try {
    const run = t.start();
    const s = await t.fake.session(0);
    const hello = await s.expect("hello");
    assert.equal(hello.acceptsBatches, true);
    assert.equal(hello.holdsUntilStart, true, "it holds assignments until their start_at");
    s.welcome();
    const assignment = (executionId: string) => ({
      executionId,
      jobId: `job-of-${executionId}`,
      handlerName: "h",
      attempt: 1,
      scheduledAt: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 },
    });
    s.send({ msg: { case: "assignments", value: { assignments: ["b1", "b2", "b3"].map(assignment) } } });
    const results = [await s.expect("result"), await s.expect("result"), await s.expect("result")];
    assert.deepEqual(results.map((r) => r.executionId).sort(), ["b1", "b2", "b3"]);
    assert.deepEqual([...ran].sort(), ["b1", "b2", "b3"]);

    s.send({ msg: { case: "resultAcks", value: { acks: ["b1", "b2", "b3"].map((executionId) => ({ executionId })) } } });
    t.stop.abort();
    assert.equal((await s.expect("capacity")).slots, 0);
    await run; // resolves only once every result was acknowledged
  } finally {
    await t.cleanup();
  }
});

/**
 * Runs three assignments held by one gate, opens it, then runs a fourth
 * alone; returns the result and results messages the session got.
 */
async function resultsFinishingTogether(acceptsBatches: boolean) {
  const t = await setup({ slots: 3 });
  const release = gate();
  t.worker.handle("h", async (job) => {
    await release.p;
    return { id: job.executionId };
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome(60_000, { acceptsBatches });
    await until(() => t.worker["session"] !== undefined, 2000, "the welcome");
    // A long linger, so that a loaded machine cannot split the batch; none
    // is waited out, since the last result leaves as soon as nothing runs.
    t.worker["session"]!.lingerMs = 1000;
    for (const id of ["b1", "b2", "b3"]) {
      s.assign({ executionId: id, handlerName: "h" });
    }
    await until(() => t.worker["ledger"].runningIds().length === 3, 2000, "three running");
    release.open();
    const count = () => s.all("result").length + s.all("results").reduce((n, b) => n + b.results.length, 0);
    await until(() => count() === 3, 2000, "three results");
    s.assign({ executionId: "b4", handlerName: "h" }); // runs alone
    await until(() => count() === 4, 2000, "the fourth result");
    return { result: s.all("result"), results: s.all("results") };
  } finally {
    await t.cleanup();
  }
}

test("with accepts_batches in the welcome, results that finish together go as one results message; a lone one as result", async () => {
  const { result, results } = await resultsFinishingTogether(true);
  assert.equal(results.length, 1);
  assert.deepEqual(results[0]!.results.map((r) => r.executionId).sort(), ["b1", "b2", "b3"]);
  assert.deepEqual(result.map((r) => r.executionId), ["b4"]);
});

test("without accepts_batches in the welcome, each result goes in its own message", async () => {
  const { result, results } = await resultsFinishingTogether(false);
  assert.equal(results.length, 0);
  assert.deepEqual(result.map((r) => r.executionId).sort(), ["b1", "b2", "b3", "b4"]);
});

test("a typed handler gets its validated payload; an invalid one fails for good, naming the handler", async () => {
  type Greet = { name: string };
  const validate = (x: unknown): Greet => {
    if (typeof x !== "object" || x === null || typeof (x as Greet).name !== "string") {
      throw new TypeError("name: expected string");
    }
    return x as Greet;
  };
  const records: { level: string; message: string; fields: Record<string, unknown> | undefined }[] = [];
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) => void records.push({ level, message, fields });
  const t = await setup({ logger: { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") } });
  t.worker.handler("greet", async (job, input: Greet) => ({ greeting: `hello ${input.name}`, attempt: job.attempt }), { validate });
  t.worker.handler<{ n: number }>("unchecked", (_job, input) => ({ twice: input.n * 2 }));
  t.worker.handle("flaky", () => {
    throw new Error("try again");
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "greet", attempt: 1, payload: { name: "Ada" } });
    const ok = await s.expect("result");
    assert.ok(ok.outcome.case === "success");
    assert.deepEqual(ok.outcome.value.result, { greeting: "hello Ada", attempt: 1 });

    s.assign({ executionId: "e2", handlerName: "greet", attempt: 1, payload: { name: 7 } });
    const bad = await s.expect("result");
    assert.ok(bad.outcome.case === "failure");
    assert.equal(bad.outcome.value.retryable, false);
    assert.equal(bad.outcome.value.error, "NonRetryableError: cronstream: invalid payload for handler greet: name: expected string");

    s.assign({ executionId: "e3", handlerName: "unchecked", attempt: 1, payload: { n: 21 } });
    const unchecked = await s.expect("result");
    assert.ok(unchecked.outcome.case === "success");
    assert.deepEqual(unchecked.outcome.value.result, { twice: 42 });

    s.assign({ executionId: "e4", handlerName: "flaky", attempt: 2 });
    await s.expect("result");
    await until(() => records.filter((r) => r.fields?.executionId).length === 4);
    const attempts = records.filter((r) => r.fields?.executionId).map((r) => [r.level, r.fields!.executionId, r.fields!.attempt]);
    assert.deepEqual(attempts, [["debug", "e1", 1], ["error", "e2", 1], ["debug", "e3", 1], ["warn", "e4", 2]]);
    const flaky = records.find((r) => r.fields?.executionId === "e4")!;
    assert.equal(flaky.message, "cronstream: execution e4 attempt 2 (flaky) failed: try again");
  } finally {
    await t.cleanup();
  }
});

test("a logger with only info and warn gets the final failures as warnings", async () => {
  const warnings: string[] = [];
  const t = await setup({ logger: { info() {}, warn: (m: string) => void warnings.push(m) } });
  t.worker.handler("greet", () => ({}), {
    validate: () => {
      throw new Error("nope");
    },
  });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    s.assign({ executionId: "e1", handlerName: "greet", attempt: 1 });
    await s.expect("result");
    await until(() => warnings.length > 0);
    assert.match(warnings[0]!, /execution e1 attempt 1 \(greet\) failed for good \(not retryable\): NonRetryableError: .*invalid payload for handler greet: nope/);
  } finally {
    await t.cleanup();
  }
});

/**
 * A worker whose handler "h" records when (performance.now()) each
 * execution started, and returns at once.
 */
async function holdSetup(options: WorkerOptions = {}) {
  const t = await setup(options);
  const started = new Map<string, number>();
  t.worker.handle("h", (job) => {
    started.set(job.executionId, performance.now());
    return {};
  });
  return { ...t, started };
}

// The server's clock, an hour behind the worker's: a hold is a difference
// of two of its instants, so the offset must not matter.
const serverNow = () => Date.now() - 3_600_000;

test("a batched assignment starts start_at - sent_at after it arrived, never sooner", async () => {
  const t = await holdSetup();
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    const server = serverNow();
    const sent = performance.now(); // the message arrives later still
    s.assignBatch([{ executionId: "held", handlerName: "h", startAtMs: server + 300 }], server);
    assert.equal((await s.expect("result")).executionId, "held");
    const after = t.started.get("held")! - sent;
    assert.ok(after >= 300, `started ${after} ms after it was sent, before its start_at`);
    assert.ok(after < 1_000, `started ${after} ms after it was sent, long after its start_at`);
  } finally {
    await t.cleanup();
  }
});

test("start_at not after sent_at, or either unset: the assignment starts at once", async () => {
  const t = await holdSetup({ slots: 5 });
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome();
    const server = serverNow();
    const sent = performance.now();
    s.assignBatch(
      [
        { executionId: "held", handlerName: "h", startAtMs: server + 500 }, // the yardstick
        { executionId: "past", handlerName: "h", startAtMs: server - 100 },
        { executionId: "now", handlerName: "h", startAtMs: server },
        { executionId: "no-start-at", handlerName: "h" },
      ],
      server,
    );
    s.assignBatch([{ executionId: "no-sent-at", handlerName: "h", startAtMs: server + 500 }]);
    for (let i = 0; i < 5; i++) {
      await s.expect("result");
    }
    const held = t.started.get("held")!;
    assert.ok(held - sent >= 500);
    for (const id of ["past", "now", "no-start-at", "no-sent-at"]) {
      assert.ok(t.started.get(id)! < held, `${id} waited for a hold`);
    }
  } finally {
    await t.cleanup();
  }
});

test("a held assignment counts as running: heartbeats and a reconnect's hello name it", async () => {
  const t = await holdSetup();
  try {
    t.start();
    const s0 = await t.fake.session(0);
    s0.welcome(30);
    const server = serverNow();
    const sent = performance.now();
    s0.assignBatch([{ executionId: "held", handlerName: "h", attempt: 2, startAtMs: server + 1_500 }], server);
    await until(() => s0.all("heartbeat").some((h) => h.executionIds.includes("held")), 1_000, "a heartbeat naming it");
    assert.equal(t.started.size, 0, "named while held, before it started");

    s0.end(new ConnectError("server went away", Code.Unavailable));
    const s1 = await t.fake.session(1);
    const hello = await s1.expect("hello");
    assert.deepEqual(hello.running.map((r) => [r.executionId, r.attempt]), [["held", 2]]);
    s1.welcome(30);
    const r = await s1.expect("result"); // the hold outlives the stream it came on
    assert.deepEqual([r.executionId, r.attempt, r.outcome.case], ["held", 2, "success"]);
    assert.ok(t.started.get("held")! - sent >= 1_500);
  } finally {
    await t.cleanup();
  }
});

test("a cancel before its start: it never starts, sends no result, and leaves the heartbeats", async () => {
  const t = await holdSetup();
  try {
    t.start();
    const s = await t.fake.session(0);
    s.welcome(30);
    const server = serverNow();
    s.assignBatch(
      [
        // Time enough for a heartbeat and the cancel to cross the stream on a loaded machine.
        { executionId: "cancelled", handlerName: "h", startAtMs: server + 800 },
        { executionId: "kept", handlerName: "h", startAtMs: server + 800 },
      ],
      server,
    );
    await until(() => s.all("heartbeat").some((h) => h.executionIds.includes("cancelled")), 1_000, "a heartbeat naming it");
    s.send({ msg: { case: "cancel", value: { executionId: "cancelled", reason: "cancelled" } } });
    await until(() => !s.all("heartbeat").at(-1)!.executionIds.includes("cancelled"), 2_000, "a heartbeat without it");
    const since = s.all("heartbeat").length - 1;

    assert.equal((await s.expect("result")).executionId, "kept"); // past the cancelled one's start_at
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([...t.started.keys()], ["kept"]);
    assert.deepEqual(s.all("result").map((r) => r.executionId), ["kept"]);
    assert.ok(s.all("heartbeat").slice(since).every((h) => !h.executionIds.includes("cancelled")));
    assert.deepEqual(t.worker["ledger"].held(), [{ executionId: "kept", attempt: 1 }], "only kept's unacknowledged result is owed");
  } finally {
    await t.cleanup();
  }
});

test("drain: a held assignment starts at its time and finishes before the reconnect", async () => {
  const t = await holdSetup();
  try {
    t.start();
    const s0 = await t.fake.session(0);
    s0.welcome();
    const server = serverNow();
    const sent = performance.now();
    s0.assignBatch([{ executionId: "held", handlerName: "h", startAtMs: server + 300 }], server);
    await until(() => t.worker["ledger"].runningIds().length === 1);
    s0.send({ msg: { case: "drain", value: {} } });
    assert.equal((await s0.expect("result")).executionId, "held");
    assert.ok(t.started.get("held")! - sent >= 300);
    assert.equal(t.fake.sessions.length, 1, "no reconnect before the ack");
    s0.ack("held");
    assert.deepEqual((await (await t.fake.session(1)).expect("hello")).running, []);
  } finally {
    await t.cleanup();
  }
});

test("a graceful stop lets a held assignment start at its time; past the grace period it never starts", async () => {
  const finished = await holdSetup({ gracePeriodMs: 5_000 });
  try {
    const run = finished.start();
    const s = await finished.fake.session(0);
    s.welcome();
    const server = serverNow();
    const sent = performance.now();
    s.assignBatch([{ executionId: "held", handlerName: "h", startAtMs: server + 300 }], server);
    await until(() => finished.worker["ledger"].runningIds().length === 1);
    finished.stop.abort();
    assert.equal((await s.expect("capacity")).slots, 0);
    assert.equal((await s.expect("result")).executionId, "held");
    assert.ok(finished.started.get("held")! - sent >= 300);
    s.ack("held");
    await run;
  } finally {
    await finished.cleanup();
  }

  const cut = await holdSetup({ gracePeriodMs: 100 });
  try {
    const run = cut.start();
    const s = await cut.fake.session(0);
    s.welcome();
    const server = serverNow();
    const sent = performance.now();
    // Held well past the grace period, which ends 100 ms after the stop.
    s.assignBatch([{ executionId: "held", handlerName: "h", startAtMs: server + 800 }], server);
    await until(() => cut.worker["ledger"].runningIds().length === 1);
    cut.stop.abort();
    await assert.rejects(run, (err: unknown) => err instanceof GracePeriodExceededError && /1 executions running/.test(err.message));
    await new Promise((r) => setTimeout(r, Math.max(0, sent + 900 - performance.now()))); // past its start_at
    assert.equal(cut.started.size, 0);
    assert.equal(s.all("result").length, 0);
    assert.deepEqual(cut.worker["ledger"].runningIds(), []);
  } finally {
    await cut.cleanup();
  }
});
