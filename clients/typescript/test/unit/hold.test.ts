import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";

import { holdMs, MAX_HOLD_MS, waitUntil } from "../../src/hold.js";

const ts = (seconds: number, nanos = 0) => create(TimestampSchema, { seconds: BigInt(seconds), nanos });

test("the hold is start_at - sent_at, to the nanosecond, whatever the server's clock reads", () => {
  assert.equal(holdMs(ts(1_000), ts(1_000, 300_000_000)), 300);
  assert.equal(holdMs(ts(10, 999_000_000), ts(11, 299_000_000)), 300);
  assert.equal(holdMs(ts(4_102_444_800), ts(4_102_444_800, 250_000)), 0.25); // the year 2100
  assert.equal(holdMs(ts(0), ts(0, 1)), 1e-6);
});

test("no hold when start_at is not after sent_at or either is unset; at most MAX_HOLD_MS", () => {
  assert.equal(holdMs(ts(1_000, 5), ts(1_000, 5)), 0);
  assert.equal(holdMs(ts(1_000), ts(999, 900_000_000)), 0);
  assert.equal(holdMs(undefined, ts(1_000)), 0);
  assert.equal(holdMs(ts(1_000), undefined), 0);
  assert.equal(holdMs(undefined, undefined), 0);
  assert.equal(MAX_HOLD_MS, 5_000);
  assert.equal(holdMs(ts(1_000), ts(1_005, 1)), MAX_HOLD_MS);
  assert.equal(holdMs(ts(0), ts(3_600)), MAX_HOLD_MS);
});

test("waitUntil never resolves before its instant", async () => {
  const signal = new AbortController().signal;
  for (const ms of [0.3, 1, 2.5, 7.7, 15]) {
    const due = performance.now() + ms;
    assert.equal(await waitUntil(due, signal), true);
    assert.ok(performance.now() >= due, `${performance.now() - due} ms early`);
  }
  assert.equal(await waitUntil(performance.now() - 10, signal), true); // past: at once
});

test("waitUntil resolves false when aborted, before or while it waits", async () => {
  assert.equal(await waitUntil(performance.now() + 10_000, AbortSignal.abort()), false);
  assert.equal(await waitUntil(performance.now() - 1, AbortSignal.abort()), false);
  const c = new AbortController();
  const began = performance.now();
  const waiting = waitUntil(began + 10_000, c.signal);
  setTimeout(() => c.abort(), 10);
  assert.equal(await waiting, false);
  assert.ok(performance.now() - began < 5_000);
});
