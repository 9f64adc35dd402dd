// Receiving webhooks: checking the Cronstream-Signature header and reading
// the alert event a request carries (docs/alerts.md#webhooks). Stripe's
// scheme, so what receivers know about it holds: the header is
// `t=<unix seconds>,v1=<hex>`, the hex an HMAC-SHA256, keyed with the
// webhook's secret, of `<t>.<body>`; several v1 entries may come at once
// (while a secret is rotated), and schemes other than v1 are ignored.
import { createHmac, timingSafeEqual } from "node:crypto";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";

import { alertInfo, type AlertEventInfo, type AlertEventTypeName } from "./convert.js";
import { WebhookSignatureError } from "./errors.js";
import { AlertEventType, AlertSchema } from "./gen/cronstream/v1/alert_pb.js";

/** The request header that carries the signature (HTTP header names are case-insensitive; node lowercases them). */
export const WEBHOOK_SIGNATURE_HEADER = "cronstream-signature";

/** How old a signature may be, by default: Stripe's five minutes. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * verifyWebhook checks that a request came from Cronstream, signed with the
 * webhook's secret within toleranceSeconds of now (either way, for clock
 * skew), and returns the alert event it carries, in the same form
 * watchAlerts yields. Otherwise it throws a WebhookSignatureError.
 *
 * While a secret is rotated (docs/alerts.md: a second webhook to the same
 * URL, then the first deleted), pass both secrets: a request signed with
 * either verifies.
 *
 * body must be the raw request body, exactly as received (a Buffer or the
 * string it decodes to), not a parsed object: the signature covers the bytes.
 *
 *     const event = verifyWebhook(secret, req.headers["cronstream-signature"], rawBody);
 */
export function verifyWebhook(
  secret: string | readonly string[],
  signatureHeader: string | string[] | null | undefined,
  body: string | Uint8Array,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): AlertEventInfo {
  const raw = bodyBytes(body);
  const { timestamp, signatures } = parseHeader(signatureHeader);
  const secrets = typeof secret === "string" ? [secret] : secret;
  if (secrets.length === 0) {
    throw new TypeError("cronstream: verifyWebhook needs a secret");
  }
  // Constant time per comparison; a candidate's length is no secret.
  const matches = secrets.some((key) => {
    const expected = Buffer.from(signature(key, timestamp, raw), "ascii");
    return signatures.some((s) => s.length === expected.length && timingSafeEqual(s, expected));
  });
  if (!matches) {
    throw new WebhookSignatureError("mismatch", "no v1 signature matches the secret");
  }
  const age = Math.floor(Date.now() / 1000) - timestamp;
  if (!(Math.abs(age) <= toleranceSeconds)) {
    throw new WebhookSignatureError("expired", `signed ${age} s ago; the tolerance is ${toleranceSeconds} s`);
  }
  return parseEvent(raw);
}

/**
 * The Cronstream-Signature header value of body signed with secret at
 * timestamp (unix seconds, default now): what the server sends, for testing
 * a receiver.
 */
export function webhookSignatureHeader(secret: string, body: string | Uint8Array, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${signature(secret, timestamp, bodyBytes(body))}`;
}

function signature(secret: string, timestamp: number, body: Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

function bodyBytes(body: string | Uint8Array): Buffer {
  if (typeof body === "string") {
    return Buffer.from(body, "utf8");
  }
  if (body instanceof Uint8Array) {
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  throw new TypeError("cronstream: verifyWebhook needs the raw request body (a Buffer or string), not a parsed object");
}

function parseHeader(header: string | string[] | null | undefined): { timestamp: number; signatures: Buffer[] } {
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const item of text.split(",")) {
    const at = item.indexOf("=");
    if (at < 0) {
      continue;
    }
    const key = item.slice(0, at).trim();
    const value = item.slice(at + 1).trim();
    if (key === "t" && /^\d{1,15}$/.test(value)) {
      timestamp = Number(value);
    } else if (key === "v1") {
      signatures.push(Buffer.from(value.toLowerCase(), "ascii"));
    }
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new WebhookSignatureError("no signature", `the ${WEBHOOK_SIGNATURE_HEADER} header ${text ? "lacks t= or v1=" : "is missing"}`);
  }
  return { timestamp, signatures };
}

/** The body's event: `{"type": "alert.opened", "cursor": 12, "alert": {...}}`, the alert in protobuf's JSON mapping. */
function parseEvent(raw: Buffer): AlertEventInfo {
  try {
    const doc = JSON.parse(raw.toString("utf8")) as { type?: unknown; cursor?: unknown; alert?: JsonValue };
    const cursor = typeof doc.cursor === "string" && /^\d+$/.test(doc.cursor) ? Number(doc.cursor) : doc.cursor; // int64 in JSON may be a string
    if (typeof doc.type !== "string" || !Number.isSafeInteger(cursor) || typeof doc.alert !== "object" || doc.alert === null) {
      throw new TypeError("not an alert event: it needs type, cursor and alert");
    }
    return {
      cursor: cursor as number,
      type: eventType(doc.type),
      alert: alertInfo(fromJson(AlertSchema, doc.alert, { ignoreUnknownFields: true })),
    };
  } catch (err) {
    throw new WebhookSignatureError("bad body", `the body is not an alert event: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** "alert.opened" is "OPENED", as watchAlerts names it; a type newer than this client is "UNSPECIFIED". */
function eventType(type: string): AlertEventTypeName {
  const name = type.replace(/^alert\./, "").toUpperCase();
  return name in AlertEventType && name !== "UNSPECIFIED" && Number.isNaN(Number(name)) ? (name as AlertEventTypeName) : "UNSPECIFIED";
}
