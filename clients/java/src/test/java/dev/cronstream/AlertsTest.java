package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The Java face of health policies, job health and alerts: enums by name, java.time values. */
class AlertsTest {
  private static Timestamp ts(Instant i) {
    return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
  }

  private static <J extends Enum<J>, P extends Enum<P>> void assertMirrors(
      J[] java, P[] wire, String prefix, Function<P, J> of, Function<J, P> proto, J unknown) {
    for (J v : java) {
      assertEquals(v, of.apply(proto.apply(v)));
      assertFalse(v.toString().startsWith(prefix), v.toString());
    }
    for (P v : wire) {
      if (v.name().equals("UNRECOGNIZED") || v.name().equals(prefix + "UNSPECIFIED")) {
        assertEquals(unknown, of.apply(v), v.name());
      } else {
        assertEquals(v.name(), prefix + of.apply(v).name());
      }
    }
    assertEquals(wire.length - 1, java.length, "one Java value per wire value, UNKNOWN for UNSPECIFIED");
  }

  @Test
  void healthAndAlertEnumsMirrorTheProto() {
    assertMirrors(HealthState.values(), dev.cronstream.v1.HealthState.values(), "HEALTH_STATE_",
        HealthState::of, HealthState::proto, HealthState.UNKNOWN);
    assertMirrors(AlertState.values(), dev.cronstream.v1.AlertState.values(), "ALERT_STATE_",
        AlertState::of, AlertState::proto, AlertState.UNKNOWN);
    assertMirrors(AlertEventType.values(), dev.cronstream.v1.AlertEventType.values(), "ALERT_EVENT_TYPE_",
        AlertEventType::of, AlertEventType::proto, AlertEventType.UNKNOWN);
    assertEquals("OVERRUNNING", HealthState.of(dev.cronstream.v1.HealthState.HEALTH_STATE_OVERRUNNING).toString());
  }

  @Test
  void aHealthPolicyGoesOnTheWireWithDurationsAndLeavesTheRestUnset() {
    dev.cronstream.v1.Job job = Jobs.every(Duration.ofHours(1)).name("n").handler("h")
        .healthPolicy(HealthPolicy.builder()
            .maxStartDelay(Duration.ofSeconds(30)).maxDuration(Duration.ofMinutes(10))
            .consecutiveFailures(3).alertOnMissed(false).pauseOnFailure(true).build())
        .proto();
    dev.cronstream.v1.HealthPolicy p = job.getHealthPolicy();
    assertEquals(30, p.getMaxStartDelay().getSeconds());
    assertEquals(600, p.getMaxDuration().getSeconds());
    assertEquals(3, p.getConsecutiveFailures());
    assertTrue(p.hasAlertOnMissed() && !p.getAlertOnMissed(), "false is set, not left to the default");
    assertTrue(p.getPauseOnFailure());

    dev.cronstream.v1.HealthPolicy partial = HealthPolicy.builder().maxStartDelay(Duration.ofMillis(1500)).build().proto();
    assertEquals(500_000_000, partial.getMaxStartDelay().getNanos());
    assertFalse(partial.hasMaxDuration() || partial.hasConsecutiveFailures() || partial.hasAlertOnMissed()
        || partial.hasPauseOnFailure(), "unset: the platform's defaults");
    assertFalse(Jobs.cron("* * * * *").proto().hasHealthPolicy());
    assertThrows(NullPointerException.class, () -> HealthPolicy.builder().maxDuration(null));
  }

  @Test
  void aStoredJobShowsItsHealthAndPolicy() {
    Instant since = Instant.parse("2026-12-06T09:40:52.500Z");
    Job job = Convert.job(dev.cronstream.v1.Job.newBuilder().setId("j1")
        .setHealthPolicy(HealthPolicy.builder().maxStartDelay(Duration.ofSeconds(30)).consecutiveFailures(1).build().proto())
        .setHealth(dev.cronstream.v1.JobHealth.newBuilder().setState(dev.cronstream.v1.HealthState.HEALTH_STATE_LATE)
            .setSince(ts(since)).setReason("not started 30 s after 09:40:22"))
        .build());
    assertEquals(new JobHealth(HealthState.LATE, since, "not started 30 s after 09:40:22"), job.health());
    assertEquals(new HealthPolicy(Duration.ofSeconds(30), null, 1, null, null), job.healthPolicy());
    assertTrue(job.toString().contains("health=LATE"), job.toString());

    Job bare = Convert.job(dev.cronstream.v1.Job.getDefaultInstance());
    assertNull(bare.health(), "absent: the server did not say");
    assertNull(bare.healthPolicy());
    JobHealth healthy = Convert.jobHealth(dev.cronstream.v1.JobHealth.newBuilder()
        .setState(dev.cronstream.v1.HealthState.HEALTH_STATE_HEALTHY).build());
    assertEquals(new JobHealth(HealthState.HEALTHY, null, ""), healthy);
  }

  @Test
  void alertsAndEventsAreJavaValues() {
    Instant opened = Instant.parse("2026-12-06T09:00:00Z");
    Instant slot = Instant.parse("2026-12-06T08:59:30.000500Z");
    dev.cronstream.v1.Alert p = dev.cronstream.v1.Alert.newBuilder().setId("a1").setJobId("j1").setJobName("nightly")
        .setKind(dev.cronstream.v1.HealthState.HEALTH_STATE_MISSED).setState(dev.cronstream.v1.AlertState.ALERT_STATE_RESOLVED)
        .setOpenedAt(ts(opened)).setResolvedAt(ts(opened.plusSeconds(60))).setScheduledAt(ts(slot))
        .setReason("skipped by the overlap policy").build();
    Alert a = Convert.alert(p);
    assertEquals(new Alert("a1", "", "j1", "nightly", "", HealthState.MISSED, AlertState.RESOLVED, opened,
        opened.plusSeconds(60), "skipped by the overlap policy", "", slot, false, p), a);
    assertFalse(a.toString().contains("seconds:"), a.toString());
    assertEquals(HealthState.UNKNOWN, Convert.alert(p.toBuilder().setKindValue(99).build()).kind(), "a newer server's kind");

    AlertEvent e = Convert.alertEvent(dev.cronstream.v1.AlertEvent.newBuilder().setCursor(Long.MAX_VALUE)
        .setType(dev.cronstream.v1.AlertEventType.ALERT_EVENT_TYPE_OPENED).setAlert(p).build());
    assertEquals(new AlertEvent(Long.MAX_VALUE, AlertEventType.OPENED, a), e);
    assertEquals(AlertState.UNKNOWN, Convert.alertEvent(dev.cronstream.v1.AlertEvent.getDefaultInstance()).alert().state());
  }
}
