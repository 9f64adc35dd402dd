// In-process fakes of the Cronstream services, served over real gRPC
// (HTTP/2, connect-node's server adapter), for the unit tests.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";

import { AlertEventType, AlertState, type AlertEventSchema } from "../../src/gen/cronstream/v1/alert_pb.js";
import { HealthState } from "../../src/gen/cronstream/v1/job_pb.js";
import { SchedulerService, type WatchAlertsRequest } from "../../src/gen/cronstream/v1/scheduler_service_pb.js";
import { WorkerService, type ConnectRequest, type ConnectResponseSchema } from "../../src/gen/cronstream/v1/worker_service_pb.js";
import { Outbox } from "../../src/outbox.js";

export interface FakeServer {
  address: string; // http://127.0.0.1:port
  close(): Promise<void>;
}

/** Serves routes over plaintext HTTP/2 on a free loopback port. */
export async function serve(routes: (router: ConnectRouter) => void): Promise<FakeServer> {
  const server = http2.createServer(connectNodeAdapter({ routes }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) {
          s.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

type ResponseInit = MessageInitShape<typeof ConnectResponseSchema>;
type Case = NonNullable<ConnectRequest["msg"]["case"]>;
type Of<C extends Case> = Extract<ConnectRequest["msg"], { case: C }>["value"];

/** One Connect stream, seen from the fake server. */
export class FakeSession {
  readonly received: ConnectRequest[] = [];
  readonly out = new Outbox<ResponseInit>();
  readonly header: Headers;
  error: ConnectError | undefined;
  closedByClient = false;
  private readonly waiters: (() => void)[] = [];
  private cursor = 0;

  constructor(ctx: HandlerContext) {
    this.header = ctx.requestHeader;
  }

  /** @internal */
  push(m: ConnectRequest): void {
    this.received.push(m);
    this.wake();
  }

  /** @internal */
  clientDone(): void {
    this.closedByClient = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) {
      w();
    }
  }

  /**
   * The next message of this case (skipping others, such as heartbeats,
   * that came before it), in order of arrival.
   */
  async expect<C extends Case>(kind: C, timeoutMs = 5000): Promise<Of<C>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const m = this.received[this.cursor++]!;
        if (m.msg.case === kind) {
          return m.msg.value as Of<C>;
        }
      }
      if (this.closedByClient) {
        throw new Error(`stream ended before a ${kind} message`);
      }
      const left = until - Date.now();
      if (left <= 0) {
        throw new Error(`no ${kind} message within ${timeoutMs} ms (got ${this.received.map((m) => m.msg.case).join(", ")})`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** All messages of a case received so far. */
  all<C extends Case>(kind: C): Of<C>[] {
    return this.received.filter((m) => m.msg.case === kind).map((m) => m.msg.value as Of<C>);
  }

  send(m: ResponseInit): void {
    this.out.push(m);
  }

  /** Answers hello; acceptsBatches says the server takes `results` (an older server does not). */
  welcome(heartbeatMs = 60_000, { acceptsBatches = false } = {}): void {
    this.send({
      msg: {
        case: "welcome",
        value: {
          sessionId: `session-${Math.random().toString(16).slice(2)}`,
          heartbeatInterval: { seconds: BigInt(Math.floor(heartbeatMs / 1000)), nanos: (heartbeatMs % 1000) * 1e6 },
          acceptsBatches,
        },
      },
    });
  }

  assign(a: { executionId: string; handlerName: string; attempt?: number; payload?: Record<string, never> | object; deadline?: Date; traceparent?: string }): void {
    const deadline = a.deadline;
    this.send({
      msg: {
        case: "assignment",
        value: {
          executionId: a.executionId,
          jobId: `job-of-${a.executionId}`,
          handlerName: a.handlerName,
          attempt: a.attempt ?? 1,
          payload: (a.payload ?? {}) as never,
          scheduledAt: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 },
          ...(deadline ? { deadline: { seconds: BigInt(Math.floor(deadline.getTime() / 1000)), nanos: (deadline.getTime() % 1000) * 1e6 } } : {}),
          traceparent: a.traceparent ?? "",
        },
      },
    });
  }

  /**
   * Sends one `assignments` message. sentAtMs and each startAtMs are epoch
   * milliseconds on the server's clock (which need not be the worker's);
   * an absent one leaves the field unset.
   */
  assignBatch(items: { executionId: string; handlerName: string; attempt?: number; startAtMs?: number }[], sentAtMs?: number): void {
    this.send({
      msg: {
        case: "assignments",
        value: {
          assignments: items.map((a) => ({
            executionId: a.executionId,
            jobId: `job-of-${a.executionId}`,
            handlerName: a.handlerName,
            attempt: a.attempt ?? 1,
            scheduledAt: timestampFromMs(Date.now()),
            ...(a.startAtMs === undefined ? {} : { startAt: timestampFromMs(a.startAtMs) }),
          })),
          ...(sentAtMs === undefined ? {} : { sentAt: timestampFromMs(sentAtMs) }),
        },
      },
    });
  }

  ack(executionId: string): void {
    this.send({ msg: { case: "resultAck", value: { executionId } } });
  }

  /** Ends the stream: cleanly, or with an error status. */
  end(error?: ConnectError): void {
    this.error = error;
    this.out.close();
  }
}

/** A fake WorkerService: each Connect call becomes a FakeSession. */
export class FakeWorkerService {
  readonly sessions: FakeSession[] = [];
  private readonly waiters: (() => void)[] = [];
  /** Set to fail every new stream at once with this error. */
  reject: ConnectError | undefined;

  routes = (router: ConnectRouter): void => {
    router.service(WorkerService, {
      connect: this.connect.bind(this),
    });
  };

  private async *connect(requests: AsyncIterable<ConnectRequest>, ctx: HandlerContext) {
    if (this.reject) {
      throw this.reject;
    }
    const session = new FakeSession(ctx);
    void (async () => {
      try {
        for await (const m of requests) {
          session.push(m);
        }
      } catch {
        // the client cancelled
      }
      session.clientDone();
    })();
    ctx.signal.addEventListener("abort", () => session.end(), { once: true });
    this.sessions.push(session);
    for (const w of this.waiters.splice(0)) {
      w();
    }
    for await (const m of session.out) {
      yield m;
    }
    if (session.error) {
      throw session.error;
    }
  }

  /** The n-th session (from 0), once the worker has opened it. */
  async session(n: number, timeoutMs = 5000): Promise<FakeSession> {
    const until = Date.now() + timeoutMs;
    while (this.sessions.length <= n) {
      const left = until - Date.now();
      if (left <= 0) {
        throw new Error(`no session #${n} within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.sessions[n]!;
  }
}

/** A logger that keeps quiet. */
export const quiet = { info() {}, warn() {} };

/** Resolves once cond() holds, polling. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * One WatchAlerts call of a FakeAlertWatch's script: the cursors of the
 * events it sends, then how it ends. A call from 0 first sends a response
 * with only the cursor it starts after (start, default 0), as the server does.
 */
export interface WatchStep {
  start?: number;
  cursors: number[];
  /** "hang": stays open until the client leaves; "close": ends cleanly; an error: ends with it. */
  end: "hang" | "close" | ConnectError;
}

/**
 * A SchedulerService whose WatchAlerts follows a script, a step per call
 * (the last step repeats), recording what each call asked for. A legacy one
 * plays a server from before WatchAlertsResponse.cursor: no start response,
 * events without the response's cursor.
 */
export class FakeAlertWatch {
  readonly calls: { afterCursor: bigint; header: Headers }[] = [];
  /** How many calls the client has left (cancelled or finished). */
  left = 0;

  constructor(
    private readonly script: WatchStep[],
    private readonly legacy = false,
  ) {}

  routes = (router: ConnectRouter): void => {
    router.service(SchedulerService, { watchAlerts: this.watch.bind(this) });
  };

  private async *watch(req: WatchAlertsRequest, ctx: HandlerContext) {
    const step = this.script[Math.min(this.calls.length, this.script.length - 1)]!;
    this.calls.push({ afterCursor: req.afterCursor, header: ctx.requestHeader });
    try {
      if (req.afterCursor === 0n && !this.legacy) {
        yield { cursor: BigInt(step.start ?? 0) };
      }
      for (const cursor of step.cursors) {
        yield { event: alertEvent(cursor), cursor: this.legacy ? 0n : BigInt(cursor) };
      }
      if (step.end === "hang") {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      } else if (step.end instanceof ConnectError) {
        throw step.end;
      }
    } finally {
      this.left++;
    }
  }
}

/** The event of cursor n: odd ones open a FAILING alert of job j<n>, even ones resolve a LATE one. */
export function alertEvent(n: number): MessageInitShape<typeof AlertEventSchema> {
  const opened = n % 2 === 1;
  return {
    cursor: BigInt(n),
    type: opened ? AlertEventType.OPENED : AlertEventType.RESOLVED,
    alert: {
      id: `a${n}`,
      jobId: `j${n}`,
      jobName: `job ${n}`,
      kind: opened ? HealthState.FAILING : HealthState.LATE,
      state: opened ? AlertState.OPEN : AlertState.RESOLVED,
      openedAt: { seconds: 1_800_000_000n + BigInt(n), nanos: 0 },
      ...(opened ? {} : { resolvedAt: { seconds: 1_800_000_100n + BigInt(n), nanos: 0 } }),
      reason: `reason ${n}`,
    },
  };
}
