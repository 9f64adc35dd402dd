// The scheduling controls' values <-> protobuf, in one module: bulk pause
// selectors, backfills, schedule previews with their clock marks, and rate
// limits. As in convert.ts: enums are names, timestamps Dates, durations
// milliseconds.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";

import { dateOf, durationMs, durationOf, enumValue, triggerMessage, type DurationLike, type TriggerSpec } from "./convert.js";
import { OverlapPolicy } from "./gen/cronstream/v1/job_pb.js";
import type { ClockChange, PreviewSummary, ScheduledInstant } from "./gen/cronstream/v1/preview_pb.js";
import type { RateLimit, RateLimitSchema } from "./gen/cronstream/v1/rate_limit_pb.js";
import type {
  BackfillJobRequestSchema,
  BackfillJobResponse,
  DeleteRateLimitRequestSchema,
  JobSelectorSchema,
  PreviewScheduleRequestSchema,
  PreviewScheduleResponse,
} from "./gen/cronstream/v1/scheduler_service_pb.js";

/**
 * Which of the platform's jobs a bulk call acts on. The filters combine
 * with AND; the server refuses an empty selector unless `all` is true, so a
 * forgotten filter never pauses the whole platform.
 */
export interface JobSelectorSpec {
  /** Jobs carrying all of these tags. */
  tags?: string[];
  handlerName?: string;
  /** Jobs whose name starts with this (case-sensitive). */
  namePrefix?: string;
  /** Every job of the platform (the other filters must be empty). */
  all?: boolean;
}

/** What one pauseJobs or resumeJobs call did: `changed` jobs, and `remaining` matching ones left for the next call. */
export interface BulkChange {
  changed: number;
  remaining: number;
}

/** A backfill's range, [start, end), and how its executions run beside each other. */
export interface BackfillSpec {
  start: Date;
  /** Excluded; not in the future. */
  end: Date;
  /** "ALLOW" (several at once) or "BUFFER_ONE" (one at a time, oldest first); absent: the server's choice from the job's policy. */
  overlapPolicy?: "ALLOW" | "BUFFER_ONE";
}

/** What a backfill did: the schedule's `instants` in the range, the executions it `created`, and the instants that already had one. */
export interface BackfillResult {
  instants: number;
  created: number;
  existing: number;
}

/** Which instants previewSchedule returns. */
export interface PreviewSpec {
  /** The trigger to preview, as createJob takes it ({ cron, timezone }, { every }...); or jobId. */
  trigger?: TriggerSpec;
  /** An existing job instead of a trigger; its history then predicts overlaps. */
  jobId?: string;
  /** Instants strictly after this; default now. */
  after?: Date;
  /** Instants strictly before this; absent: count alone bounds them. */
  before?: Date;
  /** At most this many, 1 to 1000; default 10, or 1000 with `before`. */
  count?: number;
}

/** One instant a schedule fires, and what the zone's clock does to it. */
export interface ScheduledInstantInfo {
  time: Date | undefined;
  /** The wall-clock time in the trigger's zone, ISO 8601 with its offset ("2026-03-29T03:00:00+02:00"): a Date cannot hold the offset. */
  localTime: string;
  /** The zone's offset from UTC then, in milliseconds. */
  utcOffsetMs: number;
  /** A fixed wall time a jump forward skipped, fired at the first instant after the jump (Debian cron's rule). */
  shifted: boolean;
  /** When shifted: the wall time the schedule named, such as "02:30". */
  scheduledWallTime: string;
  /** A wildcard-hour schedule in an hour the clock repeats: this wall time comes twice and fires both times. */
  repeatedHour: boolean;
}

/** A change of the zone's UTC offset within the previewed range. */
export interface ClockChangeInfo {
  at: Date | undefined;
  offsetBeforeMs: number;
  offsetAfterMs: number;
  /** Wall times ("2026-03-29T02:30") the schedule names near the change that do not fire. */
  skippedWallTimes: string[];
}

/** The previewed range as a whole. */
export interface PreviewSummaryInfo {
  /** Instants per calendar month of the zone, "YYYY-MM" to count, in order. */
  instantsPerMonth: Record<string, number>;
  clockChanges: ClockChangeInfo[];
  /** For an existing job with successful executions: the 95th percentile of their durations. */
  p95DurationMs: number | undefined;
  /** With p95DurationMs: instants that come sooner after the one before than it. */
  predictedOverlaps: number;
  /** The preview stopped at its count before `before`. */
  truncated: boolean;
}

/** The instants a trigger fires, in increasing order, with their marks, and a summary. */
export interface SchedulePreview {
  times: Date[];
  instants: ScheduledInstantInfo[];
  summary: PreviewSummaryInfo;
}

/** What a rate limit limits: every execution naming `key` as its rateLimitKey, or every execution of `handlerName`. */
export type RateLimitScope = { key: string; handlerName?: never } | { handlerName: string; key?: never };

/** A rate limit to set: at most `limit` executions start per `per`, `burst` at once after a quiet spell (default `limit`). */
export type RateLimitSpec = RateLimitScope & { limit: number; per: DurationLike; burst?: number };

/** A rate limit as stored: exactly one of key and handlerName is not empty. */
export interface RateLimitInfo {
  key: string;
  handlerName: string;
  limit: number;
  perMs: number | undefined;
  burst: number;
  platformId: string;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
}

/** The JobSelector message of a spec. */
export function jobSelectorMessage(s: JobSelectorSpec): MessageInitShape<typeof JobSelectorSchema> {
  return { tags: s.tags ?? [], handlerName: s.handlerName ?? "", namePrefix: s.namePrefix ?? "", all: s.all ?? false };
}

/** The BackfillJob request of a job id and a spec. */
export function backfillRequest(id: string, s: BackfillSpec): MessageInitShape<typeof BackfillJobRequestSchema> {
  return {
    id,
    startTime: timestampFromDate(s.start),
    endTime: timestampFromDate(s.end),
    overlapPolicy: enumValue(OverlapPolicy, "overlapPolicy", s.overlapPolicy),
  };
}

export function backfillResult(r: BackfillJobResponse): BackfillResult {
  return { instants: r.instants, created: r.created, existing: r.existing };
}

/** The PreviewSchedule request of a spec: its trigger, or its job id (the server refuses both). */
export function previewRequest(s: PreviewSpec): MessageInitShape<typeof PreviewScheduleRequestSchema> {
  return {
    job: s.trigger && { trigger: triggerMessage(s.trigger) },
    jobId: s.jobId ?? "",
    startTime: s.after && timestampFromDate(s.after),
    endTime: s.before && timestampFromDate(s.before),
    count: s.count ?? 0,
  };
}

/** The plain view of a PreviewSchedule response. */
export function schedulePreview(r: PreviewScheduleResponse): SchedulePreview {
  return {
    times: r.times.map((t) => timestampDate(t)),
    instants: r.instants.map(scheduledInstantInfo),
    summary: previewSummaryInfo(r.summary),
  };
}

function scheduledInstantInfo(i: ScheduledInstant): ScheduledInstantInfo {
  return {
    time: dateOf(i.time),
    localTime: i.localTime,
    utcOffsetMs: i.utcOffsetSeconds * 1000,
    shifted: i.shifted,
    scheduledWallTime: i.scheduledWallTime,
    repeatedHour: i.repeatedHour,
  };
}

function previewSummaryInfo(s: PreviewSummary | undefined): PreviewSummaryInfo {
  return {
    instantsPerMonth: Object.fromEntries((s?.instantsPerMonth ?? []).map((c) => [c.month, c.count])),
    clockChanges: (s?.clockChanges ?? []).map(clockChangeInfo),
    p95DurationMs: durationMs(s?.p95Duration),
    predictedOverlaps: s?.predictedOverlaps ?? 0,
    truncated: s?.truncated ?? false,
  };
}

function clockChangeInfo(c: ClockChange): ClockChangeInfo {
  return {
    at: dateOf(c.at),
    offsetBeforeMs: c.offsetBeforeSeconds * 1000,
    offsetAfterMs: c.offsetAfterSeconds * 1000,
    skippedWallTimes: [...c.skippedWallTimes],
  };
}

/** The oneof scope of a rate limit: exactly one of key and handlerName, checked before any call. */
export function rateLimitScope(s: RateLimitScope): { case: "key"; value: string } | { case: "handlerName"; value: string } {
  const hasKey = s.key !== undefined;
  if (hasKey === (s.handlerName !== undefined)) {
    throw new TypeError("cronstream: a rate limit needs exactly one of key and handlerName");
  }
  return hasKey ? { case: "key", value: s.key! } : { case: "handlerName", value: s.handlerName! };
}

/** The RateLimit message of a spec. */
export function rateLimitMessage(s: RateLimitSpec): MessageInitShape<typeof RateLimitSchema> {
  return { scope: rateLimitScope(s), limit: s.limit, per: durationOf(s.per), burst: s.burst ?? 0 };
}

/** The DeleteRateLimit request of a scope. */
export function deleteRateLimitRequest(s: RateLimitScope): MessageInitShape<typeof DeleteRateLimitRequestSchema> {
  return { scope: rateLimitScope(s) };
}

/** The plain view of a RateLimit message. */
export function rateLimitInfo(r: RateLimit): RateLimitInfo {
  return {
    key: r.scope.case === "key" ? r.scope.value : "",
    handlerName: r.scope.case === "handlerName" ? r.scope.value : "",
    limit: r.limit,
    perMs: durationMs(r.per),
    burst: r.burst,
    platformId: r.platformId,
    createdAt: dateOf(r.createdAt),
    updatedAt: dateOf(r.updatedAt),
  };
}
