package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cronstream.WebhookSignatureException.Refusal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Verifying webhook signatures, against vectors made by the server's own code. */
class WebhooksTest {
  private static final String SECRET = "whsec_test";
  private static final long T = 1_796_550_000L;
  private static final Instant AT_T = Instant.ofEpochSecond(T);
  // Bodies and headers made by the server's core/webhook_delivery.body and
  // core/webhook_signature.header_value at T; a non-ASCII job name checks that the bytes signed
  // are the UTF-8 ones.
  private static final String OPENED = "{\"type\":\"alert.opened\",\"cursor\":7,\"alert\":{\"id\":\"a1\","
      + "\"platformId\":\"p1\",\"jobId\":\"j1\",\"jobName\":\"nightly réport\",\"handlerName\":\"send_report\","
      + "\"kind\":\"HEALTH_STATE_FAILING\",\"state\":\"ALERT_STATE_OPEN\",\"openedAt\":\"2026-12-06T09:40:52.123Z\","
      + "\"reason\":\"3 attempts in a row failed\",\"executionId\":\"x9\",\"pausedJob\":true}}";
  private static final String OPENED_HEADER =
      "t=1796550000,v1=2d99eb37ad08ae63d58f4c340c26a011ef2735e14b19cde05ff06fdacefa0af7";
  private static final String RESOLVED = "{\"type\":\"alert.resolved\",\"cursor\":12,\"alert\":{\"id\":\"a1\","
      + "\"platformId\":\"p1\",\"jobId\":\"j1\",\"jobName\":\"nightly réport\",\"handlerName\":\"send_report\","
      + "\"kind\":\"HEALTH_STATE_LATE\",\"state\":\"ALERT_STATE_RESOLVED\",\"openedAt\":\"2026-12-06T09:40:52.123Z\","
      + "\"reason\":\"not started 30 s after 09:40:22\",\"resolvedAt\":\"2026-12-06T09:41:00Z\","
      + "\"scheduledAt\":\"2026-12-06T09:40:22.000500Z\"}}";
  private static final String RESOLVED_HEADER =
      "t=1796550000,v1=fd1f819a46a925bedc88a6e2f545ee507279550c77cd921b6df47114da1fa1b2";

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static AlertEvent verifyAt(Instant now, String secret, String header, String body) {
    return Webhooks.verify(secret, header, utf8(body), Webhooks.DEFAULT_TOLERANCE, now);
  }

  private static Refusal refusal(Executable call) {
    return assertThrows(WebhookSignatureException.class, call).refusal();
  }

  @Test
  void theServersSignatureVerifiesAndTheBodyIsTheEventAWatchWouldHandOut() {
    assertEquals(OPENED_HEADER, Webhooks.signatureHeader(SECRET, utf8(OPENED), T));
    AlertEvent opened = verifyAt(AT_T.plusSeconds(299), SECRET, OPENED_HEADER, OPENED);
    assertEquals(7, opened.cursor());
    assertEquals(AlertEventType.OPENED, opened.type());
    Alert a = opened.alert();
    assertEquals("nightly réport", a.jobName());
    assertEquals(HealthState.FAILING, a.kind());
    assertEquals(AlertState.OPEN, a.state());
    assertEquals(Instant.parse("2026-12-06T09:40:52.123Z"), a.openedAt());
    assertEquals("x9", a.executionId());
    assertTrue(a.pausedJob());
    assertEquals(null, a.resolvedAt());

    AlertEvent resolved = verifyAt(AT_T, SECRET, RESOLVED_HEADER, RESOLVED);
    assertEquals(AlertEventType.RESOLVED, resolved.type());
    assertEquals(HealthState.LATE, resolved.alert().kind());
    assertEquals(Instant.parse("2026-12-06T09:41:00Z"), resolved.alert().resolvedAt());
    assertEquals(Instant.parse("2026-12-06T09:40:22.000500Z"), resolved.alert().scheduledAt());
    assertEquals(12, resolved.cursor());
  }

  @Test
  void aFreshSignatureVerifiesWithTheRealClockAndAStringBody() {
    long now = Instant.now().getEpochSecond();
    String header = Webhooks.signatureHeader(SECRET, utf8(OPENED), now);
    assertEquals(7, Webhooks.verify(SECRET, header, utf8(OPENED)).cursor());
    assertEquals("nightly réport", Webhooks.verify(SECRET, header, OPENED).alert().jobName());
  }

  @Test
  void aWrongSecretOrAChangedBodyOrTimestampIsAMismatch() {
    assertEquals(Refusal.MISMATCH, refusal(() -> verifyAt(AT_T, "whsec_other", OPENED_HEADER, OPENED)));
    assertEquals(Refusal.MISMATCH, refusal(() -> verifyAt(AT_T, SECRET, OPENED_HEADER, OPENED.replace("\"cursor\":7", "\"cursor\":8"))));
    assertEquals(Refusal.MISMATCH, refusal(() -> verifyAt(AT_T, SECRET, OPENED_HEADER.replace("t=1796550000", "t=1796550001"), OPENED)));
    assertEquals(Refusal.MISMATCH, refusal(() -> verifyAt(AT_T, SECRET, OPENED_HEADER.substring(0, OPENED_HEADER.length() - 1), OPENED)));
  }

  @Test
  void anOldSignatureIsExpiredAsIsOneFromTooFarAhead() {
    assertEquals(Refusal.EXPIRED, refusal(() -> verifyAt(AT_T.plusSeconds(301), SECRET, OPENED_HEADER, OPENED)));
    assertEquals(Refusal.EXPIRED, refusal(() -> verifyAt(AT_T.minusSeconds(301), SECRET, OPENED_HEADER, OPENED)));
    assertEquals(7, Webhooks.verify(SECRET, OPENED_HEADER, utf8(OPENED), Duration.ofMinutes(10), AT_T.plusSeconds(599)).cursor());
    assertEquals(Refusal.EXPIRED, refusal(() -> Webhooks.verify(SECRET, OPENED_HEADER, utf8(OPENED), Duration.ofSeconds(10), AT_T.plusSeconds(11))));
  }

  @Test
  void duringASecretRotationAnyOfSeveralV1SignaturesVerifies() {
    String fresh = Webhooks.signatureHeader("whsec_new", utf8(OPENED), T).split(",v1=")[1];
    String stale = Webhooks.signatureHeader("whsec_old", utf8(OPENED), T).split(",v1=")[1];
    String header = "t=" + T + ", v1=" + stale + ", v0=abc, v1=" + fresh;
    assertEquals(7, verifyAt(AT_T, "whsec_new", header, OPENED).cursor());
    assertEquals(7, verifyAt(AT_T, "whsec_old", header, OPENED).cursor());
    assertEquals(Refusal.MISMATCH, refusal(() -> verifyAt(AT_T, "whsec_third", header, OPENED)));
    assertEquals(Refusal.NO_SIGNATURE, refusal(() -> verifyAt(AT_T, SECRET, OPENED_HEADER.replace("v1=", "v0="), OPENED)));
  }

  @Test
  void whileASecretIsRotatedARequestSignedWithEitherSecretVerifies() {
    String header = Webhooks.signatureHeader("whsec_new", utf8(OPENED), T);
    Duration tolerance = Webhooks.DEFAULT_TOLERANCE;
    assertEquals(7, Webhooks.verify(List.of("whsec_old", "whsec_new"), header, utf8(OPENED), tolerance, AT_T).cursor());
    assertEquals(7, Webhooks.verify(List.of("whsec_new", "whsec_old"), Webhooks.signatureHeader("whsec_old", utf8(OPENED), T),
        utf8(OPENED), tolerance, AT_T).cursor());
    assertEquals(Refusal.MISMATCH,
        refusal(() -> Webhooks.verify(List.of("whsec_old", "whsec_other"), header, utf8(OPENED), tolerance, AT_T)));
    assertThrows(IllegalArgumentException.class, () -> Webhooks.verify(List.of(), header, utf8(OPENED), tolerance));
  }

  @Test
  void aMissingOrMalformedHeaderOrABodyThatIsNoEvent() {
    assertEquals(Refusal.NO_SIGNATURE, refusal(() -> verifyAt(AT_T, SECRET, null, OPENED)));
    assertEquals(Refusal.NO_SIGNATURE, refusal(() -> verifyAt(AT_T, SECRET, "", OPENED)));
    assertEquals(Refusal.NO_SIGNATURE, refusal(() -> verifyAt(AT_T, SECRET, "v1=abcd", OPENED)));
    assertEquals(Refusal.NO_SIGNATURE, refusal(() -> verifyAt(AT_T, SECRET, "t=soon,v1=" + "0".repeat(64), OPENED)));
    for (String body : new String[] {"hello", "{\"type\":\"alert.opened\",\"cursor\":1}", "[]",
        "{\"type\":\"alert.opened\",\"cursor\":1.5,\"alert\":{}}"}) {
      String header = Webhooks.signatureHeader(SECRET, utf8(body), T);
      assertEquals(Refusal.BAD_BODY, refusal(() -> verifyAt(AT_T, SECRET, header, body)), body);
    }
    String stringCursor = OPENED.replace("\"cursor\":7", "\"cursor\":\"7\""); // int64 as protobuf's JSON may write it
    assertEquals(7, verifyAt(AT_T, SECRET, Webhooks.signatureHeader(SECRET, utf8(stringCursor), T), stringCursor).cursor());
    String newer = OPENED.replace("alert.opened", "alert.acknowledged")
        .replace("\"id\":\"a1\"", "\"id\":\"a1\",\"severity\":\"high\"")
        .replace("HEALTH_STATE_FAILING", "HEALTH_STATE_ON_FIRE");
    AlertEvent e = verifyAt(AT_T, SECRET, Webhooks.signatureHeader(SECRET, utf8(newer), T), newer);
    assertEquals(AlertEventType.UNKNOWN, e.type(), "an event type newer than the client");
    assertEquals(HealthState.UNKNOWN, e.alert().kind(), "a kind newer than the client");
    assertEquals("a1", e.alert().id(), "fields newer than the client are skipped");
  }
}
