import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff } from "../../src/backoff.js";

// The same rule in all four clients: after the n-th consecutive failure
// (from 0), wait uniform(0, min(5 s, 100 ms * 2^n)).
test("the ceiling doubles from 100 ms and stops at 5 s", () => {
  const b = new Backoff();
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => b.ceiling(n)),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000],
  );
});

test("delays are full jitter: uniform in [0, ceiling)", () => {
  const low = new Backoff(100, 5000, () => 0);
  const mid = new Backoff(100, 5000, () => 0.5);
  const high = new Backoff(100, 5000, () => 0.999999999);
  for (let n = 0; n < 12; n++) {
    assert.equal(low.delay(n), 0);
    assert.equal(mid.delay(n), low.ceiling(n) / 2);
    assert.ok(high.delay(n) < low.ceiling(n) && high.delay(n) > low.ceiling(n) - 0.001);
  }
  const b = new Backoff();
  for (let n = 0; n < 20; n++) {
    for (let i = 0; i < 200; i++) {
      const d = b.delay(n);
      assert.ok(d >= 0 && d < b.ceiling(n) && d < 5000, `delay(${n}) = ${d}`);
    }
  }
});

test("random delays spread over the range", () => {
  const b = new Backoff();
  const seen = Array.from({ length: 2000 }, () => b.delay(10));
  assert.ok(Math.min(...seen) < 500);
  assert.ok(Math.max(...seen) > 4500);
});

test("a maximum below the base is raised to it; a base must be positive", () => {
  assert.equal(new Backoff(500, 100).ceiling(3), 500);
  assert.throws(() => new Backoff(0, 100), RangeError);
});
