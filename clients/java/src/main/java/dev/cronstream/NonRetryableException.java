package dev.cronstream;

/**
 * Thrown by a handler (or found among the causes of what it throws), it makes the attempt's
 * failure final: the server records it without retrying. Any other exception is a retryable
 * failure, retried under the job's {@code max_retries} and {@code retry_delay}.
 */
public class NonRetryableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public NonRetryableException(String message) {
    super(message);
  }

  public NonRetryableException(String message, Throwable cause) {
    super(message, cause);
  }

  public NonRetryableException(Throwable cause) {
    super(cause == null ? null : cause.getMessage(), cause);
  }

  /** Whether {@code t} or one of its causes is a {@code NonRetryableException}. */
  public static boolean isNonRetryable(Throwable t) {
    int depth = 0;
    for (Throwable c = t; c != null && depth < 64; c = c.getCause(), depth++) {
      if (c instanceof NonRetryableException) {
        return true;
      }
    }
    return false;
  }
}
