// The dashboard's way in: the generated SchedulerService client over
// Connect's gRPC-web transport (HTTP/1.1, as a browser speaks it), against a
// live server's HTTP port:
//
//   CRONSTREAM_E2E_HTTP_URL=http://127.0.0.1:8080 CRONSTREAM_E2E_API_KEY=cs_... npm run test:e2e:web
//
// Without the two variables every test is skipped, saying why.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";

import { fieldViolations } from "../src/errors.js";
import { SchedulerService } from "../src/gen/cronstream/v1/scheduler_service_pb.js";

const baseUrl = process.env.CRONSTREAM_E2E_HTTP_URL ?? "";
const apiKey = process.env.CRONSTREAM_E2E_API_KEY ?? "";
const skip =
  baseUrl && apiKey ? false : "CRONSTREAM_E2E_HTTP_URL and CRONSTREAM_E2E_API_KEY are not set: no live HTTP port to run against";

describe("gRPC-web through the HTTP port", { timeout: 30_000 }, () => {
  const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  const scheduler: Client<typeof SchedulerService> = createClient(SchedulerService, transport);
  const headers = { authorization: `Bearer ${apiKey}` };
  const name = `web-${randomBytes(4).toString("hex")}`;

  test("a job created over gRPC-web reads back", { skip }, async () => {
    const created = await scheduler.createJob(
      { job: { name, handlerName: "h", trigger: { case: "cron", value: { expression: "30 2 * * *", timezone: "Europe/Berlin" } } } },
      { headers },
    );
    assert.equal(created.job?.name, name);
    const got = await scheduler.getJob({ id: created.job!.id }, { headers });
    assert.deepEqual([got.job?.name, got.job?.trigger.case], [name, "cron"]);
  });

  test("a bad request's field violations reach the client", { skip }, async () => {
    const bad = scheduler.createJob(
      { job: { name: `${name}-bad`, handlerName: "h", trigger: { case: "cron", value: { expression: "61 * * * *" } } } },
      { headers },
    );
    const err = await bad.then(
      () => assert.fail("a bad cron was accepted"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.InvalidArgument);
    assert.deepEqual(
      fieldViolations(err).map((v) => v.field),
      ["job.cron.expression"],
    );
  });

  test("a wrong key is unauthenticated", { skip }, async () => {
    await assert.rejects(
      scheduler.listJobs({}, { headers: { authorization: "Bearer cs_wrong" } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated,
    );
  });
});
