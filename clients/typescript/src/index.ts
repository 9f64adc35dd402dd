// @cronstream/client: the TypeScript client and worker of Cronstream.
export { createClient, paginate } from "./client.js";
export type { Client, ClientOptions, ListExecutionsFilter, ListJobsFilter } from "./client.js";
export {
  BadRequestSchema,
  CronstreamError,
  ExecutionCancelledError,
  FailedPreconditionError,
  GracePeriodExceededError,
  InvalidArgumentError,
  NonRetryableError,
  NotFoundError,
  UnauthenticatedError,
  fieldViolations,
  isNonRetryable,
} from "./errors.js";
export type { FieldViolation } from "./errors.js";
export { Worker } from "./worker.js";
export type { Handler, JobContext, LogLevelName, WorkerLogger, WorkerOptions } from "./worker.js";
export { Backoff } from "./backoff.js";
export { consoleLogger } from "./logger.js";
export { durationMs, enumName, executionInfo, executionLogEntry, jobInfo, jobMessage, parseDuration } from "./convert.js";
export type {
  DurationLike,
  ExecutionInfo,
  ExecutionLogEntry,
  ExecutionStatusName,
  ExecutionTriggerName,
  HandlerTypeName,
  JobInfo,
  JobSpec,
  JobStatusName,
  JobTypeName,
  LogLevelKey,
  MisfirePolicyName,
  OverlapPolicyName,
  PriorityName,
  TriggerInfo,
  TriggerSpec,
} from "./convert.js";
export { fromPayload, toPayload } from "./payload.js";
export { VERSION } from "./version.js";

// The generated messages, enums and service descriptors.
export * from "./gen/cronstream/v1/admin_service_pb.js";
export * from "./gen/cronstream/v1/event_pb.js";
export * from "./gen/cronstream/v1/execution_pb.js";
export * from "./gen/cronstream/v1/insight_pb.js";
export * from "./gen/cronstream/v1/job_pb.js";
export * from "./gen/cronstream/v1/scheduler_service_pb.js";
export * from "./gen/cronstream/v1/worker_service_pb.js";
