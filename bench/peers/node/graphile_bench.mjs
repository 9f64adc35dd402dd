#!/usr/bin/env node
// graphile-worker peer benchmark for Cronstream's benchmark suite.
//
//   node graphile_bench.mjs --dsn postgresql://user@127.0.0.1:PORT/DB --workload w1 --jobs 20000
//   node graphile_bench.mjs --dsn postgresql://user@127.0.0.1:PORT/DB --workload w2 --jobs 2000
//
// w1 (throughput): N no-op jobs are enqueued with one bulk `addJobs` call per
//   chunk before any worker runs (timed separately), then a worker with
//   graphile-worker's documented high-throughput settings drains them. The
//   clock runs from the `run()` call until the jobs table is empty (every
//   completion committed, including the batched `completeJob`s).
// w2 (latency): graphile-worker has no per-second schedules (its crontab has
//   minute granularity), so this measures what its docs report instead: with
//   the worker running and idle, jobs are added one at a time and the time
//   from just before `addJob` to the start of the task handler is recorded.
//
// Exactly one JSON line goes to stdout; logs and diagnostics go to stderr.
// The runner touches only the database named by --dsn: it creates the
// `graphile_worker` schema there (via graphile-worker's own migrations) and
// drops it again at the end if it was not there before (--keep-schema keeps
// it). The whole run is bounded by --timeout seconds (default 300).

import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";

// graphile-worker reads NO_LOG_SUCCESS when its modules load: set it first
// (its perf suite does the same) so each success does not build a log line,
// then load the library dynamically.
process.env.NO_LOG_SUCCESS = "1";
const { run, runMigrations, makeWorkerUtils, Logger } = await import(
  "graphile-worker"
);
const pg = (await import("pg")).default;
// The version actually installed (package.json pins 0.17.3).
const VERSION = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve("graphile-worker/package.json"), "utf8"),
).version;

const SYSTEM = "graphile-worker";
const SCHEMA = "graphile_worker";
const W1_TASK = "cronstream_bench_noop";
const W2_TASK = "cronstream_bench_latency";

// ---------------------------------------------------------------- arguments

function usage(message) {
  if (message) process.stderr.write(`graphile_bench: ${message}\n`);
  process.stderr.write(
    "usage: node graphile_bench.mjs --dsn DSN --workload w1|w2 [--jobs N]\n" +
      "         [--timeout SECONDS] [--concurrency N] [--local-queue-size N]\n" +
      "         [--spacing-ms MS] [--warmup N] [--keep-schema] [--verbose]\n",
  );
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      dsn: { type: "string" },
      workload: { type: "string" },
      jobs: { type: "string" },
      timeout: { type: "string", default: "300" },
      concurrency: { type: "string" },
      "local-queue-size": { type: "string" },
      "spacing-ms": { type: "string", default: "5" },
      warmup: { type: "string", default: "50" },
      "keep-schema": { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  usage(e.message);
}
if (args.help) usage();

function intArg(name, value, min) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
}

const dsn = args.dsn;
if (!dsn) usage("--dsn is required");
const workload = args.workload;
if (workload !== "w1" && workload !== "w2") usage("--workload must be w1 or w2");
const jobs = intArg("jobs", args.jobs ?? (workload === "w1" ? 20000 : 2000), 1);
const timeoutSeconds = intArg("timeout", args.timeout, 1);
const spacingMs = Number(args["spacing-ms"]);
if (!Number.isFinite(spacingMs) || spacingMs < 0) usage("--spacing-ms must be >= 0");
const warmup = intArg("warmup", args.warmup, 0);
const verbose = args.verbose;

// Settings. w1: the configuration graphile-worker's performance page documents
// for its quick stats (24 concurrent jobs, pool of 25, local queue of 500,
// completion/failure batching with a 0 ms delay). w2: the settings of its own
// latency test (library defaults, concurrency 1: no local queue, no batching).
const W1_CONCURRENCY = intArg("concurrency", args.concurrency ?? 24, 1);
const W1_LOCAL_QUEUE = intArg("local-queue-size", args["local-queue-size"] ?? 500, -1);
const W2_CONCURRENCY = intArg("concurrency", args.concurrency ?? 1, 1);

// ------------------------------------------------------------------ helpers

const log = (msg) => process.stderr.write(`graphile_bench: ${msg}\n`);

// graphile-worker's default logger writes to stdout; keep stdout for the JSON
// line and send warnings/errors (and, with --verbose, everything) to stderr.
const logger = new Logger((scope) => (level, message) => {
  if (!verbose && (level === "info" || level === "debug")) return;
  const label = scope && scope.label ? `[${scope.label}] ` : "";
  process.stderr.write(`graphile-worker ${level}: ${label}${message}\n`);
});

const nowNs = () => process.hrtime.bigint();
const nsToMs = (ns) => Number(ns) / 1e6;
const nsToS = (ns) => Number(ns) / 1e9;
const round = (x, digits) => Number(x.toFixed(digits));

// Wraps a release/stop function so that calling it twice is harmless.
function once(fn) {
  let promise = null;
  return () => (promise ??= Promise.resolve().then(fn));
}

function percentile(sortedValues, p) {
  // Nearest-rank percentile of an ascending array.
  if (sortedValues.length === 0) return null;
  const rank = Math.ceil((p / 100) * sortedValues.length);
  return sortedValues[Math.min(sortedValues.length, Math.max(1, rank)) - 1];
}

function baseOptions(extraWorker = {}) {
  // Everything goes through an explicit preset so that environment variables
  // (DATABASE_URL, GRAPHILE_WORKER_SCHEMA) and rc files cannot change the run.
  return {
    logger,
    noHandleSignals: true,
    preset: {
      worker: {
        connectionString: dsn,
        schema: SCHEMA,
        logger,
        ...extraWorker,
      },
    },
  };
}

// ------------------------------------------------------- lifecycle / cleanup

// Everything that must be undone, most recent first.
const cleanups = [];
let cleaningUp = null;
let adminPool = null;

function cleanup() {
  if (!cleaningUp) {
    cleaningUp = (async () => {
      while (cleanups.length) {
        const fn = cleanups.pop();
        try {
          await fn();
        } catch (e) {
          log(`cleanup step failed: ${e && e.message ? e.message : e}`);
        }
      }
    })();
  }
  return cleaningUp;
}

let finished = false;
async function finish(result, exitCode) {
  if (finished) return;
  finished = true;
  clearTimeout(deadlineTimer);
  await cleanup();
  if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(exitCode);
}

// Partial results the deadline handler can report.
const progress = { result: null };

const deadlineTimer = setTimeout(() => {
  log(`timed out after ${timeoutSeconds}s`);
  const partial = progress.result ? progress.result() : null;
  if (partial) partial.timed_out = true;
  // Do not wait forever on a cleanup that hangs too.
  setTimeout(() => process.exit(3), 15000).unref();
  finish(partial, 3);
}, timeoutSeconds * 1000);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    log(`received ${signal}, cleaning up`);
    setTimeout(() => process.exit(130), 15000).unref();
    finish(null, 130);
  });
}

async function prepareSchema() {
  adminPool = new pg.Pool({ connectionString: dsn, max: 2 });
  cleanups.push(() => adminPool.end());
  const {
    rows: [{ present }],
  } = await adminPool.query(
    "select exists(select 1 from pg_namespace where nspname = $1) as present",
    [SCHEMA],
  );
  if (present) {
    const {
      rows: [{ has_jobs }],
    } = await adminPool.query(
      `select to_regclass('${SCHEMA}._private_jobs') is not null
              and exists(select 1 from ${SCHEMA}._private_jobs) as has_jobs`,
    );
    if (has_jobs) {
      throw new Error(
        `schema ${SCHEMA} already holds jobs in this database; use a fresh database`,
      );
    }
  } else if (!args["keep-schema"]) {
    // Registered before migrating so a failed migration is cleaned up too.
    cleanups.push(async () => {
      await adminPool.query(`drop schema if exists ${SCHEMA} cascade`);
    });
  }
  // graphile-worker installs/updates its own schema.
  await runMigrations(baseOptions());
}

async function remainingJobs(taskIdentifier) {
  const {
    rows: [{ n }],
  } = await adminPool.query(
    `select count(*)::int as n
       from ${SCHEMA}._private_jobs j
       join ${SCHEMA}._private_tasks t on t.id = j.task_id
      where t.identifier = $1`,
    [taskIdentifier],
  );
  return n;
}

async function startRunner(workerSettings, taskList, events) {
  const runner = await run({ ...baseOptions(workerSettings), events, taskList, crontab: "" });
  const stop = once(async () => {
    await runner.stop();
    await runner.promise.catch(() => {});
  });
  cleanups.push(stop);
  return { runner, stop };
}

// ----------------------------------------------------------------------- w1

async function workloadW1() {
  const workerSettings = {
    concurrentJobs: W1_CONCURRENCY,
    maxPoolSize: W1_CONCURRENCY + 1,
    preparedStatements: true,
    localQueue: { size: W1_LOCAL_QUEUE },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  };
  const notes =
    `concurrentJobs=${workerSettings.concurrentJobs}, maxPoolSize=${workerSettings.maxPoolSize}, ` +
    `preparedStatements=true, localQueue.size=${W1_LOCAL_QUEUE}, completeJobBatchDelay=0, ` +
    `failJobBatchDelay=0 (graphile-worker's documented high-throughput preset); one worker ` +
    `process; enqueue via WorkerUtils.addJobs in chunks of up to 10000; seconds = run() ` +
    `call until the jobs table holds none of the N jobs`;

  await prepareSchema();

  // Enqueue everything before any worker runs.
  const utils = await makeWorkerUtils(baseOptions({ maxPoolSize: 2 }));
  const releaseUtils = once(() => utils.release());
  cleanups.push(releaseUtils);
  const CHUNK = 10000;
  const enqueueStart = nowNs();
  for (let offset = 0; offset < jobs; offset += CHUNK) {
    const size = Math.min(CHUNK, jobs - offset);
    const specs = new Array(size);
    for (let i = 0; i < size; i++) {
      specs[i] = { identifier: W1_TASK, payload: {} };
    }
    await utils.addJobs(specs);
  }
  const enqueueSeconds = nsToS(nowNs() - enqueueStart);
  await releaseUtils();
  const queued = await remainingJobs(W1_TASK);
  if (queued !== jobs) throw new Error(`expected ${jobs} queued jobs, found ${queued}`);
  log(`enqueued ${jobs} jobs in ${enqueueSeconds.toFixed(3)}s`);

  let succeeded = 0;
  let failed = 0;
  let allSucceeded;
  const allSucceededPromise = new Promise((resolve) => {
    allSucceeded = resolve;
  });
  const events = new EventEmitter();
  events.on("job:success", () => {
    succeeded++;
    if (succeeded === jobs) allSucceeded();
  });
  events.on("job:error", () => {
    failed++;
  });

  const taskList = {
    [W1_TASK]: async () => {},
  };

  let workerStart = null;
  let lastRemaining = jobs;
  const result = (seconds) => {
    const completed = Math.max(0, Math.min(succeeded, jobs - lastRemaining));
    return {
      system: SYSTEM,
      version: VERSION,
      workload: "w1",
      jobs,
      completed,
      enqueue_seconds: round(enqueueSeconds, 4),
      seconds: round(seconds, 4),
      per_second: seconds > 0 ? round(completed / seconds, 1) : null,
      notes,
    };
  };
  progress.result = () => (workerStart ? result(nsToS(nowNs() - workerStart)) : null);

  workerStart = nowNs();
  const { stop } = await startRunner(workerSettings, taskList, events);
  await allSucceededPromise;
  // Every handler has returned; wait until the (batched) completions are
  // committed, i.e. the jobs are gone from the table.
  for (;;) {
    lastRemaining = await remainingJobs(W1_TASK);
    if (lastRemaining === 0) break;
    await sleep(1);
  }
  const seconds = nsToS(nowNs() - workerStart);
  await stop();
  if (failed) log(`${failed} job attempts failed`);
  return result(seconds);
}

// ----------------------------------------------------------------------- w2

async function workloadW2() {
  const workerSettings = {
    concurrentJobs: W2_CONCURRENCY,
    maxPoolSize: Math.max(10, W2_CONCURRENCY + 2),
    preparedStatements: true,
  };
  const notes =
    `concurrentJobs=${workerSettings.concurrentJobs}, maxPoolSize=${workerSettings.maxPoolSize}, ` +
    `preparedStatements=true, no localQueue, no completion batching (library defaults, as in ` +
    `graphile-worker's own latency test); LISTEN/NOTIFY wake-up; jobs added with ` +
    `WorkerUtils.addJob one at a time, each after the previous handler started and at least ` +
    `${spacingMs} ms after the previous add; ${warmup} warm-up jobs discarded; latency = ` +
    `handler start - just before addJob (same process, monotonic clock); nearest-rank percentiles`;

  await prepareSchema();

  const utils = await makeWorkerUtils(baseOptions({ maxPoolSize: 2 }));
  const releaseUtils = once(() => utils.release());
  cleanups.push(releaseUtils);

  const addedAt = new Map(); // sample id -> ns just before addJob
  const waiters = new Map(); // sample id -> resolve()
  const latenciesMs = [];
  const warmupIds = new Set();

  const taskList = {
    [W2_TASK]: async (payload) => {
      const started = nowNs();
      const id = payload && payload.id;
      const t0 = addedAt.get(id);
      if (t0 !== undefined) {
        addedAt.delete(id);
        if (!warmupIds.has(id)) latenciesMs.push(nsToMs(started - t0));
      }
      const resolve = waiters.get(id);
      if (resolve) {
        waiters.delete(id);
        resolve(true);
      }
    },
  };

  let missed = 0;
  const result = () => {
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    const pick = (p) => {
      const v = percentile(sorted, p);
      return v === null ? null : round(v, 3);
    };
    const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : null;
    return {
      system: SYSTEM,
      version: VERSION,
      workload: "w2",
      mode: "add-to-start latency, one job at a time",
      jobs,
      measured: sorted.length,
      missed,
      p50_ms: pick(50),
      p95_ms: pick(95),
      p99_ms: pick(99),
      max_ms: sorted.length ? round(sorted[sorted.length - 1], 3) : null,
      min_ms: sorted.length ? round(sorted[0], 3) : null,
      mean_ms: mean === null ? null : round(mean, 3),
      notes,
    };
  };
  progress.result = result;

  const { stop } = await startRunner(workerSettings, taskList, new EventEmitter());
  // Let the worker finish starting up (LISTEN connected, first poll empty).
  await sleep(500);

  const PER_JOB_TIMEOUT_MS = 5000;
  let lastAdd = 0n;
  const addOne = async (id) => {
    const started = new Promise((resolve) => {
      waiters.set(id, resolve);
    });
    // Keep adds at least spacingMs apart.
    const gapMs = nsToMs(nowNs() - lastAdd);
    if (gapMs < spacingMs) await sleep(spacingMs - gapMs);
    lastAdd = nowNs();
    addedAt.set(id, lastAdd);
    await utils.addJob(W2_TASK, { id });
    let timer;
    const ok = await Promise.race([
      started,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), PER_JOB_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!ok) {
      waiters.delete(id);
      addedAt.delete(id);
      return false;
    }
    return true;
  };

  for (let i = 0; i < warmup; i++) {
    const id = -(i + 1);
    warmupIds.add(id);
    await addOne(id);
  }
  for (let i = 0; i < jobs; i++) {
    if (!(await addOne(i))) missed++;
  }

  // Let the last completions land before stopping.
  for (let i = 0; i < 1000; i++) {
    if ((await remainingJobs(W2_TASK)) === 0) break;
    await sleep(5);
  }
  await stop();
  await releaseUtils();
  if (missed) log(`${missed} jobs did not start within ${PER_JOB_TIMEOUT_MS} ms`);
  return result();
}

// --------------------------------------------------------------------- main

try {
  const result = workload === "w1" ? await workloadW1() : await workloadW2();
  const ok =
    workload === "w1" ? result.completed === jobs : result.missed === 0 && result.measured === jobs;
  await finish(result, ok ? 0 : 1);
} catch (e) {
  if (!finished) log(`failed: ${e && e.stack ? e.stack : e}`);
  await finish(null, 1);
}
