// Protobuf <-> plain TypeScript values, in one module: what the client's
// convenience methods take and return. Enums are their names ("ACTIVE"),
// timestamps Dates, durations milliseconds; the generated messages stay
// available through client.scheduler and the package's exports.
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";

import { AlertEventType, AlertSchema, AlertState, type Alert, type AlertEvent } from "./gen/cronstream/v1/alert_pb.js";
import { ExecutionStatus, ExecutionTrigger, LogLevel, type Execution, type ExecutionLog } from "./gen/cronstream/v1/execution_pb.js";
import {
  HandlerType,
  HealthState,
  JobStatus,
  JobType,
  MisfirePolicy,
  OverlapPolicy,
  Priority,
  type HealthPolicy,
  type HealthPolicySchema,
  type Job,
  type JobHealth,
  type JobSchema,
} from "./gen/cronstream/v1/job_pb.js";
import { toPayload } from "./payload.js";

export type JobStatusName = keyof typeof JobStatus;
export type JobTypeName = keyof typeof JobType;
export type HandlerTypeName = keyof typeof HandlerType;
export type PriorityName = keyof typeof Priority;
export type OverlapPolicyName = keyof typeof OverlapPolicy;
export type MisfirePolicyName = keyof typeof MisfirePolicy;
export type ExecutionStatusName = keyof typeof ExecutionStatus;
export type ExecutionTriggerName = keyof typeof ExecutionTrigger;
export type LogLevelKey = keyof typeof LogLevel;
export type HealthStateName = keyof typeof HealthState;
export type AlertStateName = keyof typeof AlertState;
export type AlertEventTypeName = keyof typeof AlertEventType;

/**
 * A span of time: milliseconds, or a string of numbers with units such as
 * "2s", "500ms", "1h30m" (units ms, s, m, h, d).
 */
export type DurationLike = number | string;

/** When a job runs: exactly one of a cron expression, an interval, a time or an event. */
export type TriggerSpec =
  | { cron: string; timezone?: string }
  | { every: DurationLike; startAt?: Date; endAt?: Date; maxRuns?: number }
  | { at: Date }
  | { event: string };

/** The trigger of a job as stored. */
export type TriggerInfo =
  | { cron: string; timezone: string }
  | { every: number; startAt?: Date; endAt?: Date; maxRuns?: number }
  | { at: Date | undefined }
  | { event: string };

interface JobFields {
  /** Required: names the job in lists and logs. */
  name: string;
  /** Required: the worker handler that runs it. */
  handlerName: string;
  /** Any JSON object; it goes through JSON.stringify (a Date becomes a string). */
  payload?: unknown;
  maxRetries?: number;
  /** The first retry's delay; it doubles with each retry. */
  retryDelay?: DurationLike;
  /** How long one attempt may run. */
  timeout?: DurationLike;
  priority?: PriorityName;
  tags?: string[];
  metadata?: Record<string, string>;
  overlapPolicy?: OverlapPolicyName;
  misfirePolicy?: MisfirePolicyName;
  catchupWindow?: DurationLike;
  jitter?: DurationLike;
  handlerType?: HandlerTypeName;
  /** When Cronstream opens an alert for the job; unset fields take the platform's defaults. */
  healthPolicy?: HealthPolicySpec;
  /** At most `limit` executions carrying `key` run at once, across the cluster; absent: no limit. */
  concurrency?: ConcurrencyLimitInfo;
  /** The rate limit its executions draw from, such as "customer:{payload.customer_id}"; it limits nothing until setRateLimit sets that key. */
  rateLimitKey?: string;
  /** Ids of jobs whose slot must have succeeded first (at most 16). */
  dependsOn?: string[];
  /** How long a slot waits for its dependencies before it is skipped as missed (server default 1 h). */
  maxWait?: DurationLike;
}

/**
 * A concurrency limit: at most `limit` executions with the (expanded) `key`
 * run at once, across every job and handler of the platform naming it. The
 * key is a fixed string or a template over the payload
 * ("customer:{payload.customer_id}" limits each customer separately).
 */
export interface ConcurrencyLimitInfo {
  key: string;
  limit: number;
}

/**
 * What healthy means for a job (docs/alerts.md). Each field left out takes
 * the platform's default.
 *
 *     { maxStartDelay: "30s", maxDuration: "10m", consecutiveFailures: 3, alertOnMissed: true, pauseOnFailure: true }
 */
export interface HealthPolicySpec {
  /** A firing not started this long after its instant makes the job LATE; 0: never (the default). */
  maxStartDelay?: DurationLike;
  /** An execution still running this long after it started makes the job OVERRUNNING; 0: never (the default). */
  maxDuration?: DurationLike;
  /** This many finished attempts in a row that failed or timed out make the job FAILING (1 to 100; default 3). */
  consecutiveFailures?: number;
  /** Whether a slot skipped by the misfire or overlap policy makes the job MISSED (default true). */
  alertOnMissed?: boolean;
  /** The job pauses itself when it becomes FAILING (default false). */
  pauseOnFailure?: boolean;
}

/** A job's health policy as stored: undefined where the job takes the platform's default. */
export interface HealthPolicyInfo {
  maxStartDelayMs: number | undefined;
  maxDurationMs: number | undefined;
  consecutiveFailures: number | undefined;
  alertOnMissed: boolean | undefined;
  pauseOnFailure: boolean | undefined;
}

/** How a job stands against its health policy. */
export interface JobHealthInfo {
  /** The worst of the job's open alerts (FAILING, OVERRUNNING, MISSED, LATE), or HEALTHY. */
  state: HealthStateName;
  /** The opening of that alert, or the resolution of the last one. */
  since: Date | undefined;
  /** Why, in words; empty when healthy. */
  reason: string;
}

/**
 * What client.createJob takes: the job's fields and one trigger.
 *
 *     { name: "report", handlerName: "send_report", cron: "30 2 * * *", timezone: "Europe/Berlin" }
 *     { name: "tick", handlerName: "tick", every: "2s" }
 *     { name: "once", handlerName: "remind", at: new Date(Date.now() + 2000) }
 */
export type JobSpec = JobFields & TriggerSpec;

/** A job as the server stores it. */
export interface JobInfo {
  id: string;
  name: string;
  handlerName: string;
  handlerType: HandlerTypeName;
  payload: JsonObject;
  status: JobStatusName;
  type: JobTypeName;
  trigger: TriggerInfo | undefined;
  nextRun: Date | undefined;
  lastRun: Date | undefined;
  maxRetries: number | undefined;
  retryDelayMs: number | undefined;
  timeoutMs: number | undefined;
  priority: PriorityName;
  tags: string[];
  metadata: Record<string, string>;
  overlapPolicy: OverlapPolicyName;
  misfirePolicy: MisfirePolicyName;
  executionsCount: number;
  successCount: number;
  failureCount: number;
  avgDurationMs: number | undefined;
  createdBy: string;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  completedAt: Date | undefined;
  cancelledAt: Date | undefined;
  platformId: string;
  catchupWindowMs: number | undefined;
  jitterMs: number | undefined;
  healthPolicy: HealthPolicyInfo | undefined;
  health: JobHealthInfo | undefined;
  /** When a job paused with pauseJob's `until` resumes by itself; undefined for one paused until resumeJob. */
  pausedUntil: Date | undefined;
  /** Undefined: no concurrency limit. */
  concurrency: ConcurrencyLimitInfo | undefined;
  /** Empty: none. */
  rateLimitKey: string;
  dependsOn: string[];
  /** Undefined: the server's default. */
  maxWaitMs: number | undefined;
}

/** An execution: one run of a job (or of an event handler). */
export interface ExecutionInfo {
  id: string;
  jobId: string;
  status: ExecutionStatusName;
  trigger: ExecutionTriggerName;
  handlerName: string;
  eventHandlerId: string;
  attempt: number;
  payload: JsonObject;
  result: JsonObject | undefined;
  error: string;
  errorStack: string;
  retryCount: number;
  maxRetries: number;
  workerId: string;
  scheduledAt: Date | undefined;
  startedAt: Date | undefined;
  completedAt: Date | undefined;
  nextRetryAt: Date | undefined;
  createdAt: Date | undefined;
  durationMs: number | undefined;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  /** The expanded concurrency key it counts against; empty for none. */
  concurrencyKey: string;
  /** The expanded rate-limit key it draws from; empty for none. */
  rateLimitKey: string;
  /** While WAITING: the ids of the jobs whose slot has not succeeded yet. */
  waitingFor: string[];
  /** While WAITING: when it stops waiting and is skipped as missed. */
  waitDeadline: Date | undefined;
}

/** An alert: a job's departure from its health policy, from when it was seen until the job was healthy again. */
export interface AlertInfo {
  id: string;
  platformId: string;
  jobId: string;
  /** The job's name when the alert opened. */
  jobName: string;
  handlerName: string;
  /** What is wrong: "LATE", "MISSED", "OVERRUNNING" or "FAILING". */
  kind: HealthStateName;
  state: AlertStateName;
  openedAt: Date | undefined;
  /** Undefined while open. */
  resolvedAt: Date | undefined;
  reason: string;
  /** The execution that caused it; empty when none did. */
  executionId: string;
  /** The slot concerned (LATE, MISSED), when one is. */
  scheduledAt: Date | undefined;
  /** True when the job paused itself (pauseOnFailure). */
  pausedJob: boolean;
}

/** An alert opened or resolved, from WatchAlerts or a webhook. */
export interface AlertEventInfo {
  /** Increases with every event of the platform: watchAlerts resumes after it, webhook receivers deduplicate on it. */
  cursor: number;
  type: AlertEventTypeName;
  /** The alert as it stood after the change. */
  alert: AlertInfo;
}

/** One line of an execution's log. */
export interface ExecutionLogEntry {
  executionId: string;
  attempt: number;
  time: Date | undefined;
  level: LogLevelKey;
  message: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of d: a number of milliseconds, or a string such as "2s", "1h30m", "250ms". */
export function parseDuration(d: DurationLike): number {
  if (typeof d === "number") {
    if (!Number.isFinite(d) || d < 0) {
      throw new RangeError(`cronstream: a duration must be a non-negative number of milliseconds, not ${d}`);
    }
    return d;
  }
  const text = String(d).trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  while ((m = part.exec(text)) !== null) {
    ms += Number(m[1]) * UNITS[m[2]!]!;
    if (part.lastIndex === text.length) {
      return ms;
    }
  }
  throw new TypeError(`cronstream: not a duration: ${JSON.stringify(d)} (say "2s", "500ms", "1h30m" or a number of milliseconds)`);
}

/** Milliseconds of a google.protobuf.Duration. */
export function durationMs(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

export function dateOf(t: Timestamp | undefined): Date | undefined {
  return t === undefined ? undefined : timestampDate(t);
}

export function durationOf(d: DurationLike | undefined): Duration | undefined {
  return d === undefined ? undefined : durationFromMs(parseDuration(d));
}

/** The name of enum value v ("ACTIVE" for JobStatus.ACTIVE); "UNSPECIFIED" for a value this client does not know. */
export function enumName<E extends Record<string, string | number>>(e: E, v: number): keyof E {
  const name = (e as Record<number, string>)[v];
  return (typeof name === "string" ? name : "UNSPECIFIED") as keyof E;
}

export function enumValue<E extends Record<string, string | number>>(e: E, what: string, name: string | undefined): number | undefined {
  if (name === undefined) {
    return undefined;
  }
  const v = e[name];
  if (typeof v !== "number") {
    const known = Object.keys(e).filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED");
    throw new TypeError(`cronstream: ${what} must be one of ${known.join(", ")}, not ${JSON.stringify(name)}`);
  }
  return v;
}

/** The Job message of spec, for CreateJob. */
export function jobMessage(spec: JobSpec): MessageInitShape<typeof JobSchema> {
  const s = spec as JobFields & Partial<{ cron: string; timezone: string; every: DurationLike; startAt: Date; endAt: Date; maxRuns: number; at: Date; event: string }>;
  return {
    name: s.name,
    handlerName: s.handlerName,
    payload: toPayload(s.payload),
    trigger: triggerMessage(s),
    maxRetries: s.maxRetries,
    retryDelay: durationOf(s.retryDelay),
    timeout: durationOf(s.timeout),
    priority: enumValue(Priority, "priority", s.priority),
    tags: s.tags,
    metadata: s.metadata,
    overlapPolicy: enumValue(OverlapPolicy, "overlapPolicy", s.overlapPolicy),
    misfirePolicy: enumValue(MisfirePolicy, "misfirePolicy", s.misfirePolicy),
    catchupWindow: durationOf(s.catchupWindow),
    jitter: durationOf(s.jitter),
    handlerType: enumValue(HandlerType, "handlerType", s.handlerType),
    healthPolicy: s.healthPolicy && healthPolicyMessage(s.healthPolicy),
    concurrency: s.concurrency && { key: s.concurrency.key, limit: s.concurrency.limit },
    rateLimitKey: s.rateLimitKey,
    dependsOn: s.dependsOn,
    maxWait: durationOf(s.maxWait),
  };
}

/** The HealthPolicy message of a spec; what it leaves out stays unset. */
export function healthPolicyMessage(p: HealthPolicySpec): MessageInitShape<typeof HealthPolicySchema> {
  return {
    maxStartDelay: durationOf(p.maxStartDelay),
    maxDuration: durationOf(p.maxDuration),
    consecutiveFailures: p.consecutiveFailures,
    alertOnMissed: p.alertOnMissed,
    pauseOnFailure: p.pauseOnFailure,
  };
}

/** The trigger of a spec holding exactly one of cron, every, at, event. */
export function triggerMessage(spec: object): MessageInitShape<typeof JobSchema>["trigger"] {
  const s = spec as Record<string, unknown>;
  const given = (["cron", "every", "at", "event"] as const).filter((k) => s[k] !== undefined);
  if (given.length !== 1) {
    throw new TypeError(`cronstream: a job needs exactly one of cron, every, at, event (given: ${given.join(", ") || "none"})`);
  }
  switch (given[0]) {
    case "cron":
      return { case: "cron", value: { expression: String(s.cron), timezone: (s.timezone as string | undefined) ?? "" } };
    case "every":
      return {
        case: "interval",
        value: {
          every: durationOf(s.every as DurationLike),
          startAt: s.startAt ? timestampFromDate(s.startAt as Date) : undefined,
          endAt: s.endAt ? timestampFromDate(s.endAt as Date) : undefined,
          maxRuns: (s.maxRuns as number | undefined) ?? 0,
        },
      };
    case "at":
      if (!(s.at instanceof Date) || Number.isNaN(s.at.getTime())) {
        throw new TypeError("cronstream: at must be a valid Date");
      }
      return { case: "once", value: { runAt: timestampFromDate(s.at) } };
    default:
      return { case: "event", value: { eventName: String(s.event) } };
  }
}

function triggerInfo(t: Job["trigger"]): TriggerInfo | undefined {
  switch (t.case) {
    case "cron":
      return { cron: t.value.expression, timezone: t.value.timezone };
    case "interval": {
      const info: TriggerInfo = { every: durationMs(t.value.every) ?? 0 };
      if (t.value.startAt) info.startAt = timestampDate(t.value.startAt);
      if (t.value.endAt) info.endAt = timestampDate(t.value.endAt);
      if (t.value.maxRuns) info.maxRuns = t.value.maxRuns;
      return info;
    }
    case "once":
      return { at: dateOf(t.value.runAt) };
    case "event":
      return { event: t.value.eventName };
    default:
      return undefined;
  }
}

/** The plain view of a Job message. */
export function jobInfo(j: Job): JobInfo {
  return {
    id: j.id,
    name: j.name,
    handlerName: j.handlerName,
    handlerType: enumName(HandlerType, j.handlerType),
    payload: j.payload ?? {},
    status: enumName(JobStatus, j.status),
    type: enumName(JobType, j.type),
    trigger: triggerInfo(j.trigger),
    nextRun: dateOf(j.nextRun),
    lastRun: dateOf(j.lastRun),
    maxRetries: j.maxRetries,
    retryDelayMs: durationMs(j.retryDelay),
    timeoutMs: durationMs(j.timeout),
    priority: enumName(Priority, j.priority),
    tags: [...j.tags],
    metadata: { ...j.metadata },
    overlapPolicy: enumName(OverlapPolicy, j.overlapPolicy),
    misfirePolicy: enumName(MisfirePolicy, j.misfirePolicy),
    executionsCount: Number(j.executionsCount),
    successCount: Number(j.successCount),
    failureCount: Number(j.failureCount),
    avgDurationMs: durationMs(j.avgDuration),
    createdBy: j.createdBy,
    createdAt: dateOf(j.createdAt),
    updatedAt: dateOf(j.updatedAt),
    completedAt: dateOf(j.completedAt),
    cancelledAt: dateOf(j.cancelledAt),
    platformId: j.platformId,
    catchupWindowMs: durationMs(j.catchupWindow),
    jitterMs: durationMs(j.jitter),
    healthPolicy: j.healthPolicy && healthPolicyInfo(j.healthPolicy),
    health: j.health && jobHealthInfo(j.health),
    pausedUntil: dateOf(j.pausedUntil),
    concurrency: j.concurrency && { key: j.concurrency.key, limit: j.concurrency.limit },
    rateLimitKey: j.rateLimitKey,
    dependsOn: [...j.dependsOn],
    maxWaitMs: durationMs(j.maxWait),
  };
}

function healthPolicyInfo(p: HealthPolicy): HealthPolicyInfo {
  return {
    maxStartDelayMs: durationMs(p.maxStartDelay),
    maxDurationMs: durationMs(p.maxDuration),
    consecutiveFailures: p.consecutiveFailures,
    alertOnMissed: p.alertOnMissed,
    pauseOnFailure: p.pauseOnFailure,
  };
}

function jobHealthInfo(h: JobHealth): JobHealthInfo {
  return { state: enumName(HealthState, h.state), since: dateOf(h.since), reason: h.reason };
}

/** The plain view of an Alert message. */
export function alertInfo(a: Alert): AlertInfo {
  return {
    id: a.id,
    platformId: a.platformId,
    jobId: a.jobId,
    jobName: a.jobName,
    handlerName: a.handlerName,
    kind: enumName(HealthState, a.kind),
    state: enumName(AlertState, a.state),
    openedAt: dateOf(a.openedAt),
    resolvedAt: dateOf(a.resolvedAt),
    reason: a.reason,
    executionId: a.executionId,
    scheduledAt: dateOf(a.scheduledAt),
    pausedJob: a.pausedJob,
  };
}

/** The plain view of an AlertEvent message. */
export function alertEventInfo(e: AlertEvent): AlertEventInfo {
  return { cursor: Number(e.cursor), type: enumName(AlertEventType, e.type), alert: alertInfo(e.alert ?? create(AlertSchema)) };
}

/** The plain view of an Execution message. */
export function executionInfo(e: Execution): ExecutionInfo {
  return {
    id: e.id,
    jobId: e.jobId,
    status: enumName(ExecutionStatus, e.status),
    trigger: enumName(ExecutionTrigger, e.trigger),
    handlerName: e.handlerName,
    eventHandlerId: e.eventHandlerId,
    attempt: e.attempt,
    payload: e.payload ?? {},
    result: e.result,
    error: e.error,
    errorStack: e.errorStack,
    retryCount: e.retryCount,
    maxRetries: e.maxRetries,
    workerId: e.workerId,
    scheduledAt: dateOf(e.scheduledAt),
    startedAt: dateOf(e.startedAt),
    completedAt: dateOf(e.completedAt),
    nextRetryAt: dateOf(e.nextRetryAt),
    createdAt: dateOf(e.createdAt),
    durationMs: durationMs(e.duration),
    traceId: e.traceId,
    spanId: e.spanId,
    parentSpanId: e.parentSpanId,
    concurrencyKey: e.concurrencyKey,
    rateLimitKey: e.rateLimitKey,
    waitingFor: [...e.waitingFor],
    waitDeadline: dateOf(e.waitDeadline),
  };
}

const FINAL_STATUSES: ReadonlySet<ExecutionStatusName> = new Set(["SUCCESS", "FAILED", "TIMEOUT", "CANCELLED", "SKIPPED"]);

/** Whether an execution in this status has ended: SUCCESS, FAILED, TIMEOUT, CANCELLED or SKIPPED (not PENDING, RUNNING or WAITING). */
export function isFinalStatus(status: ExecutionStatusName): boolean {
  return FINAL_STATUSES.has(status);
}

/** The plain view of an ExecutionLog message. */
export function executionLogEntry(l: ExecutionLog): ExecutionLogEntry {
  return { executionId: l.executionId, attempt: l.attempt, time: dateOf(l.time), level: enumName(LogLevel, l.level), message: l.message };
}

/** Enum values of names, for list filters. */
export function enumValues<E extends Record<string, string | number>>(e: E, what: string, names: (keyof E & string)[] | undefined): number[] | undefined {
  return names?.map((n) => enumValue(e, what, n)!);
}
