package dev.cronstream;

import com.google.protobuf.Struct;
import com.google.protobuf.Timestamp;
import dev.cronstream.v1.Assignment;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.function.Consumer;

/**
 * What a {@link Handler} gets for one attempt: the execution's identity and payload, its
 * deadline and trace context, a log, and its cancellation.
 *
 * <p>The attempt is cancelled when the server cancels the execution (the reason is {@code
 * cancelled}, {@code timeout}, {@code overlap} or {@code lease lost}), at its {@link #deadline()}
 * ({@code deadline exceeded}), and when a stopping worker's grace period runs out. Cancellation
 * interrupts the handler's thread, so blocking calls throw {@link InterruptedException}; code that
 * does not block can poll {@link #isCancelled()} or call {@link #throwIfCancelled()}.
 */
public final class JobContext {
  /** The server's limit on one log message, in UTF-8 bytes. */
  static final int MAX_LOG_BYTES = 64 * 1024;

  private final Attempt attempt;
  private final Worker worker;
  private final Map<String, Object> payload;

  JobContext(Attempt attempt, Worker worker) {
    this.attempt = attempt;
    this.worker = worker;
    this.payload = Payloads.toMap(attempt.assignment.getPayload());
  }

  /** The assignment as the server sent it. */
  public Assignment assignment() {
    return attempt.assignment;
  }

  public String executionId() {
    return attempt.assignment.getExecutionId();
  }

  /** The job; empty for an event handler's delivery. */
  public String jobId() {
    return attempt.assignment.getJobId();
  }

  public String handlerName() {
    return attempt.assignment.getHandlerName();
  }

  /** The attempt number (1 for the first run, 2 for the first retry...). */
  public int attempt() {
    return attempt.assignment.getAttempt();
  }

  /**
   * The job's payload as a mutable map: numbers are {@link Double}s, lists {@link
   * java.util.List}s, objects maps (see {@link Payloads}).
   */
  public Map<String, Object> payload() {
    return payload;
  }

  /**
   * The payload as a {@code type} (a record or bean), converted by Jackson; an {@link
   * IllegalArgumentException} naming the problem if it does not convert.
   */
  public <T> T payload(Class<T> type) {
    return Json.fromStruct(attempt.assignment.getPayload(), type);
  }

  /** The payload as the Struct the server sent. */
  public Struct payloadStruct() {
    return attempt.assignment.getPayload();
  }

  /** The time the execution was scheduled for; null if the server sent none. */
  public Instant scheduledAt() {
    return attempt.assignment.hasScheduledAt() ? instant(attempt.assignment.getScheduledAt()) : null;
  }

  /** When the server times the attempt out (and the worker interrupts it); null if never. */
  public Instant deadline() {
    return attempt.assignment.hasDeadline() ? instant(attempt.assignment.getDeadline()) : null;
  }

  /** The W3C {@code traceparent} of the execution's span; empty if none. */
  public String traceparent() {
    return attempt.assignment.getTraceparent();
  }

  /** The W3C {@code tracestate} accompanying {@link #traceparent()}; empty if none. */
  public String tracestate() {
    return attempt.assignment.getTracestate();
  }

  /**
   * Stores a log line with the execution (cut to 64 KiB). Lines are sent on the worker stream as
   * they come; one logged while the worker is disconnected is dropped. Returns whether the line
   * was handed to the stream.
   */
  public boolean log(LogLevel level, String message) {
    return worker.log(attempt, level == null ? LogLevel.INFO : level, truncateUtf8(String.valueOf(message), MAX_LOG_BYTES));
  }

  /** {@link #log(LogLevel, String)} at {@link LogLevel#INFO}. */
  public boolean log(String message) {
    return log(LogLevel.INFO, message);
  }

  /** Whether the attempt was cancelled (see the class comment). */
  public boolean isCancelled() {
    return attempt.isCancelled();
  }

  /** Why the attempt was cancelled, once it is. */
  public Optional<String> cancellationReason() {
    return Optional.ofNullable(attempt.cancelReason());
  }

  /** Throws a {@link CancellationException} saying why, if the attempt was cancelled. */
  public void throwIfCancelled() {
    String reason = attempt.cancelReason();
    if (reason != null) {
      throw new CancellationException("cronstream: execution cancelled: " + reason);
    }
  }

  /**
   * Runs {@code callback} with the reason when the attempt is cancelled (at once if it already
   * is), on the thread that cancels it: keep it short (close a socket, abort a request).
   */
  public void onCancel(Consumer<String> callback) {
    attempt.onCancel(callback);
  }

  static Instant instant(Timestamp t) {
    return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
  }

  /** {@code s} cut to at most {@code max} UTF-8 bytes, without splitting a character. */
  static String truncateUtf8(String s, int max) {
    if (s.length() * 3L <= max) {
      return s;
    }
    int bytes = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes + n > max) {
        return s.substring(0, i);
      }
      bytes += n;
      i += Character.charCount(cp);
    }
    return s;
  }
}
