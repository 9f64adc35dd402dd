import {
  createClient as createConnectClient,
  type CallOptions,
  type Client as ServiceClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import {
  alertInfo,
  enumValues,
  executionInfo,
  executionLogEntry,
  jobInfo,
  jobMessage,
  type AlertEventInfo,
  type AlertInfo,
  type AlertStateName,
  type ExecutionInfo,
  type ExecutionLogEntry,
  type ExecutionStatusName,
  type HealthStateName,
  type JobInfo,
  type JobSpec,
  type JobStatusName,
  type JobTypeName,
} from "./convert.js";
import { controlMethods, type ControlMethods } from "./controls.js";
import { AdminService } from "./gen/cronstream/v1/admin_service_pb.js";
import { AlertState } from "./gen/cronstream/v1/alert_pb.js";
import { ExecutionStatus } from "./gen/cronstream/v1/execution_pb.js";
import { HealthState, JobStatus, JobType } from "./gen/cronstream/v1/job_pb.js";
import { SchedulerService } from "./gen/cronstream/v1/scheduler_service_pb.js";
import { WorkerService } from "./gen/cronstream/v1/worker_service_pb.js";
import { translate } from "./errors.js";
import { VERSION } from "./version.js";
import { watchAlerts, type WatchAlertsOptions } from "./watch.js";

/** Options of {@link createClient}. */
export interface ClientOptions {
  /**
   * The server: "host:port" (such as "127.0.0.1:50051"), or a URL
   * ("http://host:port" for plaintext, "https://host:port" for TLS).
   */
  address: string;
  /** Sent as `authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  /**
   * Connect over TLS (the system's root CAs, or `nodeOptions.ca`). Default:
   * true, unless address is an "http://" URL. A local `make run` server
   * serves plaintext: pass `tls: false`.
   */
  tls?: boolean;
  /**
   * More interceptors, run after the client's own (authorization, typed
   * errors) for every call, such as an OpenTelemetry one.
   */
  interceptors?: Interceptor[];
  /**
   * Options for node:http2's connect(): TLS settings (ca, cert, key,
   * servername) and the like.
   */
  nodeOptions?: import("node:http2").SecureClientSessionOptions;
  /**
   * Interval of HTTP/2 PING frames, also on an idle connection, so a silent
   * peer is noticed and load balancers keep the connection. Default: 20 s
   * (the server allows one every 10 s). 0 turns them off.
   */
  pingIntervalMs?: number;
}

/** Which jobs to list (all when absent); the iterator manages the page token. */
export interface ListJobsFilter {
  /** Jobs per call; the server's default when absent. */
  pageSize?: number;
  statuses?: JobStatusName[];
  types?: JobTypeName[];
  handlerName?: string;
  tags?: string[];
  /** Only jobs whose health is one of these ("LATE", "FAILING"...). */
  healths?: HealthStateName[];
}

/** Which executions to list (all of the platform's when absent). */
export interface ListExecutionsFilter {
  jobId?: string;
  statuses?: ExecutionStatusName[];
  pageSize?: number;
}

/** Which alerts to list (all of the platform's when absent). */
export interface ListAlertsFilter {
  /** Only this job's alerts. */
  jobId?: string;
  /** Only alerts of these kinds: "LATE", "MISSED", "OVERRUNNING", "FAILING". */
  kinds?: HealthStateName[];
  /** Only alerts in these states: "OPEN", "RESOLVED". */
  states?: AlertStateName[];
  pageSize?: number;
}

/**
 * A Cronstream client. Every call, through the convenience methods or the
 * generated service clients it exposes, carries the API key and throws the
 * typed errors of this package (InvalidArgumentError, NotFoundError, ...),
 * which are ConnectErrors.
 */
export interface Client extends ControlMethods {
  /** The generated SchedulerService client. */
  readonly scheduler: ServiceClient<typeof SchedulerService>;
  /** The generated WorkerService client; see Worker. */
  readonly workers: ServiceClient<typeof WorkerService>;
  /** The generated AdminService client (it needs the admin key). */
  readonly admin: ServiceClient<typeof AdminService>;
  /** The transport every call goes through. */
  readonly transport: Transport;

  /**
   * Creates a job and returns it as stored, with its id, status and
   * nextRun. A requestId makes the call idempotent: the same one twice
   * returns the first job.
   *
   *     await client.createJob({ name: "tick", handlerName: "tick", every: "2s", payload: { n: 1 } });
   */
  createJob(job: JobSpec, options?: CallOptions & { requestId?: string }): Promise<JobInfo>;
  /** The job with this id. */
  getJob(id: string, options?: CallOptions): Promise<JobInfo>;
  /**
   * The jobs matching filter (all when absent), newest first, fetched page
   * after page of filter.pageSize following next_page_token.
   *
   *     for await (const job of client.listJobs({ pageSize: 100 })) { ... }
   */
  listJobs(filter?: ListJobsFilter, options?: CallOptions): AsyncIterable<JobInfo>;
  /** Runs a job now, outside its schedule; returns the new pending execution. */
  runJob(id: string, options?: CallOptions): Promise<ExecutionInfo>;
  /** The execution with this id. */
  getExecution(id: string, options?: CallOptions): Promise<ExecutionInfo>;
  /** The executions matching filter (all of the platform's when absent), newest first. */
  listExecutions(filter?: ListExecutionsFilter, options?: CallOptions): AsyncIterable<ExecutionInfo>;
  /** An execution's log lines, oldest first. */
  listExecutionLogs(executionId: string, options?: CallOptions & { pageSize?: number }): AsyncIterable<ExecutionLogEntry>;
  /** The alerts matching filter (all of the platform's when absent), the most recently opened first. */
  listAlerts(filter?: ListAlertsFilter, options?: CallOptions): AsyncIterable<AlertInfo>;
  /**
   * The platform's alert events as they happen (after options.afterCursor
   * when given), for as long as the caller iterates. A stream that breaks is
   * reopened with the worker's backoff, after the cursor of the last event
   * yielded, so each event comes once; a watch from now resumes from where
   * it started even before its first event. Aborting options.signal ends the
   * loop quietly; UnauthenticatedError, InvalidArgumentError (and a
   * PERMISSION_DENIED or UNIMPLEMENTED ConnectError) end it by throwing.
   *
   *     for await (const e of client.watchAlerts({ afterCursor: saved, signal })) {
   *       console.log(e.type, e.alert.kind, e.alert.jobName, e.alert.reason); // "OPENED" "FAILING" ...
   *       saved = e.cursor;
   *     }
   */
  watchAlerts(options?: WatchAlertsOptions): AsyncIterable<AlertEventInfo>;
  /**
   * Closes the connection; calls in flight fail. An idle client does not
   * keep the process alive, so closing is optional.
   */
  close(): void;
}

/**
 * createClient makes a client for a Cronstream server, over gRPC (HTTP/2).
 * It does not connect until the first call.
 *
 *     const client = createClient({ address: "127.0.0.1:50051", apiKey, tls: false });
 */
export function createClient(options: ClientOptions): Client {
  const baseUrl = baseUrlOf(options.address, options.tls);
  const pingIntervalMs = options.pingIntervalMs ?? 20_000;
  const sessionManager = new Http2SessionManager(
    baseUrl,
    pingIntervalMs > 0 ? { pingIntervalMs, pingTimeoutMs: 10_000, pingIdleConnection: true } : {},
    options.nodeOptions,
  );
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager,
    interceptors: [...clientInterceptors(options.apiKey), ...(options.interceptors ?? [])],
  });
  return makeClient(transport, () => sessionManager.abort());
}

function baseUrlOf(address: string, tls: boolean | undefined): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    const url = new URL(address);
    if (tls !== undefined && (url.protocol === "https:") !== tls) {
      throw new TypeError(`cronstream: address ${address} contradicts tls: ${tls}`);
    }
    return address.replace(/\/+$/, "");
  }
  if (address === "" || address.includes("/")) {
    throw new TypeError(`cronstream: address must be "host:port" or a URL, not ${JSON.stringify(address)}`);
  }
  return `${tls === false ? "http" : "https"}://${address}`;
}

/**
 * The client's own interceptors: the outermost translates errors (so it
 * also sees the ones of later interceptors), the next adds the API key
 * unless the caller set an authorization header of its own.
 */
export function clientInterceptors(apiKey: string | undefined): Interceptor[] {
  const errors: Interceptor = (next) => async (req) => {
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw translate(err);
    }
    if (!res.stream) {
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (err) {
          throw translate(err);
        }
      })(),
    };
  };
  const auth: Interceptor = (next) => (req) => {
    if (apiKey && !req.header.has("authorization")) {
      req.header.set("authorization", `Bearer ${apiKey}`);
    }
    const agent = req.header.get("user-agent");
    req.header.set("user-agent", `cronstream-typescript/${VERSION}${agent ? ` ${agent}` : ""}`);
    return next(req);
  };
  return [errors, auth];
}

function makeClient(transport: Transport, close: () => void): Client {
  const scheduler = createConnectClient(SchedulerService, transport);
  return {
    scheduler,
    workers: createConnectClient(WorkerService, transport),
    admin: createConnectClient(AdminService, transport),
    transport,
    ...controlMethods(scheduler),

    async createJob(job, options) {
      const { requestId, ...callOptions } = options ?? {};
      const res = await scheduler.createJob({ job: jobMessage(job), requestId: requestId ?? "" }, callOptions);
      return jobInfo(res.job!);
    },
    async getJob(id, options) {
      return jobInfo((await scheduler.getJob({ id }, options)).job!);
    },
    listJobs(filter, options) {
      const { statuses, types, healths, ...rest } = filter ?? {};
      const request = {
        ...rest,
        statuses: enumValues(JobStatus, "statuses", statuses),
        types: enumValues(JobType, "types", types),
        healths: enumValues(HealthState, "healths", healths),
      };
      return paginate(async (pageToken) => {
        const res = await scheduler.listJobs({ ...request, pageToken }, options);
        return [res.jobs.map(jobInfo), res.nextPageToken];
      });
    },
    async runJob(id, options) {
      return executionInfo((await scheduler.runJob({ id }, options)).execution!);
    },
    async getExecution(id, options) {
      return executionInfo((await scheduler.getExecution({ id }, options)).execution!);
    },
    listExecutions(filter, options) {
      const { statuses, ...rest } = filter ?? {};
      const request = { ...rest, statuses: enumValues(ExecutionStatus, "statuses", statuses) };
      return paginate(async (pageToken) => {
        const res = await scheduler.listExecutions({ ...request, pageToken }, options);
        return [res.executions.map(executionInfo), res.nextPageToken];
      });
    },
    listExecutionLogs(executionId, options) {
      const { pageSize, ...callOptions } = options ?? {};
      return paginate(async (pageToken) => {
        const res = await scheduler.listExecutionLogs({ executionId, pageSize: pageSize ?? 0, pageToken }, callOptions);
        return [res.logs.map(executionLogEntry), res.nextPageToken];
      });
    },
    listAlerts(filter, options) {
      const { kinds, states, ...rest } = filter ?? {};
      const request = { ...rest, kinds: enumValues(HealthState, "kinds", kinds), states: enumValues(AlertState, "states", states) };
      return paginate(async (pageToken) => {
        const res = await scheduler.listAlerts({ ...request, pageToken }, options);
        return [res.alerts.map(alertInfo), res.nextPageToken];
      });
    },
    watchAlerts(options) {
      return watchAlerts(scheduler, options);
    },
    close,
  };
}

/**
 * paginate yields the items of page after page until one comes back with
 * no next page token. Each iteration starts over from the first page.
 */
export function paginate<T>(fetch: (pageToken: string) => Promise<[T[], string]>): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      let token = "";
      for (;;) {
        const [items, next] = await fetch(token);
        yield* items;
        if (next === "") {
          return;
        }
        if (next === token) {
          throw new Error(`cronstream: the server returned the same page token twice (${next})`);
        }
        token = next;
      }
    },
  };
}
