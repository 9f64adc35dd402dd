package dev.cronstream;

import io.grpc.Metadata;
import io.grpc.Status;

/** A {@code FAILED_PRECONDITION} status: The resource is in the wrong state for the call (resuming a cancelled job). */
public class FailedPreconditionException extends CronstreamException {
  private static final long serialVersionUID = 1L;

  FailedPreconditionException(Status status, Metadata trailers, Throwable cause) {
    super(status, trailers, cause);
  }
}
