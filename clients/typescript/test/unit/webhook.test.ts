import { test } from "node:test";
import assert from "node:assert/strict";

import { WebhookSignatureError } from "../../src/errors.js";
import { verifyWebhook, webhookSignatureHeader } from "../../src/webhook.js";

const SECRET = "whsec_test";
// A body and header made by the server's own code (core/webhook_delivery.body,
// core/webhook_signature.header_value) at t=1796550000: a non-ASCII job name
// checks that the bytes signed are the UTF-8 ones.
const BODY =
  '{"type":"alert.opened","cursor":7,"alert":{"id":"a1","platformId":"p1","jobId":"j1","jobName":"nightly réport",' +
  '"handlerName":"send_report","kind":"HEALTH_STATE_FAILING","state":"ALERT_STATE_OPEN","openedAt":"2026-12-06T09:40:52.123Z",' +
  '"reason":"3 attempts in a row failed","executionId":"x9","pausedJob":true}}';
const SERVER_HEADER = "t=1796550000,v1=2d99eb37ad08ae63d58f4c340c26a011ef2735e14b19cde05ff06fdacefa0af7";

const now = () => Math.floor(Date.now() / 1000);

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WebhookSignatureError, `got ${String(err)}`);
    return err.refusal;
  }
  assert.fail("the request was accepted");
}

test("the server's signature verifies, and the body becomes the event watchAlerts would yield", () => {
  assert.equal(webhookSignatureHeader(SECRET, BODY, 1796550000), SERVER_HEADER);
  const event = verifyWebhook(SECRET, SERVER_HEADER, Buffer.from(BODY), Infinity);
  assert.deepEqual(event, {
    cursor: 7,
    type: "OPENED",
    alert: {
      id: "a1",
      platformId: "p1",
      jobId: "j1",
      jobName: "nightly réport",
      handlerName: "send_report",
      kind: "FAILING",
      state: "OPEN",
      openedAt: new Date("2026-12-06T09:40:52.123Z"),
      resolvedAt: undefined,
      reason: "3 attempts in a row failed",
      executionId: "x9",
      scheduledAt: undefined,
      pausedJob: true,
    },
  });
});

test("a fresh signature verifies, given the body as a string, a Buffer or a Uint8Array", () => {
  const header = webhookSignatureHeader(SECRET, BODY);
  assert.equal(verifyWebhook(SECRET, header, BODY).cursor, 7);
  assert.equal(verifyWebhook(SECRET, header, new TextEncoder().encode(BODY)).alert.jobName, "nightly réport");
  assert.equal(verifyWebhook(SECRET, [header], Buffer.from(BODY)).type, "OPENED"); // node's string[] form
  const resolved = BODY.replace("alert.opened", "alert.resolved");
  assert.equal(verifyWebhook(SECRET, webhookSignatureHeader(SECRET, resolved), resolved).type, "RESOLVED");
});

test("a wrong secret, a changed body or a changed timestamp is a mismatch", () => {
  const t = now();
  const header = webhookSignatureHeader(SECRET, BODY, t);
  assert.equal(refusal(() => verifyWebhook("whsec_other", header, BODY)), "mismatch");
  assert.equal(refusal(() => verifyWebhook(SECRET, header, BODY.replace("cursor\":7", "cursor\":8"))), "mismatch");
  assert.equal(refusal(() => verifyWebhook(SECRET, header.replace(`t=${t}`, `t=${t - 1}`), BODY)), "mismatch");
  assert.equal(refusal(() => verifyWebhook(SECRET, `${header.slice(0, -1)}`, BODY)), "mismatch");
  assert.equal(refusal(() => verifyWebhook(SECRET, header.replace("v1=", "v0="), BODY)), "no signature");
});

test("an old signature is expired, as is one from too far ahead; the tolerance is the caller's", () => {
  const old = webhookSignatureHeader(SECRET, BODY, now() - 301);
  assert.equal(refusal(() => verifyWebhook(SECRET, old, BODY)), "expired");
  assert.equal(verifyWebhook(SECRET, old, BODY, 600).cursor, 7);
  assert.equal(refusal(() => verifyWebhook(SECRET, webhookSignatureHeader(SECRET, BODY, now() + 400), BODY)), "expired");
  assert.equal(refusal(() => verifyWebhook(SECRET, webhookSignatureHeader(SECRET, BODY, now() - 20), BODY, 10)), "expired");
  assert.equal(verifyWebhook(SECRET, webhookSignatureHeader(SECRET, BODY, now() - 200), BODY).cursor, 7);
});

test("during a secret rotation any of several v1 signatures verifies; other schemes are ignored", () => {
  const t = now();
  const fresh = webhookSignatureHeader("whsec_new", BODY, t).split(",v1=")[1];
  const stale = webhookSignatureHeader("whsec_old", BODY, t).split(",v1=")[1];
  const header = `t=${t}, v1=${stale}, v0=abc, v1=${fresh}`;
  assert.equal(verifyWebhook("whsec_new", header, BODY).cursor, 7);
  assert.equal(verifyWebhook("whsec_old", header, BODY).cursor, 7);
  assert.equal(refusal(() => verifyWebhook("whsec_third", header, BODY)), "mismatch");
  assert.equal(verifyWebhook("whsec_new", header.toUpperCase().replace("T=", "t=").replaceAll("V1=", "v1="), BODY).cursor, 7);
});

test("while a secret is rotated, a request signed with either of two secrets verifies", () => {
  const header = webhookSignatureHeader("whsec_new", BODY);
  assert.equal(verifyWebhook(["whsec_old", "whsec_new"], header, BODY).cursor, 7);
  assert.equal(verifyWebhook(["whsec_new", "whsec_old"], webhookSignatureHeader("whsec_old", BODY), BODY).cursor, 7);
  assert.equal(refusal(() => verifyWebhook(["whsec_old", "whsec_other"], header, BODY)), "mismatch");
  assert.throws(() => verifyWebhook([], header, BODY), /needs a secret/);
});

test("a missing or malformed header, a parsed body, a body that is no event", () => {
  assert.equal(refusal(() => verifyWebhook(SECRET, undefined, BODY)), "no signature");
  assert.equal(refusal(() => verifyWebhook(SECRET, "", BODY)), "no signature");
  assert.equal(refusal(() => verifyWebhook(SECRET, "v1=abcd", BODY)), "no signature");
  assert.equal(refusal(() => verifyWebhook(SECRET, `t=soon,v1=${"0".repeat(64)}`, BODY)), "no signature");
  assert.throws(() => verifyWebhook(SECRET, SERVER_HEADER, JSON.parse(BODY) as never), /raw request body/);
  const notJson = "hello";
  assert.equal(refusal(() => verifyWebhook(SECRET, webhookSignatureHeader(SECRET, notJson), notJson)), "bad body");
  const stringCursor = BODY.replace('"cursor":7', '"cursor":"7"'); // int64 as protobuf's JSON may write it
  assert.equal(verifyWebhook(SECRET, webhookSignatureHeader(SECRET, stringCursor), stringCursor).cursor, 7);
  const noAlert = '{"type":"alert.opened","cursor":1}';
  assert.equal(refusal(() => verifyWebhook(SECRET, webhookSignatureHeader(SECRET, noAlert), noAlert)), "bad body");
  const fractional = BODY.replace('"cursor":7', '"cursor":7.5');
  assert.equal(refusal(() => verifyWebhook(SECRET, webhookSignatureHeader(SECRET, fractional), fractional)), "bad body");
  const newer = BODY.replace("alert.opened", "alert.acknowledged").replace('"id":"a1"', '"id":"a1","severity":"high"');
  const event = verifyWebhook(SECRET, webhookSignatureHeader(SECRET, newer), newer);
  assert.equal(event.type, "UNSPECIFIED", "an event type newer than the client");
  assert.equal(event.alert.id, "a1", "fields newer than the client are skipped");
});
