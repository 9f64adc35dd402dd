import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";

import { alertEventInfo, alertInfo, executionInfo, executionLogEntry, jobInfo, jobMessage, parseDuration } from "../../src/convert.js";
import { AlertEventSchema, AlertEventType, AlertSchema, AlertState } from "../../src/gen/cronstream/v1/alert_pb.js";
import { ExecutionLogSchema, ExecutionSchema, ExecutionStatus, LogLevel } from "../../src/gen/cronstream/v1/execution_pb.js";
import { HealthState, JobSchema, JobStatus, JobType, OverlapPolicy, Priority } from "../../src/gen/cronstream/v1/job_pb.js";

/** spec as the server would receive it: through the wire format. */
function onTheWire(spec: Parameters<typeof jobMessage>[0]) {
  return fromBinary(JobSchema, toBinary(JobSchema, create(JobSchema, jobMessage(spec))));
}

test("durations: milliseconds or strings with units", () => {
  assert.equal(parseDuration(1500), 1500);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("1d"), 86_400_000);
  for (const bad of ["", "2", "2 s", "s", "2sec", "-1s"]) {
    assert.throws(() => parseDuration(bad), TypeError, bad);
  }
  assert.throws(() => parseDuration(-1), RangeError);
  assert.throws(() => parseDuration(NaN), RangeError);
});

test("a cron spec becomes a cron trigger, with names for enums and durations", () => {
  const j = onTheWire({
    name: "report",
    handlerName: "send_report",
    cron: "30 2 * * *",
    timezone: "Europe/Berlin",
    payload: { to: "ops@example.com", when: new Date(0) },
    retryDelay: "30s",
    timeout: 60_000,
    priority: "HIGH",
    overlapPolicy: "SKIP",
    maxRetries: 3,
  });
  assert.equal(j.trigger.case, "cron");
  assert.deepEqual(j.trigger.value && { e: j.trigger.value.expression, tz: j.trigger.value.timezone }, { e: "30 2 * * *", tz: "Europe/Berlin" });
  assert.deepEqual(j.payload, { to: "ops@example.com", when: "1970-01-01T00:00:00.000Z" });
  assert.equal(j.retryDelay?.seconds, 30n);
  assert.equal(j.timeout?.seconds, 60n);
  assert.equal(j.priority, Priority.HIGH);
  assert.equal(j.overlapPolicy, OverlapPolicy.SKIP);
  assert.equal(j.maxRetries, 3);
});

test("every and at become interval and once triggers", () => {
  const every = onTheWire({ name: "tick", handlerName: "tick", every: "2s" });
  assert.ok(every.trigger.case === "interval");
  assert.equal(every.trigger.value.every?.seconds, 2n);
  const ms = onTheWire({ name: "tick", handlerName: "tick", every: 1500 });
  assert.ok(ms.trigger.case === "interval");
  assert.deepEqual([ms.trigger.value.every?.seconds, ms.trigger.value.every?.nanos], [1n, 500_000_000]);
  const at = new Date("2027-01-02T03:04:05.678Z");
  const once = onTheWire({ name: "once", handlerName: "remind", at });
  assert.ok(once.trigger.case === "once");
  assert.deepEqual(jobInfo(once).trigger, { at });
  const event = onTheWire({ name: "ev", handlerName: "h", event: "user.signed_up" });
  assert.deepEqual(jobInfo(event).trigger, { event: "user.signed_up" });
});

test("a spec needs exactly one trigger and known enum names", () => {
  assert.throws(() => jobMessage({ name: "n", handlerName: "h" } as never), /exactly one of cron, every, at, event \(given: none\)/);
  assert.throws(() => jobMessage({ name: "n", handlerName: "h", cron: "* * * * *", every: "1s" } as never), /given: cron, every/);
  assert.throws(() => jobMessage({ name: "n", handlerName: "h", at: new Date(NaN) }), /valid Date/);
  assert.throws(() => jobMessage({ name: "n", handlerName: "h", every: "1s", priority: "URGENT" as never }), /priority must be one of LOW, MEDIUM, HIGH, CRITICAL/);
});

test("a stored job reads as names, Dates, milliseconds and numbers", () => {
  const next = new Date("2026-12-06T02:30:00Z");
  const job = create(JobSchema, {
    id: "j1",
    name: "report",
    handlerName: "send_report",
    status: JobStatus.ACTIVE,
    type: JobType.CRON,
    nextRun: timestampFromDate(next),
    avgDuration: durationFromMs(1234),
    successCount: 7n,
    trigger: { case: "cron", value: { expression: "30 2 * * *", timezone: "Europe/Berlin" } },
  });
  const info = jobInfo(fromBinary(JobSchema, toBinary(JobSchema, job)));
  assert.equal(info.status, "ACTIVE");
  assert.equal(info.type, "CRON");
  assert.equal(info.priority, "UNSPECIFIED");
  assert.ok(info.nextRun instanceof Date);
  assert.equal(info.nextRun.getTime(), next.getTime());
  assert.equal(info.avgDurationMs, 1234);
  assert.equal(info.successCount, 7);
  assert.equal(info.lastRun, undefined);
  assert.deepEqual(info.payload, {});
  assert.deepEqual(info.trigger, { cron: "30 2 * * *", timezone: "Europe/Berlin" });
  assert.equal(jobInfo(create(JobSchema, { status: 99 as JobStatus })).status, "UNSPECIFIED"); // a newer server's value
});

test("an execution and a log line read as names, Dates and milliseconds", () => {
  const started = new Date("2026-12-06T02:30:00.250Z");
  const e = executionInfo(
    create(ExecutionSchema, {
      id: "e1",
      status: ExecutionStatus.SUCCESS,
      startedAt: timestampFromDate(started),
      duration: durationFromMs(42),
      result: { ok: true },
      attempt: 2,
    }),
  );
  assert.deepEqual([e.status, e.trigger, e.startedAt, e.durationMs, e.result, e.attempt], ["SUCCESS", "UNSPECIFIED", started, 42, { ok: true }, 2]);
  const l = executionLogEntry(create(ExecutionLogSchema, { executionId: "e1", level: LogLevel.WARN, message: "m", time: timestampFromDate(started) }));
  assert.deepEqual(l, { executionId: "e1", attempt: 0, time: started, level: "WARN", message: "m" });
});

test("a health policy goes on the wire with DurationLikes; what it leaves out stays unset", () => {
  const j = onTheWire({
    name: "report",
    handlerName: "send_report",
    every: "1h",
    healthPolicy: { maxStartDelay: "30s", maxDuration: "10m", consecutiveFailures: 3, alertOnMissed: false, pauseOnFailure: true },
  });
  const p = j.healthPolicy!;
  assert.deepEqual([p.maxStartDelay?.seconds, p.maxDuration?.seconds], [30n, 600n]);
  assert.deepEqual([p.consecutiveFailures, p.alertOnMissed, p.pauseOnFailure], [3, false, true]);

  const partial = onTheWire({ name: "n", handlerName: "h", every: "1h", healthPolicy: { maxStartDelay: 1500 } }).healthPolicy!;
  assert.deepEqual([partial.maxStartDelay?.seconds, partial.maxStartDelay?.nanos], [1n, 500_000_000]);
  assert.deepEqual([partial.maxDuration, partial.consecutiveFailures, partial.alertOnMissed, partial.pauseOnFailure], [undefined, undefined, undefined, undefined]);
  assert.equal(onTheWire({ name: "n", handlerName: "h", every: "1h" }).healthPolicy, undefined);
  assert.throws(() => jobMessage({ name: "n", handlerName: "h", every: "1h", healthPolicy: { maxDuration: "soon" } }), /not a duration/);
});

test("a stored job shows its health and its policy", () => {
  const since = new Date("2026-12-06T09:40:52.500Z");
  const job = create(JobSchema, {
    id: "j1",
    healthPolicy: { maxStartDelay: durationFromMs(30_000), consecutiveFailures: 1, pauseOnFailure: true },
    health: { state: HealthState.LATE, since: timestampFromDate(since), reason: "not started 30 s after 09:40:22" },
  });
  const info = jobInfo(fromBinary(JobSchema, toBinary(JobSchema, job)));
  assert.deepEqual(info.health, { state: "LATE", since, reason: "not started 30 s after 09:40:22" });
  assert.deepEqual(info.healthPolicy, {
    maxStartDelayMs: 30_000,
    maxDurationMs: undefined,
    consecutiveFailures: 1,
    alertOnMissed: undefined, // the platform's default
    pauseOnFailure: true,
  });
  assert.equal(jobInfo(create(JobSchema, { health: { state: HealthState.HEALTHY } })).health?.state, "HEALTHY");
  assert.equal(jobInfo(create(JobSchema, {})).health, undefined);
});

test("alerts and alert events read as names and Dates", () => {
  const opened = new Date("2026-12-06T09:00:00Z");
  const slot = new Date("2026-12-06T08:59:30Z");
  const alert = create(AlertSchema, {
    id: "a1",
    jobId: "j1",
    jobName: "nightly",
    kind: HealthState.MISSED,
    state: AlertState.RESOLVED,
    openedAt: timestampFromDate(opened),
    resolvedAt: timestampFromDate(new Date(opened.getTime() + 60_000)),
    scheduledAt: timestampFromDate(slot),
    reason: "skipped by the overlap policy",
  });
  const info = alertInfo(fromBinary(AlertSchema, toBinary(AlertSchema, alert)));
  assert.deepEqual([info.kind, info.state, info.openedAt, info.scheduledAt], ["MISSED", "RESOLVED", opened, slot]);
  assert.equal(info.resolvedAt?.getTime(), opened.getTime() + 60_000);
  for (const [value, name] of [
    [HealthState.LATE, "LATE"],
    [HealthState.OVERRUNNING, "OVERRUNNING"],
    [HealthState.FAILING, "FAILING"],
    [99, "UNSPECIFIED"], // a newer server's kind
  ] as const) {
    assert.equal(alertInfo(create(AlertSchema, { kind: value as HealthState })).kind, name);
  }
  const event = alertEventInfo(create(AlertEventSchema, { cursor: 9_007_199_254_740_991n, type: AlertEventType.OPENED, alert }));
  assert.deepEqual([event.cursor, event.type, event.alert.id], [Number.MAX_SAFE_INTEGER, "OPENED", "a1"]);
  assert.equal(alertEventInfo(create(AlertEventSchema, { cursor: 1n })).alert.state, "UNSPECIFIED");
});
