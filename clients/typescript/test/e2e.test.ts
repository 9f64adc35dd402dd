// The end-to-end scenario against a live server:
//
//   CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=cs_... npm run test:e2e
//
// CRONSTREAM_E2E_TLS=1 connects over TLS instead of plaintext. Without the
// two variables every test is skipped, saying why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import {
  InvalidArgumentError,
  NonRetryableError,
  Worker,
  createClient,
  type AlertEventInfo,
  type Client,
  type ExecutionInfo,
  type ExecutionStatusName,
  type JobSpec,
} from "../src/index.js";

const address = process.env.CRONSTREAM_E2E_ADDR ?? "";
const apiKey = process.env.CRONSTREAM_E2E_API_KEY ?? "";
const skip =
  address && apiKey ? false : "CRONSTREAM_E2E_ADDR and CRONSTREAM_E2E_API_KEY are not set: no live Cronstream server to run the end-to-end scenario against";

const FINAL = new Set<ExecutionStatusName>(["SUCCESS", "FAILED", "TIMEOUT", "CANCELLED", "SKIPPED"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("end to end against a live server", { timeout: 120_000 }, () => {
  const name = `ts-e2e-${randomBytes(4).toString("hex")}`;
  let client: Client;
  let worker: Worker;
  const stop = new AbortController();
  let running: Promise<void>;
  const created: string[] = [];
  const retryAttempts: number[] = [];
  let workerError: unknown;

  before(() => {
    if (skip) {
      return;
    }
    client = createClient({ address, apiKey, tls: process.env.CRONSTREAM_E2E_TLS ? true : false });
    worker = new Worker(client, {
      workerId: name,
      slots: 4,
      gracePeriodMs: 10_000,
      logger: { info() {}, warn: (m, f) => console.error(m, f) },
    });
    worker.handle(name, async (job) => {
      job.log("info", "hello from typescript");
      return { ok: true, lang: "typescript" };
    });
    worker.handle(`${name}-retry`, async (job) => {
      retryAttempts.push(job.attempt);
      if (job.attempt === 1) {
        throw new Error("failing attempt 1 on purpose");
      }
      return { attempt: job.attempt };
    });
    worker.handle(`${name}-fail`, async () => {
      throw new NonRetryableError("failing on purpose, for an alert");
    });
    running = worker.run(stop.signal);
    running.catch((err: unknown) => (workerError = err)); // and checked in after()
  });

  after(async () => {
    if (skip) {
      return;
    }
    stop.abort();
    try {
      await running; // resolves after a graceful stop
    } finally {
      for (const id of created) {
        await client.scheduler.deleteJob({ id }).catch(() => {});
      }
      client.close();
    }
  });

  async function createJob(job: JobSpec) {
    const j = await client.createJob(job);
    created.push(j.id);
    return j;
  }

  const onceJob = (handler: string, inMs: number) => ({
    name: handler,
    handlerName: handler,
    at: new Date(Date.now() + inMs),
  });

  /** Polls the job's executions until one is final; returns it as GetExecution has it. */
  async function finishedExecution(jobId: string): Promise<ExecutionInfo> {
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline) {
      if (workerError !== undefined) {
        assert.fail(`the worker stopped: ${String(workerError)}`);
      }
      for await (const e of client.listExecutions({ jobId })) {
        if (FINAL.has(e.status)) {
          return client.getExecution(e.id);
        }
      }
      await sleep(200);
    }
    assert.fail(`no execution of job ${jobId} finished within 45 s`);
  }

  /** Looks for line among an execution's logs for up to 5 s. */
  async function hasLogLine(executionId: string, line: string): Promise<boolean> {
    for (let i = 0; i < 25; i++) {
      for await (const l of client.listExecutionLogs(executionId)) {
        if (l.message === line) {
          return true;
        }
      }
      await sleep(200);
    }
    return false;
  }

  test("a job due in a second runs on the worker, with its result and log line", { skip }, async () => {
    const job = await createJob(onceJob(name, 1000));
    const e = await finishedExecution(job.id);
    assert.equal(e.status, "SUCCESS", `execution ${e.id} is ${e.status}: ${e.error}`);
    assert.deepEqual(e.result, { ok: true, lang: "typescript" });
    assert.ok(await hasLogLine(e.id, "hello from typescript"), `the logs of ${e.id} lack "hello from typescript"`);
  });

  test("a handler that fails attempt 1 is retried and succeeds on attempt 2", { skip }, async () => {
    const job = await createJob({ ...onceJob(`${name}-retry`, 1000), maxRetries: 2, retryDelay: "1s" });
    const e = await finishedExecution(job.id);
    assert.equal(e.status, "SUCCESS", `execution ${e.id} is ${e.status}: ${e.error}`);
    assert.equal(e.attempt, 2);
    assert.equal(e.retryCount, 1);
    assert.deepEqual(e.result, { attempt: 2 });
    assert.deepEqual(retryAttempts, [1, 2]);
  });

  test("a job failing once with consecutiveFailures 1 opens a FAILING alert, seen by watchAlerts", { skip }, async () => {
    const job = await createJob({
      name: `${name}-fail`,
      handlerName: `${name}-fail`,
      cron: "0 0 1 1 *",
      maxRetries: 0,
      healthPolicy: { maxStartDelay: "30s", consecutiveFailures: 1, pauseOnFailure: true },
    });
    assert.deepEqual(
      [job.healthPolicy?.maxStartDelayMs, job.healthPolicy?.consecutiveFailures, job.healthPolicy?.pauseOnFailure, job.health?.state],
      [30_000, 1, true, "HEALTHY"],
    );
    const watch = new AbortController();
    const timer = setTimeout(() => watch.abort(), 45_000);
    const opened = (async (): Promise<AlertEventInfo | undefined> => {
      for await (const e of client.watchAlerts({ signal: watch.signal })) {
        if (e.alert.jobId === job.id && e.type === "OPENED") {
          return e;
        }
      }
      return undefined;
    })();
    try {
      // The watch starts from where the server was when it read the request; the
      // iterable keeps the server's start message without yielding it, so there
      // is nothing to wait on: give the stream time to open.
      await sleep(500);
      await client.runJob(job.id);
      const event = await opened;
      assert.ok(event, "no OPENED event for the job within 45 s");
      assert.deepEqual([event.alert.kind, event.alert.state, event.alert.pausedJob], ["FAILING", "OPEN", true]);
      assert.ok(event.cursor > 0 && event.alert.openedAt instanceof Date);
    } finally {
      clearTimeout(timer);
      watch.abort();
    }
    const after = await client.getJob(job.id);
    assert.deepEqual([after.status, after.health?.state], ["PAUSED", "FAILING"]);
    assert.ok(after.health?.since instanceof Date);
    const listed = [];
    for await (const a of client.listAlerts({ jobId: job.id, kinds: ["FAILING"], states: ["OPEN"] })) {
      listed.push(a.jobId);
    }
    assert.deepEqual(listed, [job.id]);
    const failing = [];
    for await (const j of client.listJobs({ healths: ["FAILING"], handlerName: `${name}-fail` })) {
      failing.push(j.id);
    }
    assert.deepEqual(failing, [job.id]);
  });

  test("listJobs pages through every job, two at a time", { skip }, async () => {
    const handler = `${name}-page`;
    for (let i = 0; i < 3; i++) {
      await createJob({ name: `${handler}-${i}`, handlerName: handler, cron: "0 0 1 1 *" });
    }
    const first = await client.scheduler.listJobs({ pageSize: 2, handlerName: handler });
    assert.equal(first.jobs.length, 2);
    assert.notEqual(first.nextPageToken, "");
    const names: string[] = [];
    for await (const job of client.listJobs({ pageSize: 2, handlerName: handler })) {
      names.push(job.name);
    }
    assert.deepEqual(names.sort(), [`${handler}-0`, `${handler}-1`, `${handler}-2`]);
  });

  test("a bad cron expression is an InvalidArgumentError naming job.cron.expression", { skip }, async () => {
    const err = await client
      .createJob({ name: `${name}-bad`, handlerName: name, cron: "61 * * * *" })
      .then(
        (j) => {
          created.push(j.id);
          assert.fail("a job with cron 61 * * * * was created");
        },
        (e: unknown) => e,
      );
    assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
    assert.ok(
      err.violations.some((v) => v.field === "job.cron.expression"),
      `violations name ${err.violations.map((v) => v.field).join(", ")}`,
    );
  });
});
