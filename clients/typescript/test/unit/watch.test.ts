import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";

import { createClient, type Client } from "../../src/client.js";
import type { AlertEventInfo } from "../../src/convert.js";
import { InvalidArgumentError, UnauthenticatedError } from "../../src/errors.js";
import type { WatchAlertsOptions } from "../../src/watch.js";
import { FakeAlertWatch, serve, until, type WatchStep } from "../support/fake.js";

interface Watching {
  fake: FakeAlertWatch;
  client: Client;
  /** A backoff of a few milliseconds, and the warnings kept in `warnings`. */
  options: WatchAlertsOptions;
  warnings: string[];
}

/** Runs body with a client of a FakeAlertWatch playing script (a legacy server's when legacy). */
async function watching(script: WatchStep[], body: (w: Watching) => Promise<void>, legacy = false): Promise<void> {
  const fake = new FakeAlertWatch(script, legacy);
  const server = await serve(fake.routes);
  const client = createClient({ address: server.address, apiKey: "cs_key" });
  const warnings: string[] = [];
  const options = { minBackoffMs: 1, maxBackoffMs: 5, logger: { warn: (m: string) => warnings.push(m) } };
  try {
    await body({ fake, client, options, warnings });
  } finally {
    client.close();
    await server.close();
  }
}

/** Reads events until one with cursor `last`, then aborts the watch. */
async function readUntil(events: AsyncIterable<AlertEventInfo>, stop: AbortController, last: number): Promise<AlertEventInfo[]> {
  const got: AlertEventInfo[] = [];
  for await (const e of events) {
    got.push(e);
    if (e.cursor === last) {
      stop.abort();
    }
  }
  return got;
}

test("a broken stream is resumed after the last cursor yielded: every event once", { timeout: 10_000 }, () =>
  watching(
    [
      { cursors: [1, 2], end: new ConnectError("connection reset", Code.Unavailable) },
      { cursors: [], end: new ConnectError("server restarting", Code.Internal) },
      { cursors: [2, 3, 4], end: "hang" }, // 2 again: a server that repeats one is not believed
    ],
    async (w) => {
      const stop = new AbortController();
      const got = await readUntil(w.client.watchAlerts({ ...w.options, signal: stop.signal }), stop, 4);
      assert.deepEqual(got.map((e) => e.cursor), [1, 2, 3, 4]);
      assert.deepEqual(w.fake.calls.map((c) => c.afterCursor), [0n, 2n, 2n]);
      assert.equal(w.fake.calls[1]!.header.get("authorization"), "Bearer cs_key");
      assert.equal(w.warnings.length, 2);
      assert.match(w.warnings[0]!, /connection reset.*resuming after cursor 2/);
      await until(() => w.fake.left === 3, 2000, "the last stream to be closed");
    },
  ));

test("a watch from now resumes after the cursor it started from, even before its first event", { timeout: 10_000 }, () =>
  watching(
    [
      { start: 7, cursors: [], end: new ConnectError("connection reset", Code.Unavailable) },
      { cursors: [8], end: "hang" },
    ],
    async (w) => {
      const stop = new AbortController();
      const got = await readUntil(w.client.watchAlerts({ ...w.options, signal: stop.signal }), stop, 8);
      assert.deepEqual(got.map((e) => e.cursor), [8]);
      assert.deepEqual(w.fake.calls.map((c) => c.afterCursor), [0n, 7n]);
      assert.match(w.warnings[0]!, /connection reset.*resuming after cursor 7/);
    },
  ));

test("a server from before the response's cursor: the events' own cursors", { timeout: 10_000 }, () =>
  watching(
    [
      { cursors: [1, 2], end: new ConnectError("connection reset", Code.Unavailable) },
      { cursors: [2, 3], end: "hang" },
    ],
    async (w) => {
      const stop = new AbortController();
      const got = await readUntil(w.client.watchAlerts({ ...w.options, signal: stop.signal }), stop, 3);
      assert.deepEqual(got.map((e) => e.cursor), [1, 2, 3]);
      assert.deepEqual(w.fake.calls.map((c) => c.afterCursor), [0n, 2n]);
    },
    true,
  ));

test("events are plain views: enum names and Dates", { timeout: 10_000 }, () =>
  watching([{ cursors: [1, 2], end: "hang" }], async (w) => {
    const stop = new AbortController();
    const [opened, resolved] = await readUntil(w.client.watchAlerts({ ...w.options, signal: stop.signal }), stop, 2);
    assert.deepEqual(opened, {
      cursor: 1,
      type: "OPENED",
      alert: {
        id: "a1",
        platformId: "",
        jobId: "j1",
        jobName: "job 1",
        handlerName: "",
        kind: "FAILING",
        state: "OPEN",
        openedAt: new Date(1_800_000_001_000),
        resolvedAt: undefined,
        reason: "reason 1",
        executionId: "",
        scheduledAt: undefined,
        pausedJob: false,
      },
    });
    assert.equal(resolved!.type, "RESOLVED");
    assert.equal(resolved!.alert.kind, "LATE");
    assert.deepEqual(resolved!.alert.resolvedAt, new Date(1_800_000_102_000));
  }));

test("afterCursor starts the watch there, and a server ending the stream cleanly is reconnected", { timeout: 10_000 }, () =>
  watching(
    [
      { cursors: [41], end: "close" },
      { cursors: [42], end: "hang" },
    ],
    async (w) => {
      const stop = new AbortController();
      const got = await readUntil(w.client.watchAlerts({ ...w.options, afterCursor: 40, signal: stop.signal }), stop, 42);
      assert.deepEqual(got.map((e) => e.cursor), [41, 42]);
      assert.deepEqual(w.fake.calls.map((c) => c.afterCursor), [40n, 41n]);
      assert.throws(() => w.client.watchAlerts({ afterCursor: -1 })[Symbol.asyncIterator](), RangeError);
    },
  ));

test("UNAUTHENTICATED ends the watch with the typed error, after the events before it", { timeout: 10_000 }, () =>
  watching(
    [
      { cursors: [1], end: new ConnectError("connection reset", Code.Unavailable) },
      { cursors: [], end: new ConnectError("key revoked", Code.Unauthenticated) },
    ],
    async (w) => {
      const got: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const e of w.client.watchAlerts(w.options)) {
            got.push(e.cursor);
          }
        })(),
        UnauthenticatedError,
      );
      assert.deepEqual(got, [1]);
      assert.equal(w.fake.calls.length, 2, "no reconnection after UNAUTHENTICATED");
    },
  ));

test("INVALID_ARGUMENT ends the watch with the typed error", { timeout: 10_000 }, () =>
  watching([{ cursors: [], end: new ConnectError("after_cursor: must not be negative", Code.InvalidArgument) }], async (w) => {
    await assert.rejects(
      (async () => {
        for await (const e of w.client.watchAlerts(w.options)) {
          assert.fail(`unexpected event ${e.cursor}`);
        }
      })(),
      InvalidArgumentError,
    );
    assert.equal(w.fake.calls.length, 1);
  }));

test("leaving the loop closes the stream", { timeout: 10_000 }, () =>
  watching([{ cursors: [1, 2, 3], end: "hang" }], async (w) => {
    for await (const e of w.client.watchAlerts(w.options)) {
      assert.equal(e.cursor, 1);
      break;
    }
    await until(() => w.fake.left === 1, 2000, "the server to see the client leave");
  }));

test("aborting during the backoff ends the watch quietly, at once", { timeout: 10_000 }, () =>
  watching([{ cursors: [], end: new ConnectError("down", Code.Unavailable) }], async (w) => {
    const stop = new AbortController();
    const options = { ...w.options, minBackoffMs: 60_000, maxBackoffMs: 60_000, signal: stop.signal };
    const loop = (async () => {
      for await (const e of w.client.watchAlerts(options)) {
        assert.fail(`unexpected event ${e.cursor}`);
      }
    })();
    await until(() => w.warnings.length === 1, 2000, "the first reconnection to be planned");
    stop.abort();
    await loop; // resolves now, not after a minute
    assert.equal(w.fake.calls.length, 1);
  }));
