package dev.cronstream;

import io.grpc.Metadata;
import io.grpc.Status;

/** A {@code NOT_FOUND} status: The resource does not exist, or belongs to another platform. */
public class NotFoundException extends CronstreamException {
  private static final long serialVersionUID = 1L;

  NotFoundException(Status status, Metadata trailers, Throwable cause) {
    super(status, trailers, cause);
  }
}
