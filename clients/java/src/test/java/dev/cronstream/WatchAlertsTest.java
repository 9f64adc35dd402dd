package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link CronstreamClient#watchAlerts} against an in-process SchedulerService whose streams break. */
@Timeout(30)
class WatchAlertsTest {
  private final FakeSchedulerService fake = new FakeSchedulerService();
  private final List<String> authorizations = new CopyOnWriteArrayList<>();
  private final BlockingQueue<AlertEvent> events = new LinkedBlockingQueue<>();
  private Server server;
  private ManagedChannel channel;
  private CronstreamClient client;

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    ServerInterceptor auth = new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        authorizations.add(headers.get(CronstreamClient.AUTHORIZATION));
        return next.startCall(call, headers);
      }
    };
    server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(ServerInterceptors.intercept(fake, auth)).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    client = CronstreamClient.wrap(channel, "cs_secret");
  }

  @AfterEach
  void tearDown() {
    client.close();
    channel.shutdownNow();
    server.shutdownNow();
  }

  private AlertEvent next() throws InterruptedException {
    AlertEvent e = events.poll(FakeWorkerService.WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertNotNull(e, "no event within " + FakeWorkerService.WAIT);
    return e;
  }

  private List<Long> next(int n) throws InterruptedException {
    List<Long> cursors = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      cursors.add(next().cursor());
    }
    return cursors;
  }

  @Test
  void aBrokenStreamResumesAfterTheLastCursorAndEachEventComesOnce() throws Exception {
    try (AlertWatch watch = client.watchAlerts(0, events::add)) {
      FakeSchedulerService.Watch first = fake.nextWatch();
      assertEquals(0, first.afterCursor);
      first.send(1, 2);
      assertEquals(List.of(1L, 2L), next(2));
      first.end(Status.UNAVAILABLE.withDescription("connection reset"));

      FakeSchedulerService.Watch second = fake.nextWatch();
      assertEquals(2, second.afterCursor);
      second.end(Status.INTERNAL.withDescription("server restarting"));

      FakeSchedulerService.Watch third = fake.nextWatch();
      assertEquals(2, third.afterCursor);
      third.send(2, 3, 4); // 2 again: a server that repeats one is not believed
      assertEquals(List.of(3L, 4L), next(2));
      assertNull(events.poll(200, TimeUnit.MILLISECONDS));
      assertEquals(4, watch.lastCursor());
      assertTrue(watch.isRunning());

      watch.close();
      third.cancelled.get(5, TimeUnit.SECONDS);
      assertFalse(watch.isRunning());
      watch.join(); // closed: no error
    }
    assertEquals(List.of("Bearer cs_secret", "Bearer cs_secret", "Bearer cs_secret"), authorizations);
  }

  @Test
  void aWatchFromNowResumesAfterItsStartCursorEvenBeforeItsFirstEvent() throws Exception {
    fake.startCursor = 7;
    try (AlertWatch watch = client.watchAlerts(0, events::add)) {
      FakeSchedulerService.Watch first = fake.nextWatch();
      assertEquals(0, first.afterCursor);
      first.end(Status.UNAVAILABLE.withDescription("connection reset")); // after the start, before any event

      FakeSchedulerService.Watch second = fake.nextWatch();
      assertEquals(7, second.afterCursor);
      second.send(8);
      assertEquals(8, next().cursor());
      assertNull(events.poll(200, TimeUnit.MILLISECONDS), "the start is no event");
      assertEquals(8, watch.lastCursor());
    }
  }

  @Test
  void aServerWithoutTheResponsesCursorIsReadByTheEventsOwn() throws Exception {
    fake.legacy = true;
    try (AlertWatch watch = client.watchAlerts(0, events::add)) {
      FakeSchedulerService.Watch first = fake.nextWatch();
      first.send(1, 2);
      assertEquals(List.of(1L, 2L), next(2));
      first.end(Status.UNAVAILABLE);
      FakeSchedulerService.Watch second = fake.nextWatch();
      assertEquals(2, second.afterCursor);
      second.send(2, 3);
      assertEquals(3, next().cursor());
      assertNull(events.poll(200, TimeUnit.MILLISECONDS));
    }
  }

  @Test
  void aStreamTheServerEndsIsReopenedFromTheCursor() throws Exception {
    try (AlertWatch watch = client.watchAlerts(40, events::add)) {
      FakeSchedulerService.Watch first = fake.nextWatch();
      assertEquals(40, first.afterCursor);
      first.send(41);
      assertEquals(41, next().cursor());
      first.complete();
      assertEquals(41, fake.nextWatch().afterCursor);
    }
    assertThrows(IllegalArgumentException.class, () -> client.watchAlerts(-1, e -> {}));
  }

  @Test
  void eventsAreJavaValues() throws Exception {
    try (AlertWatch watch = client.watchAlerts(0, events::add)) {
      fake.nextWatch().send(1, 2);
      AlertEvent opened = next();
      assertEquals(AlertEventType.OPENED, opened.type());
      Alert a = opened.alert();
      assertEquals(List.of("a1", "j1", "job 1", "reason 1"), List.of(a.id(), a.jobId(), a.jobName(), a.reason()));
      assertEquals(HealthState.FAILING, a.kind());
      assertEquals(AlertState.OPEN, a.state());
      assertEquals(Instant.ofEpochSecond(1_800_000_001L), a.openedAt());
      assertNull(a.resolvedAt(), "absent timestamps are null, not 1970");
      assertNull(a.scheduledAt());
      assertEquals("", a.executionId());
      AlertEvent resolved = next();
      assertEquals(AlertEventType.RESOLVED, resolved.type());
      assertEquals(HealthState.LATE, resolved.alert().kind());
      assertEquals(Instant.ofEpochSecond(1_800_000_102L), resolved.alert().resolvedAt());
      assertEquals(FakeSchedulerService.event(2).getAlert(), resolved.alert().proto());
    }
  }

  @Test
  void unauthenticatedEndsTheWatchWithTheTypedException() throws Exception {
    AlertWatch watch = client.watchAlerts(0, events::add);
    FakeSchedulerService.Watch first = fake.nextWatch();
    first.send(1);
    first.end(Status.UNAVAILABLE);
    FakeSchedulerService.Watch second = fake.nextWatch();
    second.end(Status.UNAUTHENTICATED.withDescription("key revoked"));
    assertThrows(UnauthenticatedException.class, watch::join);
    assertEquals(1, next().cursor());
    assertFalse(watch.isRunning());
    assertNull(fake.watches.poll(300, TimeUnit.MILLISECONDS), "no reconnection after UNAUTHENTICATED");
    watch.close();
    assertThrows(UnauthenticatedException.class, watch::join, "close() after the end changes nothing");
  }

  @Test
  void invalidArgumentEndsTheWatchWithTheTypedException() throws Exception {
    AlertWatch watch = client.watchAlerts(0, events::add);
    fake.nextWatch().end(Status.INVALID_ARGUMENT.withDescription("after_cursor: must not be negative"));
    assertThrows(InvalidArgumentException.class, watch::join);
    assertNull(fake.watches.poll(300, TimeUnit.MILLISECONDS), "no reconnection after INVALID_ARGUMENT");
  }

  @Test
  void whatTheConsumerThrowsEndsTheWatchBeforeItsEvent() throws Exception {
    IllegalStateException boom = new IllegalStateException("pager down");
    AlertWatch watch = client.watchAlerts(0, e -> {
      if (e.cursor() == 2) {
        throw boom;
      }
      events.add(e);
    });
    FakeSchedulerService.Watch first = fake.nextWatch();
    first.send(1, 2, 3);
    assertSame(boom, assertThrows(IllegalStateException.class, watch::join));
    assertEquals(1, next().cursor());
    assertEquals(1, watch.lastCursor(), "a new watch from here gets event 2 again");
    first.cancelled.get(5, TimeUnit.SECONDS);
  }

  @Test
  void theConsumerMayCloseTheWatch() throws Exception {
    List<Long> seen = new CopyOnWriteArrayList<>();
    AlertWatch[] self = new AlertWatch[1];
    AlertWatch watch = client.watchAlerts(0, e -> {
      seen.add(e.cursor());
      self[0].close(); // must not wait for itself
    });
    self[0] = watch;
    FakeSchedulerService.Watch first = fake.nextWatch();
    first.send(1, 2);
    assertTrue(watch.awaitTermination(Duration.ofSeconds(5)));
    watch.join();
    assertEquals(List.of(1L), seen);
    first.cancelled.get(5, TimeUnit.SECONDS);
  }
}
