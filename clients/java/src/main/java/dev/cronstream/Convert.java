package dev.cronstream;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.ExecutionLog;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Protobuf to Java and back, in one place: the client's results ({@link Job}, {@link
 * Execution}, {@link LogLine}, {@link Alert}, {@link AlertEvent}) are made here from the generated messages, which they keep as
 * {@code proto()}.
 */
final class Convert {
  private Convert() {}

  /** The instant of a Timestamp; {@code null} for {@code null}. */
  static Instant instant(Timestamp t) {
    return t == null ? null : Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
  }

  static Timestamp timestamp(Instant i) {
    return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
  }

  /** The Duration of a protobuf Duration; {@code null} for {@code null}. */
  static Duration duration(com.google.protobuf.Duration d) {
    return d == null ? null : Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  static com.google.protobuf.Duration duration(Duration d) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
  }

  static Job job(dev.cronstream.v1.Job j) {
    return new Job(
        j.getId(),
        j.getName(),
        j.getHandlerName(),
        JobStatus.of(j.getStatus()),
        JobType.of(j.getType()),
        Payloads.toMap(j.getPayload()),
        j.hasNextRun() ? instant(j.getNextRun()) : null,
        j.hasLastRun() ? instant(j.getLastRun()) : null,
        j.hasMaxRetries() ? j.getMaxRetries() : null,
        j.hasRetryDelay() ? duration(j.getRetryDelay()) : null,
        j.hasTimeout() ? duration(j.getTimeout()) : null,
        Priority.of(j.getPriority()),
        List.copyOf(j.getTagsList()),
        Map.copyOf(j.getMetadataMap()),
        OverlapPolicy.of(j.getOverlapPolicy()),
        MisfirePolicy.of(j.getMisfirePolicy()),
        j.hasCatchupWindow() ? duration(j.getCatchupWindow()) : null,
        j.hasJitter() ? duration(j.getJitter()) : null,
        j.getExecutionsCount(),
        j.getSuccessCount(),
        j.getFailureCount(),
        j.hasAvgDuration() ? duration(j.getAvgDuration()) : null,
        j.hasCreatedAt() ? instant(j.getCreatedAt()) : null,
        j.hasUpdatedAt() ? instant(j.getUpdatedAt()) : null,
        j.hasHealthPolicy() ? healthPolicy(j.getHealthPolicy()) : null,
        j.hasHealth() ? jobHealth(j.getHealth()) : null,
        j.hasPausedUntil() ? instant(j.getPausedUntil()) : null,
        j.hasConcurrency() ? new ConcurrencyLimit(j.getConcurrency().getKey(), j.getConcurrency().getLimit()) : null,
        j.getRateLimitKey(),
        List.copyOf(j.getDependsOnList()),
        j.hasMaxWait() ? duration(j.getMaxWait()) : null,
        j);
  }

  static HealthPolicy healthPolicy(dev.cronstream.v1.HealthPolicy p) {
    return new HealthPolicy(
        p.hasMaxStartDelay() ? duration(p.getMaxStartDelay()) : null,
        p.hasMaxDuration() ? duration(p.getMaxDuration()) : null,
        p.hasConsecutiveFailures() ? p.getConsecutiveFailures() : null,
        p.hasAlertOnMissed() ? p.getAlertOnMissed() : null,
        p.hasPauseOnFailure() ? p.getPauseOnFailure() : null);
  }

  static JobHealth jobHealth(dev.cronstream.v1.JobHealth h) {
    return new JobHealth(HealthState.of(h.getState()), h.hasSince() ? instant(h.getSince()) : null, h.getReason());
  }

  static Alert alert(dev.cronstream.v1.Alert a) {
    return new Alert(
        a.getId(),
        a.getPlatformId(),
        a.getJobId(),
        a.getJobName(),
        a.getHandlerName(),
        HealthState.of(a.getKind()),
        AlertState.of(a.getState()),
        a.hasOpenedAt() ? instant(a.getOpenedAt()) : null,
        a.hasResolvedAt() ? instant(a.getResolvedAt()) : null,
        a.getReason(),
        a.getExecutionId(),
        a.hasScheduledAt() ? instant(a.getScheduledAt()) : null,
        a.getPausedJob(),
        a);
  }

  static AlertEvent alertEvent(dev.cronstream.v1.AlertEvent e) {
    return new AlertEvent(e.getCursor(), AlertEventType.of(e.getType()), alert(e.getAlert()));
  }

  static Execution execution(dev.cronstream.v1.Execution e) {
    return new Execution(
        e.getId(),
        e.getJobId(),
        e.getHandlerName(),
        ExecutionStatus.of(e.getStatus()),
        e.getAttempt(),
        e.hasScheduledAt() ? instant(e.getScheduledAt()) : null,
        e.hasStartedAt() ? instant(e.getStartedAt()) : null,
        e.hasCompletedAt() ? instant(e.getCompletedAt()) : null,
        e.hasDuration() ? duration(e.getDuration()) : null,
        Payloads.toMap(e.getResult()),
        e.getError(),
        e.getRetryCount(),
        e.getMaxRetries(),
        e.hasNextRetryAt() ? instant(e.getNextRetryAt()) : null,
        e.getWorkerId(),
        ExecutionTrigger.of(e.getTrigger()),
        e.getConcurrencyKey(),
        e.getRateLimitKey(),
        List.copyOf(e.getWaitingForList()),
        e.hasWaitDeadline() ? instant(e.getWaitDeadline()) : null,
        e);
  }

  static LogLine logLine(ExecutionLog l) {
    return new LogLine(
        l.getExecutionId(),
        l.getAttempt(),
        l.hasTime() ? instant(l.getTime()) : null,
        LogLevel.of(l.getLevel()),
        l.getMessage(),
        l);
  }
}
