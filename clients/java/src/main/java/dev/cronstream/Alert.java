package dev.cronstream;

import java.time.Instant;

/**
 * An alert: a job's departure from its health policy, from when it was seen until the job was
 * healthy again, in Java types; {@link #proto()} is the generated message.
 *
 * @param jobName the job's name when the alert opened
 * @param kind what is wrong: {@code LATE}, {@code MISSED}, {@code OVERRUNNING} or {@code FAILING}
 * @param resolvedAt {@code null} while open
 * @param executionId the execution that caused it; empty when none did
 * @param scheduledAt the slot concerned (LATE, MISSED); {@code null} when none is
 * @param pausedJob true when the job paused itself ({@code pauseOnFailure})
 */
public record Alert(
    String id,
    String platformId,
    String jobId,
    String jobName,
    String handlerName,
    HealthState kind,
    AlertState state,
    Instant openedAt,
    Instant resolvedAt,
    String reason,
    String executionId,
    Instant scheduledAt,
    boolean pausedJob,
    dev.cronstream.v1.Alert proto) {

  @Override
  public String toString() {
    return "Alert[id=" + id + ", job=" + jobId + " (" + jobName + "), kind=" + kind + ", state=" + state
        + ", openedAt=" + openedAt + (resolvedAt == null ? "" : ", resolvedAt=" + resolvedAt)
        + ", reason=" + reason + (pausedJob ? ", pausedJob" : "") + "]";
  }
}
