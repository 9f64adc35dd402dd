package dev.cronstream;

import io.grpc.Metadata;
import io.grpc.Status;

/** A {@code UNAUTHENTICATED} status: The API key is missing or wrong. */
public class UnauthenticatedException extends CronstreamException {
  private static final long serialVersionUID = 1L;

  UnauthenticatedException(Status status, Metadata trailers, Throwable cause) {
    super(status, trailers, cause);
  }
}
