package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.protobuf.Timestamp;
import dev.cronstream.v1.Alert;
import dev.cronstream.v1.AlertEvent;
import dev.cronstream.v1.AlertEventType;
import dev.cronstream.v1.AlertState;
import dev.cronstream.v1.HealthState;
import dev.cronstream.v1.SchedulerServiceGrpc;
import dev.cronstream.v1.WatchAlertsRequest;
import dev.cronstream.v1.WatchAlertsResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A scriptable SchedulerService for WatchAlerts: each call is a {@link Watch} the test takes from
 * {@link #watches} and drives by hand (sends events, breaks the stream), as {@link
 * FakeWorkerService} does for the worker's stream. As the server does, a call from 0 first sends a
 * response with only the cursor it starts after ({@link #startCursor}), and each event's response
 * carries its cursor; a {@link #legacy} one plays a server from before that cursor (neither).
 */
final class FakeSchedulerService extends SchedulerServiceGrpc.SchedulerServiceImplBase {
  final BlockingQueue<Watch> watches = new LinkedBlockingQueue<>();
  /** "Now", as a call from 0 says it. */
  volatile long startCursor;
  volatile boolean legacy;

  @Override
  public void watchAlerts(WatchAlertsRequest req, StreamObserver<WatchAlertsResponse> out) {
    if (req.getAfterCursor() == 0 && !legacy) {
      out.onNext(WatchAlertsResponse.newBuilder().setCursor(startCursor).build());
    }
    Watch w = new Watch(req.getAfterCursor(), out, legacy);
    ((ServerCallStreamObserver<WatchAlertsResponse>) out).setOnCancelHandler(() -> w.cancelled.complete(null));
    watches.add(w);
  }

  Watch nextWatch() throws InterruptedException {
    Watch w = watches.poll(FakeWorkerService.WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertNotNull(w, "no WatchAlerts call within " + FakeWorkerService.WAIT);
    return w;
  }

  /** One WatchAlerts call, seen from the server. */
  static final class Watch {
    final long afterCursor;
    /** Completes when the client cancels the call. */
    final CompletableFuture<Void> cancelled = new CompletableFuture<>();
    private final StreamObserver<WatchAlertsResponse> out;
    private final boolean legacy;
    private boolean finished;

    Watch(long afterCursor, StreamObserver<WatchAlertsResponse> out, boolean legacy) {
      this.afterCursor = afterCursor;
      this.out = out;
      this.legacy = legacy;
    }

    /** Sends the events of these cursors (see {@link #event(long)}). */
    synchronized void send(long... cursors) {
      for (long c : cursors) {
        if (!finished) {
          out.onNext(WatchAlertsResponse.newBuilder().setEvent(event(c)).setCursor(legacy ? 0 : c).build());
        }
      }
    }

    synchronized void end(Status s) {
      if (!finished) {
        finished = true;
        out.onError(s.asRuntimeException());
      }
    }

    synchronized void complete() {
      if (!finished) {
        finished = true;
        out.onCompleted();
      }
    }
  }

  /** The event of cursor n: odd ones open a FAILING alert of job j<n>, even ones resolve a LATE one. */
  static AlertEvent event(long n) {
    boolean opened = n % 2 == 1;
    Alert.Builder a = Alert.newBuilder().setId("a" + n).setJobId("j" + n).setJobName("job " + n)
        .setKind(opened ? HealthState.HEALTH_STATE_FAILING : HealthState.HEALTH_STATE_LATE)
        .setState(opened ? AlertState.ALERT_STATE_OPEN : AlertState.ALERT_STATE_RESOLVED)
        .setOpenedAt(Timestamp.newBuilder().setSeconds(1_800_000_000L + n))
        .setReason("reason " + n);
    if (!opened) {
      a.setResolvedAt(Timestamp.newBuilder().setSeconds(1_800_000_100L + n));
    }
    return AlertEvent.newBuilder().setCursor(n)
        .setType(opened ? AlertEventType.ALERT_EVENT_TYPE_OPENED : AlertEventType.ALERT_EVENT_TYPE_RESOLVED)
        .setAlert(a).build();
  }
}
