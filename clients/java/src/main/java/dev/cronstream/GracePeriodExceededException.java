package dev.cronstream;

/**
 * A worker was stopped while handlers were still running, or results unacknowledged, when its
 * grace period ended; the handlers still running were interrupted.
 */
public class GracePeriodExceededException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  GracePeriodExceededException(String message) {
    super(message);
  }
}
