package dev.cronstream;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A job as the server holds it, in Java types: instants and durations are {@code java.time}
 * values ({@code null} when the server sent none), the status, type, priority and policies enums.
 * {@link #proto()} is the generated message, for any field not here.
 *
 * @param maxRetries {@code null} when the job uses the server's default
 * @param catchupWindow how far back {@link MisfirePolicy#RUN_ALL} still runs missed slots
 * @param jitter the upper bound of the delay added to each slot; zero for none
 * @param healthPolicy the policy as set: {@code null} components take the platform's defaults
 * @param health how the job stands against it; {@code null} when the server sent none
 * @param pausedUntil when a job paused with an {@code until} resumes by itself; {@code null} for
 *     one paused until {@code resumeJob} (and for an active job)
 * @param concurrency {@code null}: no concurrency limit
 * @param rateLimitKey the rate limit its executions draw from; empty for none
 * @param dependsOn ids of the jobs whose slot must have succeeded first
 * @param maxWait how long a slot waits for its dependencies; {@code null}: the server's default
 */
public record Job(
    String id,
    String name,
    String handlerName,
    JobStatus status,
    JobType type,
    Map<String, Object> payload,
    Instant nextRun,
    Instant lastRun,
    Integer maxRetries,
    Duration retryDelay,
    Duration timeout,
    Priority priority,
    List<String> tags,
    Map<String, String> metadata,
    OverlapPolicy overlapPolicy,
    MisfirePolicy misfirePolicy,
    Duration catchupWindow,
    Duration jitter,
    long executionsCount,
    long successCount,
    long failureCount,
    Duration avgDuration,
    Instant createdAt,
    Instant updatedAt,
    HealthPolicy healthPolicy,
    JobHealth health,
    Instant pausedUntil,
    ConcurrencyLimit concurrency,
    String rateLimitKey,
    List<String> dependsOn,
    Duration maxWait,
    dev.cronstream.v1.Job proto) {

  /** The payload as a {@code type} (a record or bean), converted by Jackson. */
  public <T> T payload(Class<T> type) {
    return Json.fromStruct(proto.getPayload(), type);
  }

  @Override
  public String toString() {
    return "Job[id=" + id + ", name=" + name + ", handler=" + handlerName + ", status=" + status
        + ", type=" + type + ", nextRun=" + nextRun + ", lastRun=" + lastRun + ", retryDelay=" + retryDelay
        + ", timeout=" + timeout + ", priority=" + priority + ", overlapPolicy=" + overlapPolicy
        + ", misfirePolicy=" + misfirePolicy + ", executions=" + executionsCount
        + (health == null ? "" : ", health=" + health.state()) + "]";
  }
}
