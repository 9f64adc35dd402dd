import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";

import { untilNoneRemain } from "../../src/controls.js";
import { executionInfo, isFinalStatus, jobInfo, jobMessage, type ExecutionStatusName } from "../../src/convert.js";
import { ExecutionSchema, ExecutionStatus, ExecutionTrigger } from "../../src/gen/cronstream/v1/execution_pb.js";
import { JobSchema, OverlapPolicy } from "../../src/gen/cronstream/v1/job_pb.js";
import { RateLimitSchema } from "../../src/gen/cronstream/v1/rate_limit_pb.js";
import {
  BackfillJobRequestSchema,
  DeleteRateLimitRequestSchema,
  JobSelectorSchema,
  PreviewScheduleRequestSchema,
  PreviewScheduleResponseSchema,
} from "../../src/gen/cronstream/v1/scheduler_service_pb.js";
import {
  backfillRequest,
  deleteRateLimitRequest,
  jobSelectorMessage,
  previewRequest,
  rateLimitInfo,
  rateLimitMessage,
  schedulePreview,
  type BulkChange,
} from "../../src/scheduling.js";

const AT = new Date("2030-05-06T07:08:09Z");

test("a job spec carries its concurrency limit, rate-limit key and dependencies", () => {
  const spec = {
    name: "load",
    handlerName: "load_customer",
    cron: "0 * * * *",
    concurrency: { key: "customer:{payload.customer_id}", limit: 2 },
    rateLimitKey: "crm-api",
    dependsOn: ["j_extract"],
    maxWait: "2h",
  };
  const j = fromBinary(JobSchema, toBinary(JobSchema, create(JobSchema, jobMessage(spec))));
  assert.deepEqual([j.concurrency?.key, j.concurrency?.limit], ["customer:{payload.customer_id}", 2]);
  assert.equal(j.rateLimitKey, "crm-api");
  assert.deepEqual(j.dependsOn, ["j_extract"]);
  assert.equal(j.maxWait?.seconds, 7200n);
  assert.equal(jobMessage({ name: "n", handlerName: "h", every: "1s" }).concurrency, undefined);
});

test("a job reads back its pause deadline, limits and dependencies", () => {
  const info = jobInfo(
    create(JobSchema, {
      id: "j1",
      pausedUntil: timestampFromDate(AT),
      concurrency: { key: "warehouse", limit: 4 },
      rateLimitKey: "crm-api",
      dependsOn: ["j0"],
      maxWait: durationFromMs(1_800_000),
    }),
  );
  assert.deepEqual(info.pausedUntil, AT);
  assert.deepEqual(info.concurrency, { key: "warehouse", limit: 4 });
  assert.deepEqual([info.rateLimitKey, info.dependsOn, info.maxWaitMs], ["crm-api", ["j0"], 1_800_000]);
  const bare = jobInfo(create(JobSchema, { id: "j2" }));
  assert.deepEqual([bare.pausedUntil, bare.concurrency, bare.maxWaitMs, bare.dependsOn], [undefined, undefined, undefined, []]);
});

test("a waiting execution reads what it waits for, and has not ended", () => {
  const e = executionInfo(
    create(ExecutionSchema, {
      id: "e1",
      status: ExecutionStatus.WAITING,
      trigger: ExecutionTrigger.BACKFILL,
      concurrencyKey: "customer:42",
      rateLimitKey: "crm-api",
      waitingFor: ["j_extract"],
      waitDeadline: timestampFromDate(AT),
    }),
  );
  assert.deepEqual([e.status, e.trigger], ["WAITING", "BACKFILL"]);
  assert.deepEqual([e.concurrencyKey, e.rateLimitKey, e.waitingFor, e.waitDeadline], ["customer:42", "crm-api", ["j_extract"], AT]);
  const names = Object.keys(ExecutionStatus).filter((k) => Number.isNaN(Number(k))) as ExecutionStatusName[];
  assert.deepEqual(names.filter(isFinalStatus), ["SUCCESS", "FAILED", "TIMEOUT", "CANCELLED", "SKIPPED"]);
});

test("a selector and a backfill become their messages", () => {
  const sel = create(JobSelectorSchema, jobSelectorMessage({ tags: ["etl"], namePrefix: "nightly-" }));
  assert.deepEqual([sel.tags, sel.handlerName, sel.namePrefix, sel.all], [["etl"], "", "nightly-", false]);
  assert.equal(create(JobSelectorSchema, jobSelectorMessage({ all: true })).all, true);
  const start = new Date("2030-04-29T00:00:00Z");
  const req = create(BackfillJobRequestSchema, backfillRequest("j1", { start, end: AT, overlapPolicy: "BUFFER_ONE" }));
  assert.equal(req.id, "j1");
  assert.deepEqual([req.startTime?.seconds, req.endTime?.seconds], [BigInt(start.getTime() / 1000), BigInt(AT.getTime() / 1000)]);
  assert.equal(req.overlapPolicy, OverlapPolicy.BUFFER_ONE);
  assert.equal(create(BackfillJobRequestSchema, backfillRequest("j1", { start, end: AT })).overlapPolicy, OverlapPolicy.UNSPECIFIED);
});

test("the bulk loop adds up each call until none remain, and stops without progress", async () => {
  const steps: BulkChange[] = [
    { changed: 1000, remaining: 1500 },
    { changed: 1000, remaining: 500 },
    { changed: 500, remaining: 0 },
  ];
  assert.deepEqual(await untilNoneRemain(async () => steps.shift()!), { changed: 2500, remaining: 0 });
  let calls = 0;
  const stuck = await untilNoneRemain(async () => {
    calls++;
    return { changed: 0, remaining: 7 };
  });
  assert.deepEqual([stuck, calls], [{ changed: 0, remaining: 7 }, 1]);
});

test("a preview request takes a trigger or a job id, and a range", () => {
  const before = new Date("2026-04-01T00:00:00Z");
  const req = create(PreviewScheduleRequestSchema, previewRequest({ trigger: { cron: "30 2 * * *", timezone: "Europe/Berlin" }, before }));
  assert.ok(req.job?.trigger.case === "cron");
  assert.equal(req.job.trigger.value.timezone, "Europe/Berlin");
  assert.equal(req.endTime?.seconds, BigInt(before.getTime() / 1000));
  assert.deepEqual([req.startTime, req.count, req.jobId], [undefined, 0, ""]);
  const byId = create(PreviewScheduleRequestSchema, previewRequest({ jobId: "j1", count: 5 }));
  assert.deepEqual([byId.job, byId.jobId, byId.count], [undefined, "j1", 5]);
});

test("a preview reads its DST marks and summary", () => {
  const jump = new Date("2026-03-29T01:00:00Z"); // 02:00 CET becomes 03:00 CEST
  const p = schedulePreview(
    create(PreviewScheduleResponseSchema, {
      times: [timestampFromDate(jump)],
      instants: [{ time: timestampFromDate(jump), localTime: "2026-03-29T03:00:00+02:00", utcOffsetSeconds: 7200, shifted: true, scheduledWallTime: "02:30" }],
      summary: {
        instantsPerMonth: [
          { month: "2026-03", count: 3 },
          { month: "2026-04", count: 1 },
        ],
        clockChanges: [{ at: timestampFromDate(jump), offsetBeforeSeconds: 3600, offsetAfterSeconds: 7200 }],
        p95Duration: durationFromMs(1_500_000),
        predictedOverlaps: 2,
        truncated: true,
      },
    }),
  );
  assert.deepEqual(p.times, [jump]);
  assert.deepEqual(p.instants, [
    { time: jump, localTime: "2026-03-29T03:00:00+02:00", utcOffsetMs: 7_200_000, shifted: true, scheduledWallTime: "02:30", repeatedHour: false },
  ]);
  assert.deepEqual(Object.entries(p.summary.instantsPerMonth), [
    ["2026-03", 3],
    ["2026-04", 1],
  ]);
  assert.deepEqual(p.summary.clockChanges, [{ at: jump, offsetBeforeMs: 3_600_000, offsetAfterMs: 7_200_000, skippedWallTimes: [] }]);
  assert.deepEqual([p.summary.p95DurationMs, p.summary.predictedOverlaps, p.summary.truncated], [1_500_000, 2, true]);
  const old = schedulePreview(create(PreviewScheduleResponseSchema, { times: [timestampFromDate(AT)] }));
  assert.deepEqual([old.times, old.instants, old.summary.instantsPerMonth, old.summary.p95DurationMs], [[AT], [], {}, undefined]);
});

test("a rate limit is of a key or of a handler, never both", () => {
  const byKey = create(RateLimitSchema, rateLimitMessage({ key: "customer:{payload.id}", limit: 10, per: "1s", burst: 20 }));
  assert.deepEqual([byKey.scope, byKey.limit, byKey.per?.seconds, byKey.burst], [{ case: "key", value: "customer:{payload.id}" }, 10, 1n, 20]);
  const byHandler = create(RateLimitSchema, rateLimitMessage({ handlerName: "send_sms", limit: 100, per: 60_000 }));
  assert.deepEqual([byHandler.scope, byHandler.burst], [{ case: "handlerName", value: "send_sms" }, 0]);
  assert.deepEqual(create(DeleteRateLimitRequestSchema, deleteRateLimitRequest({ key: "k" })).scope, { case: "key", value: "k" });
  for (const bad of [{}, { key: "k", handlerName: "h" }]) {
    assert.throws(() => deleteRateLimitRequest(bad as never), /exactly one of key and handlerName/);
  }
  const stored = rateLimitInfo(create(RateLimitSchema, { ...byHandler, burst: 150, platformId: "p1", createdAt: timestampFromDate(AT) }));
  assert.deepEqual(stored, { key: "", handlerName: "send_sms", limit: 100, perMs: 60_000, burst: 150, platformId: "p1", createdAt: AT, updatedAt: undefined });
});
