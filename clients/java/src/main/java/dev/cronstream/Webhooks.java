package dev.cronstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Timestamp;
import dev.cronstream.WebhookSignatureException.Refusal;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Receiving webhooks (docs/alerts.md#webhooks): checking a request's {@code Cronstream-Signature}
 * header and reading the alert event it carries. The scheme is Stripe's: the header is {@code
 * t=<unix seconds>,v1=<hex>}, the hex an HMAC-SHA256, keyed with the webhook's secret, of {@code
 * <t>.<body>}; several {@code v1} entries may come at once (while a secret is rotated), and
 * schemes other than {@code v1} are ignored. Plain static methods, for any HTTP framework:
 *
 * <pre>{@code
 * // in a handler that has the raw body bytes and the header:
 * try {
 *   AlertEvent event = Webhooks.verify(secret, request.getHeader("Cronstream-Signature"), rawBody);
 *   ...; // respond 204
 * } catch (WebhookSignatureException e) {
 *   ...; // respond 400
 * }
 * }</pre>
 */
public final class Webhooks {
  private Webhooks() {}

  /** The request header that carries the signature. */
  public static final String SIGNATURE_HEADER = "Cronstream-Signature";
  /** How old a signature may be by default: Stripe's five minutes. */
  public static final Duration DEFAULT_TOLERANCE = Duration.ofMinutes(5);

  private static final HexFormat HEX = HexFormat.of();

  /** {@link #verify(String, String, byte[], Duration)} with the default tolerance of 5 minutes. */
  public static AlertEvent verify(String secret, String signatureHeader, byte[] body) {
    return verify(secret, signatureHeader, body, DEFAULT_TOLERANCE);
  }

  /** For a body a framework decoded to a String: the signature covers its UTF-8 bytes. */
  public static AlertEvent verify(String secret, String signatureHeader, String body) {
    return verify(secret, signatureHeader, body.getBytes(StandardCharsets.UTF_8), DEFAULT_TOLERANCE);
  }

  /**
   * Checks that a request came from Cronstream, signed with the webhook's {@code secret} within
   * {@code tolerance} of now (either way, for clock skew), and returns the alert event it carries,
   * in the form {@link CronstreamClient#watchAlerts} hands out; otherwise throws a {@link
   * WebhookSignatureException}. {@code body} must be the raw request body, exactly as received.
   * The signatures are compared in constant time.
   */
  public static AlertEvent verify(String secret, String signatureHeader, byte[] body, Duration tolerance) {
    return verify(List.of(secret), signatureHeader, body, tolerance, Instant.now());
  }

  /**
   * As {@link #verify(String, String, byte[], Duration)}, while a secret is rotated (docs/alerts.md:
   * a second webhook to the same URL, then the first deleted): a request signed with any of
   * {@code secrets} verifies.
   */
  public static AlertEvent verify(Collection<String> secrets, String signatureHeader, byte[] body, Duration tolerance) {
    return verify(secrets, signatureHeader, body, tolerance, Instant.now());
  }

  static AlertEvent verify(String secret, String signatureHeader, byte[] body, Duration tolerance, Instant now) {
    return verify(List.of(secret), signatureHeader, body, tolerance, now);
  }

  static AlertEvent verify(Collection<String> secrets, String signatureHeader, byte[] body, Duration tolerance, Instant now) {
    if (secrets.isEmpty()) {
      throw new IllegalArgumentException("cronstream: verifying a webhook needs a secret");
    }
    Header header = Header.parse(signatureHeader);
    boolean matches = false;
    for (String secret : secrets) {
      byte[] expected = signature(secret, header.timestamp(), body).getBytes(StandardCharsets.US_ASCII);
      for (byte[] candidate : header.signatures()) {
        matches |= MessageDigest.isEqual(expected, candidate);
      }
    }
    if (!matches) {
      throw new WebhookSignatureException(Refusal.MISMATCH, "no v1 signature matches the secret", null);
    }
    long age = now.getEpochSecond() - header.timestamp();
    if (Math.abs(age) > tolerance.getSeconds()) {
      throw new WebhookSignatureException(Refusal.EXPIRED,
          "signed " + age + " s ago; the tolerance is " + tolerance.getSeconds() + " s", null);
    }
    return event(body);
  }

  /**
   * The {@code Cronstream-Signature} value of {@code body} signed with {@code secret} at {@code
   * timestamp} (unix seconds): what the server sends, for testing a receiver.
   */
  public static String signatureHeader(String secret, byte[] body, long timestamp) {
    return "t=" + timestamp + ",v1=" + signature(secret, timestamp, body);
  }

  private static String signature(String secret, long timestamp, byte[] body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      mac.update((timestamp + ".").getBytes(StandardCharsets.US_ASCII));
      return HEX.formatHex(mac.doFinal(body));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cronstream: HmacSHA256 is unavailable", e); // every JDK has it
    }
  }

  private record Header(long timestamp, List<byte[]> signatures) {
    static Header parse(String header) {
      Long timestamp = null;
      List<byte[]> signatures = new ArrayList<>();
      for (String item : header == null ? new String[0] : header.split(",")) {
        int at = item.indexOf('=');
        if (at < 0) {
          continue;
        }
        String key = item.substring(0, at).strip();
        String value = item.substring(at + 1).strip();
        if (key.equals("t") && value.matches("\\d{1,15}")) {
          timestamp = Long.parseLong(value);
        } else if (key.equals("v1")) {
          signatures.add(value.toLowerCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII));
        }
      }
      if (timestamp == null || signatures.isEmpty()) {
        throw new WebhookSignatureException(Refusal.NO_SIGNATURE, "the " + SIGNATURE_HEADER + " header "
            + (header == null || header.isBlank() ? "is missing" : "lacks t= or v1="), null);
      }
      return new Header(timestamp, signatures);
    }
  }

  /** The body's event: {@code {"type": "alert.opened", "cursor": 12, "alert": {...}}}. */
  private static AlertEvent event(byte[] body) {
    try {
      JsonNode doc = Json.MAPPER.readTree(body);
      JsonNode type = doc.path("type");
      JsonNode cursor = doc.path("cursor");
      JsonNode alert = doc.path("alert");
      // int64 in protobuf's JSON may be a string
      boolean integral = cursor.isIntegralNumber() && cursor.canConvertToLong()
          || cursor.isTextual() && cursor.asText().matches("\\d{1,18}");
      if (!type.isTextual() || !integral || !alert.isObject()) {
        throw new IllegalArgumentException("not an alert event: it needs type, cursor and alert");
      }
      return new AlertEvent(cursor.asLong(), eventType(type.asText()), Convert.alert(alert(alert)));
    } catch (Exception e) {
      throw new WebhookSignatureException(Refusal.BAD_BODY, "the body is not an alert event: " + e.getMessage(), e);
    }
  }

  /** {@code "alert.opened"} is {@link AlertEventType#OPENED}; a type newer than this client is UNKNOWN. */
  private static AlertEventType eventType(String type) {
    String name = type.startsWith("alert.") ? type.substring("alert.".length()) : type;
    for (AlertEventType t : AlertEventType.values()) {
      if (t != AlertEventType.UNKNOWN && t.name().equalsIgnoreCase(name)) {
        return t;
      }
    }
    return AlertEventType.UNKNOWN;
  }

  /**
   * An Alert from its protobuf JSON mapping (camelCase names, enum names, RFC 3339 times), by the
   * message's descriptor: names this client does not know are skipped.
   */
  static dev.cronstream.v1.Alert alert(JsonNode json) {
    dev.cronstream.v1.Alert.Builder b = dev.cronstream.v1.Alert.newBuilder();
    for (FieldDescriptor f : dev.cronstream.v1.Alert.getDescriptor().getFields()) {
      JsonNode v = json.get(f.getJsonName());
      if (v == null || v.isNull()) {
        continue;
      }
      switch (f.getJavaType()) {
        case STRING -> b.setField(f, v.asText());
        case BOOLEAN -> b.setField(f, v.asBoolean());
        case ENUM -> {
          EnumValueDescriptor e = v.isInt()
              ? f.getEnumType().findValueByNumber(v.asInt())
              : f.getEnumType().findValueByName(v.asText());
          if (e != null) {
            b.setField(f, e); // unknown: unset, which reads as UNKNOWN
          }
        }
        case MESSAGE -> {
          if (f.getMessageType().equals(Timestamp.getDescriptor())) {
            b.setField(f, Convert.timestamp(OffsetDateTime.parse(v.asText()).toInstant()));
          }
        }
        default -> {
          // no field of another type yet
        }
      }
    }
    return b.build();
  }
}
