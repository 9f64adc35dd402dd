// The scheduling controls against a live server (pause until, bulk pause
// and resume, backfill, the preview's DST marks, rate limits, job limits
// and dependencies):
//
//   CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=cs_... npm run test:e2e:scheduling
//
// It needs a server with issue 16's RPCs (one without them answers
// UNIMPLEMENTED, and these tests fail), so it is apart from test:e2e until
// then. Without the two variables every test is skipped, saying why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { InvalidArgumentError, NotFoundError, createClient, type Client, type JobInfo } from "../src/index.js";

const address = process.env.CRONSTREAM_E2E_ADDR ?? "";
const apiKey = process.env.CRONSTREAM_E2E_API_KEY ?? "";
const skip =
  address && apiKey ? false : "CRONSTREAM_E2E_ADDR and CRONSTREAM_E2E_API_KEY are not set: no live Cronstream server to run the scheduling scenario against";

const YEARLY = "0 3 1 1 *"; // far from any run's wall clock
const HOUR = 3_600_000;

describe("the scheduling controls against a live server", { timeout: 60_000 }, () => {
  const name = `ts-sched-${randomBytes(4).toString("hex")}`;
  let client: Client;
  const job = (suffix: string, extra: object = {}): Promise<JobInfo> =>
    client.createJob({ name: `${name}-${suffix}`, handlerName: "h", cron: YEARLY, ...extra });

  before(() => {
    if (!skip) {
      client = createClient({ address, apiKey, tls: process.env.CRONSTREAM_E2E_TLS ? true : false });
    }
  });
  after(() => client?.close());

  test("pause until reads back, and an until in the past is refused", { skip }, async () => {
    const j = await job("pause");
    const until = new Date(Math.floor(Date.now() / HOUR) * HOUR + 3 * HOUR);
    const paused = await client.pauseJob(j.id, { until });
    assert.deepEqual([paused.status, paused.pausedUntil], ["PAUSED", until]);
    await assert.rejects(client.pauseJob(j.id, { until: new Date(Date.now() - 60_000) }), InvalidArgumentError);
  });

  test("pause and resume by tag, in batches", { skip }, async () => {
    const tag = `${name}-bulk`;
    for (let i = 0; i < 5; i++) {
      await job(`bulk-${i}`, { tags: [tag] });
    }
    assert.deepEqual(await client.pauseJobs({ tags: [tag] }, { limit: 2 }), { changed: 2, remaining: 3 });
    assert.deepEqual(await client.pauseMatchingJobs({ tags: [tag] }, { limit: 2 }), { changed: 3, remaining: 0 });
    assert.deepEqual(await client.resumeMatchingJobs({ tags: [tag] }), { changed: 5, remaining: 0 });
    await assert.rejects(client.pauseJobs({}), InvalidArgumentError);
  });

  test("a backfill creates each past instant once", { skip }, async () => {
    const j = await client.createJob({ name: `${name}-hourly`, handlerName: "h", cron: "0 * * * *" });
    const end = new Date(Math.floor(Date.now() / HOUR) * HOUR - HOUR);
    const start = new Date(end.getTime() - 6 * HOUR);
    assert.deepEqual(await client.backfillJob(j.id, { start, end }), { instants: 6, created: 6, existing: 0 });
    assert.deepEqual(await client.backfillJob(j.id, { start, end, overlapPolicy: "ALLOW" }), { instants: 6, created: 0, existing: 6 });
    const slots: number[] = [];
    for await (const e of client.listExecutions({ jobId: j.id })) {
      if (e.trigger === "BACKFILL") {
        slots.push(e.scheduledAt!.getTime());
      }
    }
    assert.deepEqual(
      slots.sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5].map((h) => start.getTime() + h * HOUR),
    );
  });

  test("the preview marks a spring jump in Berlin", { skip }, async () => {
    const p = await client.previewSchedule({
      trigger: { cron: "30 2 * * *", timezone: "Europe/Berlin" },
      after: new Date("2026-03-28T00:00:00Z"),
      before: new Date("2026-03-31T00:00:00Z"),
    });
    const jump = new Date("2026-03-29T01:00:00Z");
    assert.deepEqual(p.times, [new Date("2026-03-28T01:30:00Z"), jump, new Date("2026-03-30T00:30:00Z")]);
    const shifted = p.instants.filter((i) => i.shifted);
    assert.deepEqual(
      shifted.map((i) => [i.time, i.localTime, i.scheduledWallTime]),
      [[jump, "2026-03-29T03:00:00+02:00", "02:30"]],
    );
    assert.deepEqual(p.summary.instantsPerMonth, { "2026-03": 3 });
    assert.deepEqual(
      p.summary.clockChanges.map((c) => [c.at, c.offsetBeforeMs, c.offsetAfterMs]),
      [[jump, HOUR, 2 * HOUR]],
    );
  });

  test("rate limits are set, listed and deleted", { skip }, async () => {
    const key = `${name}:{payload.id}`;
    const set = await client.setRateLimit({ key, limit: 10, per: "1s" });
    assert.deepEqual([set.key, set.limit, set.perMs, set.burst], [key, 10, 1000, 10]);
    assert.ok((await client.listRateLimits()).some((r) => r.key === key));
    await client.deleteRateLimit({ key });
    await assert.rejects(client.deleteRateLimit({ key }), NotFoundError);
  });

  test("a job keeps its limits and dependencies", { skip }, async () => {
    const upstream = await job("extract");
    const j = await job("load", { concurrency: { key: "warehouse", limit: 2 }, rateLimitKey: "customer:{payload.id}", dependsOn: [upstream.id], maxWait: "2h" });
    const read = await client.getJob(j.id);
    assert.deepEqual(
      [read.concurrency, read.rateLimitKey, read.dependsOn, read.maxWaitMs],
      [{ key: "warehouse", limit: 2 }, "customer:{payload.id}", [upstream.id], 2 * HOUR],
    );
  });
});
