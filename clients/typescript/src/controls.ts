// The client's scheduling-control methods: pause until, bulk pause and
// resume, backfill, the schedule preview and rate limits. makeClient mixes
// them in; they only call the generated SchedulerService client.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CallOptions, Client as ServiceClient } from "@connectrpc/connect";

import { jobInfo, type JobInfo } from "./convert.js";
import type { SchedulerService } from "./gen/cronstream/v1/scheduler_service_pb.js";
import {
  backfillRequest,
  backfillResult,
  deleteRateLimitRequest,
  jobSelectorMessage,
  previewRequest,
  rateLimitInfo,
  rateLimitMessage,
  schedulePreview,
  type BackfillResult,
  type BackfillSpec,
  type BulkChange,
  type JobSelectorSpec,
  type PreviewSpec,
  type RateLimitInfo,
  type RateLimitScope,
  type RateLimitSpec,
  type SchedulePreview,
} from "./scheduling.js";

/** Options of a bulk call: at most `limit` jobs change per call (default 1,000, at most 10,000). */
export type BulkOptions = CallOptions & { limit?: number };

/** The scheduling controls of a Client. */
export interface ControlMethods {
  /**
   * Stops a job firing until resumeJob, or until `options.until`, when it
   * resumes by itself (JobInfo.pausedUntil). Pausing a paused job sets its
   * until anew.
   */
  pauseJob(id: string, options?: CallOptions & { until?: Date }): Promise<JobInfo>;
  /** Fires a paused job again from its first slot after now. */
  resumeJob(id: string, options?: CallOptions): Promise<JobInfo>;
  /**
   * Pauses at most options.limit of the platform's active jobs matching
   * selector, each as pauseJob would; call again while `remaining` is not
   * zero, or use pauseMatchingJobs.
   *
   *     await client.pauseJobs({ tags: ["etl"] }, { until: monday, limit: 500 }); // { changed: 500, remaining: 120 }
   */
  pauseJobs(selector: JobSelectorSpec, options?: BulkOptions & { until?: Date }): Promise<BulkChange>;
  /** Resumes at most options.limit of the platform's paused jobs matching selector. */
  resumeJobs(selector: JobSelectorSpec, options?: BulkOptions): Promise<BulkChange>;
  /**
   * pauseJobs again and again until no matching active job remains: the
   * jobs paused in all, and what remains (0, unless a call paused none:
   * then it stops rather than spin).
   */
  pauseMatchingJobs(selector: JobSelectorSpec, options?: BulkOptions & { until?: Date }): Promise<BulkChange>;
  /** resumeJobs until no matching paused job remains; as pauseMatchingJobs. */
  resumeMatchingJobs(selector: JobSelectorSpec, options?: BulkOptions): Promise<BulkChange>;
  /**
   * Creates an execution (trigger "BACKFILL") for every instant of the
   * job's schedule in [start, end), as the ticker fires them; an instant
   * that already has one gets none, so the same backfill twice creates
   * nothing.
   *
   *     await client.backfillJob(job.id, { start: lastWeek, end: today }); // { instants: 168, created: 168, existing: 0 }
   */
  backfillJob(id: string, spec: BackfillSpec, options?: CallOptions): Promise<BackfillResult>;
  /**
   * The instants of a trigger (or of an existing job), exactly as the
   * engine fires them, each with its wall-clock time and DST marks, and a
   * summary of the range.
   *
   *     const p = await client.previewSchedule({ trigger: { cron: "30 2 * * *", timezone: "Europe/Berlin" }, after, before });
   *     p.instants.filter((i) => i.shifted); // 02:30 on a spring-forward day fires at the jump
   */
  previewSchedule(spec: PreviewSpec, options?: CallOptions): Promise<SchedulePreview>;
  /**
   * Creates or replaces the platform's rate limit of a key ({ key }) or of
   * a handler ({ handlerName }), and returns it as stored.
   *
   *     await client.setRateLimit({ key: "crm-api", limit: 10, per: "1s", burst: 20 });
   */
  setRateLimit(spec: RateLimitSpec, options?: CallOptions): Promise<RateLimitInfo>;
  /** Every rate limit of the platform, by scope then key. */
  listRateLimits(options?: CallOptions): Promise<RateLimitInfo[]>;
  /** Deletes the rate limit of a key or a handler; executions waiting on it start. */
  deleteRateLimit(scope: RateLimitScope, options?: CallOptions): Promise<void>;
}

/** The methods of ControlMethods over a generated SchedulerService client. */
export function controlMethods(scheduler: ServiceClient<typeof SchedulerService>): ControlMethods {
  const methods: ControlMethods = {
    async pauseJob(id, options) {
      const { until, ...callOptions } = options ?? {};
      const res = await scheduler.pauseJob({ id, until: until && timestampFromDate(until) }, callOptions);
      return jobInfo(res.job!);
    },
    async resumeJob(id, options) {
      return jobInfo((await scheduler.resumeJob({ id }, options)).job!);
    },
    async pauseJobs(selector, options) {
      const { until, limit, ...callOptions } = options ?? {};
      const request = { selector: jobSelectorMessage(selector), until: until && timestampFromDate(until), limit: limit ?? 0 };
      const res = await scheduler.pauseJobs(request, callOptions);
      return { changed: res.changed, remaining: res.remaining };
    },
    async resumeJobs(selector, options) {
      const { limit, ...callOptions } = options ?? {};
      const res = await scheduler.resumeJobs({ selector: jobSelectorMessage(selector), limit: limit ?? 0 }, callOptions);
      return { changed: res.changed, remaining: res.remaining };
    },
    pauseMatchingJobs(selector, options) {
      return untilNoneRemain(() => methods.pauseJobs(selector, options));
    },
    resumeMatchingJobs(selector, options) {
      return untilNoneRemain(() => methods.resumeJobs(selector, options));
    },
    async backfillJob(id, spec, options) {
      return backfillResult(await scheduler.backfillJob(backfillRequest(id, spec), options));
    },
    async previewSchedule(spec, options) {
      return schedulePreview(await scheduler.previewSchedule(previewRequest(spec), options));
    },
    async setRateLimit(spec, options) {
      const res = await scheduler.setRateLimit({ rateLimit: rateLimitMessage(spec) }, options);
      return rateLimitInfo(res.rateLimit!);
    },
    async listRateLimits(options) {
      return (await scheduler.listRateLimits({}, options)).rateLimits.map(rateLimitInfo);
    },
    async deleteRateLimit(scope, options) {
      await scheduler.deleteRateLimit(deleteRateLimitRequest(scope), options);
    },
  };
  return methods;
}

/** Calls `call` until nothing remains, or a call changes nothing (no progress: stop rather than spin). */
export async function untilNoneRemain(call: () => Promise<BulkChange>): Promise<BulkChange> {
  let changed = 0;
  for (;;) {
    const step = await call();
    changed += step.changed;
    if (step.remaining === 0 || step.changed === 0) {
      return { changed, remaining: step.remaining };
    }
  }
}
