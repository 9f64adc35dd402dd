package dev.cronstream;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One run of a job (or of an event handler), in Java types; {@link #proto()} is the generated
 * message. Instants and durations are {@code null} when not reached yet.
 *
 * @param error the last failure's message; empty when none
 * @param trigger why it exists ({@link ExecutionTrigger#BACKFILL} for a backfilled slot)
 * @param concurrencyKey the expanded concurrency key it counts against; empty for none
 * @param rateLimitKey the expanded rate-limit key it draws from; empty for none
 * @param waitingFor while {@link ExecutionStatus#WAITING}: the ids of the jobs whose slot has not
 *     succeeded yet
 * @param waitDeadline while waiting: when it stops waiting and is skipped as missed
 */
public record Execution(
    String id,
    String jobId,
    String handlerName,
    ExecutionStatus status,
    int attempt,
    Instant scheduledAt,
    Instant startedAt,
    Instant completedAt,
    Duration duration,
    Map<String, Object> result,
    String error,
    int retryCount,
    int maxRetries,
    Instant nextRetryAt,
    String workerId,
    ExecutionTrigger trigger,
    String concurrencyKey,
    String rateLimitKey,
    List<String> waitingFor,
    Instant waitDeadline,
    dev.cronstream.v1.Execution proto) {

  /** The result as a {@code type} (a record or bean), converted by Jackson. */
  public <T> T result(Class<T> type) {
    return Json.fromStruct(proto.getResult(), type);
  }

  @Override
  public String toString() {
    return "Execution[id=" + id + ", job=" + jobId + ", status=" + status + ", attempt=" + attempt
        + ", duration=" + duration + ", result=" + result + (error.isEmpty() ? "" : ", error=" + error) + "]";
  }
}
