import { test } from "node:test";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";

import { createClient } from "../../src/client.js";
import {
  CronstreamError,
  FailedPreconditionError,
  InvalidArgumentError,
  NonRetryableError,
  NotFoundError,
  UnauthenticatedError,
  fieldViolations,
  isNonRetryable,
  translate,
} from "../../src/errors.js";

// A google.rpc.Status as the server encodes it (made by the server's own
// libraries: google.rpc.status_pb2 with an Any-packed
// google.rpc.BadRequest, as cronstream_server.api.errors.to_status does).
const STATUS_DETAILS_BIN =
  "CAMSC2ludmFsaWQgam9iGnoKKXR5cGUuZ29vZ2xlYXBpcy5jb20vZ29vZ2xlLnJwYy5CYWRSZXF1ZXN0Ek0KNQoTam9iLmNyb24uZXhwcmVzc2lvbhIebWludXRlIDYxIGlzIG91dCBvZiByYW5nZSAwLTU5ChQKCGpvYi5uYW1lEghyZXF1aXJlZA==";

/**
 * A bare HTTP/2 server answering every call with a gRPC status, the way
 * grpcio does: "trailers-only" (the status in the headers) or in trailers
 * after the headers.
 */
async function statusServer(status: number, message: string, detailsBin: string | undefined, trailersOnly: boolean) {
  const server = http2.createServer();
  const seen: http2.IncomingHttpHeaders[] = [];
  server.on("stream", (stream, headers) => {
    seen.push(headers);
    const statusHeaders = {
      "grpc-status": String(status),
      "grpc-message": encodeURIComponent(message),
      ...(detailsBin ? { "grpc-status-details-bin": detailsBin.replace(/=+$/, "") } : {}),
    };
    stream.on("data", () => {});
    stream.on("end", () => {
      if (trailersOnly) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...statusHeaders }, { endStream: true });
      } else {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(statusHeaders));
        stream.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

for (const trailersOnly of [true, false]) {
  test(`INVALID_ARGUMENT with a BadRequest detail becomes an InvalidArgumentError (${trailersOnly ? "trailers-only" : "trailers"})`, async () => {
    const srv = await statusServer(Code.InvalidArgument, "invalid job", STATUS_DETAILS_BIN, trailersOnly);
    const client = createClient({ address: srv.address, tls: false, apiKey: "k1" });
    try {
      const err = await client.createJob({ name: "x", handlerName: "h", every: "1s" }).then(
        () => assert.fail("no error"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.ok(err instanceof CronstreamError);
      assert.ok(err instanceof ConnectError);
      assert.ok(!(err instanceof NotFoundError));
      assert.equal(ConnectError.from(err), err);
      assert.equal(err.code, Code.InvalidArgument);
      assert.equal(err.rawMessage, "invalid job");
      assert.deepEqual(err.violations, [
        { field: "job.cron.expression", description: "minute 61 is out of range 0-59" },
        { field: "job.name", description: "required" },
      ]);
      assert.deepEqual(fieldViolations(err), err.violations);
      assert.match(err.message, /job\.cron\.expression: minute 61 is out of range 0-59; job\.name: required/);
      assert.equal(srv.seen[0]!["authorization"], "Bearer k1");
      assert.match(String(srv.seen[0]!["user-agent"]), /^cronstream-typescript\/\S+ /);
    } finally {
      client.close();
      await srv.close();
    }
  });
}

test("each typed code becomes its error; other codes stay ConnectErrors", async () => {
  const cases: [Code, (new (...a: never[]) => Error) | undefined][] = [
    [Code.NotFound, NotFoundError],
    [Code.Unauthenticated, UnauthenticatedError],
    [Code.FailedPrecondition, FailedPreconditionError],
    [Code.InvalidArgument, InvalidArgumentError],
    [Code.Unavailable, undefined],
    [Code.Internal, undefined],
  ];
  for (const [code, Want] of cases) {
    const srv = await statusServer(code, "nope", undefined, true);
    const client = createClient({ address: `http://${srv.address}` });
    try {
      const err = await client.getJob("j").catch((e: unknown) => e);
      assert.ok(err instanceof ConnectError, String(err));
      assert.equal(err.code, code);
      if (Want) {
        assert.ok(err instanceof Want, `${Code[code]}: ${err}`);
      } else {
        assert.ok(!(err instanceof CronstreamError), `${Code[code]}: ${err}`);
      }
      if (code === Code.InvalidArgument) {
        assert.deepEqual((err as InvalidArgumentError).violations, []);
      }
    } finally {
      client.close();
      await srv.close();
    }
  }
});

test("translate leaves non-ConnectErrors and typed errors alone", () => {
  const plain = new Error("x");
  assert.equal(translate(plain), plain);
  const typed = translate(new ConnectError("gone", Code.NotFound));
  assert.ok(typed instanceof NotFoundError);
  assert.equal(translate(typed), typed);
  assert.deepEqual(fieldViolations(plain), []);
  assert.deepEqual(fieldViolations(undefined), []);
});

test("NonRetryableError is found through the cause chain", () => {
  assert.ok(isNonRetryable(new NonRetryableError("no such recipient")));
  assert.ok(isNonRetryable(new Error("wrapped", { cause: new NonRetryableError("inner") })));
  assert.ok(!isNonRetryable(new Error("plain")));
  assert.ok(!isNonRetryable("a string"));
  const loop = new Error("loop") as Error & { cause: unknown };
  loop.cause = loop;
  assert.ok(!isNonRetryable(loop));
});
