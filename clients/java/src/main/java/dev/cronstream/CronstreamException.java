package dev.cronstream;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;

/**
 * A call that failed with a gRPC status. The client's convenience methods and the worker throw
 * it, or one of the subclasses for the codes callers branch on: {@link InvalidArgumentException},
 * {@link NotFoundException}, {@link UnauthenticatedException}, {@link
 * FailedPreconditionException}. Other codes keep theirs in {@link #code()}.
 *
 * <p>Calls made through the generated stubs throw grpc-java's {@link StatusRuntimeException};
 * {@link #from(Throwable)} turns one into these types.
 */
public class CronstreamException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final transient Status status;
  private final transient Metadata trailers;

  protected CronstreamException(Status status, Metadata trailers, Throwable cause) {
    super("cronstream: " + status.getCode() + describe(status.getDescription()), cause);
    this.status = status;
    this.trailers = trailers;
  }

  private static String describe(String description) {
    return description == null || description.isEmpty() ? "" : ": " + description;
  }

  /** The status code. */
  public Status.Code code() {
    return status.getCode();
  }

  /** The full status, with its description. */
  public Status status() {
    return status;
  }

  /** The trailers the call ended with (they hold the encoded status details); may be null. */
  public Metadata trailers() {
    return trailers;
  }

  /**
   * Translates a failed call's exception: a {@link StatusRuntimeException} or {@link
   * StatusException} (also as a cause) becomes the matching {@code CronstreamException}; one
   * that already is one is returned as is; anything else becomes a status of code UNKNOWN.
   */
  public static CronstreamException from(Throwable t) {
    if (t instanceof CronstreamException ce) {
      return ce;
    }
    Status status = Status.fromThrowable(t);
    Metadata trailers = Status.trailersFromThrowable(t);
    Throwable cause = statusThrowable(t);
    if (cause == null) {
      cause = t;
    }
    return switch (status.getCode()) {
      case INVALID_ARGUMENT -> new InvalidArgumentException(status, trailers, cause, fieldViolations(t));
      case NOT_FOUND -> new NotFoundException(status, trailers, cause);
      case UNAUTHENTICATED -> new UnauthenticatedException(status, trailers, cause);
      case FAILED_PRECONDITION -> new FailedPreconditionException(status, trailers, cause);
      default -> new CronstreamException(status, trailers, cause);
    };
  }

  private static Throwable statusThrowable(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof StatusRuntimeException || c instanceof StatusException) {
        return c;
      }
    }
    return null;
  }

  /**
   * The field violations of the {@code google.rpc.BadRequest} details that {@code t}'s status
   * carries; empty if none.
   */
  public static List<FieldViolation> fieldViolations(Throwable t) {
    if (t instanceof InvalidArgumentException e) {
      return e.violations();
    }
    List<FieldViolation> out = new ArrayList<>();
    com.google.rpc.Status status = StatusProto.fromThrowable(t);
    if (status == null) {
      return out;
    }
    for (Any detail : status.getDetailsList()) {
      if (!detail.is(BadRequest.class)) {
        continue;
      }
      try {
        for (BadRequest.FieldViolation v : detail.unpack(BadRequest.class).getFieldViolationsList()) {
          out.add(new FieldViolation(v.getField(), v.getDescription()));
        }
      } catch (InvalidProtocolBufferException e) {
        // a malformed detail names no field
      }
    }
    return out;
  }
}
