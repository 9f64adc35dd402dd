import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { JobSchema } from "../../src/gen/cronstream/v1/job_pb.js";
import { fromPayload, toPayload } from "../../src/payload.js";

test("toPayload keeps JSON values and converts the rest as JSON.stringify does", () => {
  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  const when = new Date("2026-01-02T03:04:05.678Z");
  assert.deepEqual(
    toPayload({ s: "x", n: 1.5, i: 42, t: true, nil: null, list: [1, "a", null, { k: [] }], nested: { deep: { er: 1 } }, when, p: new Point(1, 2), gone: undefined, nan: NaN }),
    { s: "x", n: 1.5, i: 42, t: true, nil: null, list: [1, "a", null, { k: [] }], nested: { deep: { er: 1 } }, when: "2026-01-02T03:04:05.678Z", p: { x: 1, y: 2 }, nan: null },
  );
  assert.deepEqual(toPayload(undefined), {});
  assert.deepEqual(toPayload(null), {});
  assert.deepEqual(toPayload({ toJSON: () => ({ a: 1 }) }), { a: 1 });
});

test("toPayload rejects what is not a JSON object", () => {
  assert.throws(() => toPayload([1, 2]), /must be a JSON object, not an array/);
  assert.throws(() => toPayload("text"), /not string/);
  assert.throws(() => toPayload(3), /not number/);
  assert.throws(() => toPayload({ big: 1n }), /not JSON/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => toPayload(cyclic), TypeError);
  assert.throws(() => toPayload(() => 1), /not undefined/);
});

test("a payload survives the Struct wire format", () => {
  const payload = toPayload({ recipient: "ops@example.com", count: 3, ratio: 0.25, flags: [true, false], meta: { none: null, when: new Date(0) } });
  const job = create(JobSchema, { name: "n", handlerName: "h", payload });
  const back = fromBinary(JobSchema, toBinary(JobSchema, job));
  assert.deepEqual(fromPayload(back.payload), {
    recipient: "ops@example.com",
    count: 3,
    ratio: 0.25,
    flags: [true, false],
    meta: { none: null, when: "1970-01-01T00:00:00.000Z" },
  });
  assert.deepEqual((toJson(JobSchema, back) as { payload: unknown }).payload, back.payload);
});

test("fromPayload gives an empty object for a message without one", () => {
  const back = fromBinary(JobSchema, toBinary(JobSchema, create(JobSchema, { name: "n" })));
  assert.equal(back.payload, undefined);
  assert.deepEqual(fromPayload(back.payload), {});
});
