package dev.cronstream;

import io.grpc.Metadata;
import io.grpc.Status;
import java.util.List;
import java.util.stream.Collectors;

/**
 * An {@code INVALID_ARGUMENT} status, with the field violations of its {@code
 * google.rpc.BadRequest} details (for example {@code job.cron.expression}).
 */
public class InvalidArgumentException extends CronstreamException {
  private static final long serialVersionUID = 1L;

  private final List<FieldViolation> violations;

  InvalidArgumentException(Status status, Metadata trailers, Throwable cause, List<FieldViolation> violations) {
    super(status, trailers, cause);
    this.violations = List.copyOf(violations);
  }

  /** The refused fields; empty when the status carried no {@code BadRequest}. */
  public List<FieldViolation> violations() {
    return violations;
  }

  @Override
  public String getMessage() {
    if (violations.isEmpty()) {
      return super.getMessage();
    }
    return "cronstream: INVALID_ARGUMENT: "
        + violations.stream().map(FieldViolation::toString).collect(Collectors.joining("; "));
  }
}
