// @cronstream/client: the TypeScript client and worker of Cronstream.
export { createClient, paginate } from "./client.js";
export type { Client, ClientOptions, ListAlertsFilter, ListExecutionsFilter, ListJobsFilter } from "./client.js";
export type { BulkOptions, ControlMethods } from "./controls.js";
export {
  backfillRequest,
  jobSelectorMessage,
  previewRequest,
  rateLimitInfo,
  rateLimitMessage,
  schedulePreview,
} from "./scheduling.js";
export type {
  BackfillResult,
  BackfillSpec,
  BulkChange,
  ClockChangeInfo,
  JobSelectorSpec,
  PreviewSpec,
  PreviewSummaryInfo,
  RateLimitInfo,
  RateLimitScope,
  RateLimitSpec,
  ScheduledInstantInfo,
  SchedulePreview,
} from "./scheduling.js";
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
  WebhookSignatureError,
  fieldViolations,
  isNonRetryable,
} from "./errors.js";
export type { FieldViolation, WebhookRefusal } from "./errors.js";
export { Worker } from "./worker.js";
export type { Handler, JobContext, LogLevelName, WorkerLogger, WorkerOptions } from "./worker.js";
export { Backoff } from "./backoff.js";
export { consoleLogger } from "./logger.js";
export { verifyWebhook, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TOLERANCE_SECONDS, webhookSignatureHeader } from "./webhook.js";
export type { WatchAlertsOptions } from "./watch.js";
export {
  alertEventInfo,
  alertInfo,
  durationMs,
  enumName,
  executionInfo,
  executionLogEntry,
  healthPolicyMessage,
  isFinalStatus,
  jobInfo,
  jobMessage,
  parseDuration,
} from "./convert.js";
export type {
  AlertEventInfo,
  AlertEventTypeName,
  AlertInfo,
  AlertStateName,
  ConcurrencyLimitInfo,
  DurationLike,
  ExecutionInfo,
  ExecutionLogEntry,
  ExecutionStatusName,
  ExecutionTriggerName,
  HandlerTypeName,
  HealthPolicyInfo,
  HealthPolicySpec,
  HealthStateName,
  JobHealthInfo,
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
export * from "./gen/cronstream/v1/alert_pb.js";
export * from "./gen/cronstream/v1/event_pb.js";
export * from "./gen/cronstream/v1/execution_pb.js";
export * from "./gen/cronstream/v1/insight_pb.js";
export * from "./gen/cronstream/v1/job_pb.js";
export * from "./gen/cronstream/v1/preview_pb.js";
export * from "./gen/cronstream/v1/rate_limit_pb.js";
export * from "./gen/cronstream/v1/scheduler_service_pb.js";
export * from "./gen/cronstream/v1/webhook_pb.js";
export * from "./gen/cronstream/v1/worker_service_pb.js";
