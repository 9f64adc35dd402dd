import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff } from "../../src/backoff.js";

test("the ceiling doubles from 100 ms and stops at 10 s", () => {
  const b = new Backoff(100, 10_000);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => b.ceiling(n)),
    [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000],
  );
});

test("delays are full jitter: within [0, ceiling], both ends reachable", () => {
  const low = new Backoff(100, 10_000, () => 0);
  const high = new Backoff(100, 10_000, () => 0.999999999);
  for (let n = 0; n < 12; n++) {
    assert.equal(low.delay(n), 0);
    assert.equal(high.delay(n), low.ceiling(n));
  }
  const b = new Backoff();
  for (let n = 0; n < 20; n++) {
    for (let i = 0; i < 200; i++) {
      const d = b.delay(n);
      assert.ok(Number.isInteger(d) && d >= 0 && d <= b.ceiling(n), `delay(${n}) = ${d}`);
    }
  }
});

test("random delays spread over the range", () => {
  const b = new Backoff(100, 10_000);
  const seen = Array.from({ length: 2000 }, () => b.delay(10));
  assert.ok(Math.min(...seen) < 1000);
  assert.ok(Math.max(...seen) > 9000);
});

test("a maximum below the base is raised to it; a base must be positive", () => {
  assert.equal(new Backoff(500, 100).ceiling(3), 500);
  assert.throws(() => new Backoff(0, 100), RangeError);
});
