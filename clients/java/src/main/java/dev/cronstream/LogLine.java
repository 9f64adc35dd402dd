package dev.cronstream;

import dev.cronstream.v1.ExecutionLog;
import java.time.Instant;

/**
 * A line a handler logged while running an execution, in Java types; {@link #proto()} is the
 * generated message.
 *
 * @param attempt the attempt that logged it, from 1
 * @param time when the worker logged it; {@code null} when the server sent none
 */
public record LogLine(String executionId, int attempt, Instant time, LogLevel level, String message, ExecutionLog proto) {

  @Override
  public String toString() {
    return "LogLine[execution=" + executionId + ", attempt=" + attempt + ", time=" + time + ", level=" + level
        + ", message=" + message + "]";
  }
}
