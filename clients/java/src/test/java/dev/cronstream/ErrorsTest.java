package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import org.junit.jupiter.api.Test;

class ErrorsTest {
  static StatusRuntimeException badRequest(String... fieldAndDescription) {
    BadRequest.Builder br = BadRequest.newBuilder();
    for (int i = 0; i < fieldAndDescription.length; i += 2) {
      br.addFieldViolations(BadRequest.FieldViolation.newBuilder()
          .setField(fieldAndDescription[i]).setDescription(fieldAndDescription[i + 1]));
    }
    com.google.rpc.Status st = com.google.rpc.Status.newBuilder()
        .setCode(Code.INVALID_ARGUMENT_VALUE)
        .setMessage("invalid job")
        .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("OTHER").build())) // skipped
        .addDetails(Any.pack(br.build()))
        .build();
    return StatusProto.toStatusRuntimeException(st);
  }

  @Test
  void invalidArgumentDecodesBadRequest() {
    StatusRuntimeException sre = badRequest(
        "job.cron.expression", "61 is not a minute", "job.name", "required");
    CronstreamException e = CronstreamException.from(sre);
    InvalidArgumentException inv = assertInstanceOf(InvalidArgumentException.class, e);
    assertEquals(Status.Code.INVALID_ARGUMENT, inv.code());
    assertEquals(List.of(
        new FieldViolation("job.cron.expression", "61 is not a minute"),
        new FieldViolation("job.name", "required")), inv.violations());
    assertEquals("invalid job", inv.status().getDescription());
    assertTrue(inv.getMessage().contains("job.cron.expression: 61 is not a minute"), inv.getMessage());
    assertSame(sre, inv.getCause());
    assertEquals(inv.violations(), CronstreamException.fieldViolations(sre));
    assertEquals(inv.violations(), CronstreamException.fieldViolations(inv));
  }

  @Test
  void invalidArgumentWithoutDetails() {
    InvalidArgumentException inv = assertInstanceOf(InvalidArgumentException.class,
        CronstreamException.from(Status.INVALID_ARGUMENT.withDescription("nope").asRuntimeException()));
    assertEquals(List.of(), inv.violations());
    assertTrue(inv.getMessage().contains("nope"));
  }

  @Test
  void codesGetTheirClasses() {
    assertInstanceOf(NotFoundException.class, CronstreamException.from(Status.NOT_FOUND.asRuntimeException()));
    assertInstanceOf(UnauthenticatedException.class, CronstreamException.from(Status.UNAUTHENTICATED.asException()));
    assertInstanceOf(FailedPreconditionException.class,
        CronstreamException.from(new RuntimeException("wrapped", Status.FAILED_PRECONDITION.asRuntimeException())));
    CronstreamException other = CronstreamException.from(Status.UNAVAILABLE.withDescription("down").asRuntimeException());
    assertEquals(CronstreamException.class, other.getClass());
    assertEquals(Status.Code.UNAVAILABLE, other.code());
    assertEquals("cronstream: UNAVAILABLE: down", other.getMessage());
    assertEquals(Status.Code.UNKNOWN, CronstreamException.from(new IllegalStateException("x")).code());
    assertSame(other, CronstreamException.from(other));
  }

  @Test
  void nonRetryableIsFoundAmongCauses() {
    assertTrue(NonRetryableException.isNonRetryable(new NonRetryableException("x")));
    assertTrue(NonRetryableException.isNonRetryable(new RuntimeException(new NonRetryableException("x"))));
    assertTrue(!NonRetryableException.isNonRetryable(new RuntimeException("x")));
  }
}
