package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.Struct;
import com.google.protobuf.Timestamp;
import dev.cronstream.v1.Assignment;
import dev.cronstream.v1.Assignments;
import dev.cronstream.v1.CancelAssignment;
import dev.cronstream.v1.ConnectRequest;
import dev.cronstream.v1.ConnectResponse;
import dev.cronstream.v1.Drain;
import dev.cronstream.v1.ResultAck;
import dev.cronstream.v1.Welcome;
import dev.cronstream.v1.WorkerServiceGrpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A scriptable WorkerService: each Connect call is a {@link Conn} the test takes from {@link
 * #connections} and drives by hand.
 */
final class FakeWorkerService extends WorkerServiceGrpc.WorkerServiceImplBase {
  static final Duration WAIT = Duration.ofSeconds(10);

  final BlockingQueue<Conn> connections = new LinkedBlockingQueue<>();
  final BlockingQueue<String> authorizations = new LinkedBlockingQueue<>();
  /** When set, calls fail with it at once. */
  volatile Status refuse;

  final ServerInterceptor recordAuth = new ServerInterceptor() {
    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
        ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
      String auth = headers.get(CronstreamClient.AUTHORIZATION);
      authorizations.add(auth == null ? "" : auth);
      return next.startCall(call, headers);
    }
  };

  @Override
  public StreamObserver<ConnectRequest> connect(StreamObserver<ConnectResponse> out) {
    Status s = refuse;
    Conn c = new Conn(out);
    if (s != null) {
      out.onError(s.asRuntimeException());
      return c;
    }
    connections.add(c);
    return c;
  }

  Conn nextConnection() throws InterruptedException {
    Conn c = connections.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertNotNull(c, "no connection within " + WAIT);
    return c;
  }

  static final class Conn implements StreamObserver<ConnectRequest> {
    private final StreamObserver<ConnectResponse> out;
    final BlockingQueue<ConnectRequest> received = new LinkedBlockingQueue<>();
    /** Completes when the worker ends the call: null for a half-close, else the error. */
    final CompletableFuture<Throwable> closed = new CompletableFuture<>();
    private boolean finished;

    Conn(StreamObserver<ConnectResponse> out) {
      this.out = out;
    }

    @Override
    public void onNext(ConnectRequest m) {
      received.add(m);
    }

    @Override
    public void onError(Throwable t) {
      closed.complete(t);
    }

    @Override
    public void onCompleted() {
      closed.complete(null);
    }

    synchronized void send(ConnectResponse m) {
      if (!finished) {
        out.onNext(m);
      }
    }

    synchronized void end(Status s) {
      if (!finished) {
        finished = true;
        out.onError(s.asRuntimeException());
      }
    }

    void welcome(Duration heartbeat) {
      welcome(heartbeat, false);
    }

    /** A welcome that says whether the server takes {@code results} batches. */
    void welcome(Duration heartbeat, boolean acceptsBatches) {
      send(ConnectResponse.newBuilder().setWelcome(Welcome.newBuilder().setSessionId("s-" + System.nanoTime())
          .setHeartbeatInterval(com.google.protobuf.Duration.newBuilder()
              .setSeconds(heartbeat.getSeconds()).setNanos(heartbeat.getNano()))
          .setLeaseDuration(com.google.protobuf.Duration.newBuilder().setSeconds(30))
          .setAcceptsBatches(acceptsBatches)).build());
    }

    void assign(String id, int attempt, String handler, Struct payload) {
      assign(Assignment.newBuilder().setExecutionId(id).setJobId("job-" + id).setAttempt(attempt)
          .setHandlerName(handler).setPayload(payload).build());
    }

    void assign(Assignment a) {
      send(ConnectResponse.newBuilder().setAssignment(a).build());
    }

    /** One {@code assignments} message written at {@code sentAt} on the server's clock (null: unset). */
    void assignAll(Instant sentAt, Assignment... assignments) {
      Assignments.Builder b = Assignments.newBuilder().addAllAssignments(List.of(assignments));
      if (sentAt != null) {
        b.setSentAt(timestamp(sentAt));
      }
      send(ConnectResponse.newBuilder().setAssignments(b).build());
    }

    void cancel(String id, String reason) {
      send(ConnectResponse.newBuilder().setCancel(CancelAssignment.newBuilder().setExecutionId(id).setReason(reason)).build());
    }

    void ack(String id) {
      send(ConnectResponse.newBuilder().setResultAck(ResultAck.newBuilder().setExecutionId(id)).build());
    }

    void drain() {
      send(ConnectResponse.newBuilder().setDrain(Drain.getDefaultInstance()).build());
    }

    /** The next message of {@code kind}, skipping heartbeats (unless asked for). */
    ConnectRequest next(ConnectRequest.MsgCase kind) throws InterruptedException {
      long end = System.nanoTime() + WAIT.toNanos();
      while (true) {
        ConnectRequest m = received.poll(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (m == null) {
          fail("no " + kind + " within " + WAIT);
        }
        if (m.getMsgCase() == ConnectRequest.MsgCase.HEARTBEAT && kind != ConnectRequest.MsgCase.HEARTBEAT) {
          continue;
        }
        if (m.getMsgCase() != kind) {
          fail("wanted " + kind + ", got " + m);
        }
        return m;
      }
    }

    /** The next message that is not a heartbeat, or null after {@code wait}. */
    ConnectRequest poll(Duration wait) throws InterruptedException {
      long end = System.nanoTime() + wait.toNanos();
      while (true) {
        ConnectRequest m = received.poll(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (m == null || m.getMsgCase() != ConnectRequest.MsgCase.HEARTBEAT) {
          return m;
        }
      }
    }

    Throwable awaitClosed() throws Exception {
      return closed.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  static Timestamp timestamp(Instant t) {
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }
}
