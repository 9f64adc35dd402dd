import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { context, propagation } from "@opentelemetry/api";

import { createClient, paginate } from "../../src/client.js";
import type { JobInfo } from "../../src/convert.js";
import { NotFoundError } from "../../src/errors.js";
import { ExecutionLogSchema, ExecutionSchema } from "../../src/gen/cronstream/v1/execution_pb.js";
import { JobSchema, type Job } from "../../src/gen/cronstream/v1/job_pb.js";
import { AlertState } from "../../src/gen/cronstream/v1/alert_pb.js";
import { HealthState } from "../../src/gen/cronstream/v1/job_pb.js";
import { SchedulerService } from "../../src/gen/cronstream/v1/scheduler_service_pb.js";
import { serve } from "../support/fake.js";

/** A SchedulerService with seven jobs, paged by offset tokens. */
async function fakeScheduler() {
  const calls: { method: string; header: Headers; request: unknown }[] = [];
  const jobs = Array.from({ length: 7 }, (_, i) => create(JobSchema, { id: `j${i}`, name: `job ${i}`, handlerName: i % 2 ? "odd" : "even" }));
  const server = await serve((router) =>
    router.service(SchedulerService, {
      createJob(req, ctx) {
        calls.push({ method: "createJob", header: ctx.requestHeader, request: req });
        return { job: create(JobSchema, { name: req.job?.name ?? "", id: "new" }) };
      },
      getJob(req, ctx) {
        calls.push({ method: "getJob", header: ctx.requestHeader, request: req });
        const job = jobs.find((j) => j.id === req.id);
        if (!job) {
          throw new ConnectError(`job '${req.id}' not found`, Code.NotFound);
        }
        return { job };
      },
      listJobs(req, ctx) {
        calls.push({ method: "listJobs", header: ctx.requestHeader, request: req });
        const matching = jobs.filter((j) => !req.handlerName || j.handlerName === req.handlerName);
        const from = req.pageToken ? Number(req.pageToken) : 0;
        const to = from + (req.pageSize || 50);
        return { jobs: matching.slice(from, to), nextPageToken: to < matching.length ? String(to) : "" };
      },
      runJob(req) {
        return { execution: { id: `x-of-${req.id}`, jobId: req.id } };
      },
      getExecution(req) {
        return { execution: create(ExecutionSchema, { id: req.id, result: { ok: true } }) };
      },
      listExecutions(req) {
        calls.push({ method: "listExecutions", header: new Headers(), request: req });
        return { executions: [{ id: "x1", jobId: req.jobId }], nextPageToken: "" };
      },
      listAlerts(req) {
        calls.push({ method: "listAlerts", header: new Headers(), request: req });
        const alerts = [{ id: "a1", jobId: req.jobId, kind: HealthState.FAILING, state: AlertState.OPEN, openedAt: { seconds: 1_800_000_000n } }];
        return { alerts: req.pageToken ? [{ id: "a2", kind: HealthState.LATE, state: AlertState.RESOLVED }] : alerts, nextPageToken: req.pageToken ? "" : "more" };
      },
      listExecutionLogs(req) {
        calls.push({ method: "listExecutionLogs", header: new Headers(), request: req });
        const logs = [create(ExecutionLogSchema, { executionId: req.executionId, message: req.pageToken || "first" })];
        return { logs, nextPageToken: req.pageToken ? "" : "second" };
      },
    }),
  );
  return { server, calls };
}

test("the convenience calls carry the key and follow next_page_token", async () => {
  const { server, calls } = await fakeScheduler();
  const client = createClient({ address: server.address, apiKey: "cs_key" });
  try {
    const job = await client.createJob(
      { name: "n", handlerName: "h", cron: "0 3 * * *" },
      { requestId: "req-1" },
    );
    assert.equal(job.id, "new");
    const created = calls[0]!;
    assert.equal(created.header.get("authorization"), "Bearer cs_key");
    assert.equal((created.request as { requestId: string }).requestId, "req-1");

    assert.equal((await client.getJob("j3")).name, "job 3");
    await assert.rejects(client.getJob("nope"), NotFoundError);

    const all: JobInfo[] = [];
    for await (const j of client.listJobs({ pageSize: 2 })) {
      all.push(j);
    }
    assert.deepEqual(all.map((j) => j.id), ["j0", "j1", "j2", "j3", "j4", "j5", "j6"]);
    const pages = calls.filter((c) => c.method === "listJobs").map((c) => (c.request as { pageToken: string; pageSize: number }));
    assert.deepEqual(pages.map((p) => [p.pageToken, p.pageSize]), [["", 2], ["2", 2], ["4", 2], ["6", 2]]);

    const odd: string[] = [];
    for await (const j of client.listJobs({ pageSize: 3, handlerName: "odd" })) {
      odd.push(j.id);
    }
    assert.deepEqual(odd, ["j1", "j3", "j5"]);

    // Stopping early fetches no further page.
    const before = calls.length;
    for await (const j of client.listJobs({ pageSize: 2 })) {
      assert.equal(j.id, "j0");
      break;
    }
    assert.equal(calls.length, before + 1);

    assert.equal((await client.runJob("j1")).jobId, "j1");
    assert.deepEqual((await client.getExecution("x9")).result, { ok: true });
    const execs = [];
    for await (const x of client.listExecutions({ jobId: "j1" })) {
      execs.push(x.id);
    }
    assert.deepEqual(execs, ["x1"]);
    const lines = [];
    for await (const l of client.listExecutionLogs("x1", { pageSize: 1 })) {
      lines.push(l.message);
    }
    assert.deepEqual(lines, ["first", "second"]);
    assert.equal((calls.at(-1)!.request as { pageSize: number }).pageSize, 1);

    // The generated clients authenticate too, and a caller's own header wins.
    await client.scheduler.getJob({ id: "j0" }, { headers: { authorization: "Bearer other" } });
    assert.equal(calls.at(-1)!.header.get("authorization"), "Bearer other");
  } finally {
    client.close();
    await server.close();
  }
});

test("listAlerts and listJobs filter by names, and alerts come as plain views", async () => {
  const { server, calls } = await fakeScheduler();
  const client = createClient({ address: server.address, apiKey: "cs_key" });
  try {
    const alerts = [];
    for await (const a of client.listAlerts({ jobId: "j1", kinds: ["FAILING", "LATE"], states: ["OPEN"], pageSize: 1 })) {
      alerts.push(a);
    }
    assert.deepEqual(alerts.map((a) => [a.id, a.kind, a.state]), [["a1", "FAILING", "OPEN"], ["a2", "LATE", "RESOLVED"]]);
    assert.deepEqual(alerts[0]!.openedAt, new Date(1_800_000_000_000));
    const asked = calls.filter((c) => c.method === "listAlerts").map((c) => c.request as { jobId: string; kinds: number[]; states: number[]; pageSize: number; pageToken: string });
    assert.deepEqual(asked.map((r) => [r.jobId, r.kinds, r.states, r.pageSize, r.pageToken]), [
      ["j1", [HealthState.FAILING, HealthState.LATE], [AlertState.OPEN], 1, ""],
      ["j1", [HealthState.FAILING, HealthState.LATE], [AlertState.OPEN], 1, "more"],
    ]);
    for await (const j of client.listJobs({ healths: ["FAILING"] })) {
      assert.ok(j);
      break;
    }
    assert.deepEqual((calls.at(-1)!.request as { healths: number[] }).healths, [HealthState.FAILING]);
    assert.throws(() => client.listAlerts({ kinds: ["SICK" as never] }), /kinds must be one of HEALTHY, LATE, MISSED, OVERRUNNING, FAILING/);
  } finally {
    client.close();
    await server.close();
  }
});

test("paginate refuses a server that repeats its page token", async () => {
  const it = paginate(async () => [[1], "same"] as [number[], string]);
  const got: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const n of it) {
        got.push(n);
      }
    })(),
    /same page token twice/,
  );
  assert.deepEqual(got, [1, 1]);
});

test("addresses: host:port with tls, or a URL", () => {
  assert.doesNotThrow(() => createClient({ address: "127.0.0.1:50051", tls: false }).close());
  assert.doesNotThrow(() => createClient({ address: "scheduler.example.com:443" }).close());
  assert.doesNotThrow(() => createClient({ address: "[::1]:50051", tls: false }).close());
  assert.doesNotThrow(() => createClient({ address: "https://scheduler.example.com" }).close());
  assert.throws(() => createClient({ address: "http://127.0.0.1:50051", tls: true }), /contradicts/);
  assert.throws(() => createClient({ address: "" }), TypeError);
  assert.throws(() => createClient({ address: "host:1/path" }), TypeError);
});

test("the README's tracing interceptor carries the active context to the server", async () => {
  // A stand-in for the SDK's W3C propagator: what it injects is the README line's business.
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  propagation.setGlobalPropagator({
    inject: (_ctx, carrier, setter) => setter.set(carrier, "traceparent", traceparent),
    extract: (ctx) => ctx,
    fields: () => ["traceparent"],
  });
  const { server, calls } = await fakeScheduler();
  const address = server.address;
  const apiKey = "cs_key";
  // As the README writes it:
  const client = createClient({ address, apiKey, tls: false, interceptors: [(next) => (req) => { propagation.inject(context.active(), req.header, { set: (h, k, v) => h.set(k, v) }); return next(req); }] });
  try {
    await client.createJob({ name: "n", handlerName: "h", cron: "0 3 * * *" });
    assert.equal(calls[0]!.header.get("traceparent"), traceparent);
    assert.equal(calls[0]!.header.get("authorization"), "Bearer cs_key");
  } finally {
    propagation.disable();
    client.close();
    await server.close();
  }
});
