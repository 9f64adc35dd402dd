// The messages a worker writes on its stream, built in one place.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";

import type { LogLevel } from "./gen/cronstream/v1/execution_pb.js";
import type { ConnectRequestSchema, WorkerResultSchema } from "./gen/cronstream/v1/worker_service_pb.js";

/** @internal A message to write on a worker stream. */
export type ConnectRequestInit = MessageInitShape<typeof ConnectRequestSchema>;
/** @internal One attempt's result. */
export type ResultInit = MessageInitShape<typeof WorkerResultSchema>;

/** What hello says: who the worker is, what it runs, and what it still answers for. */
export type HelloInit = {
  workerId: string;
  handlerNames: string[];
  slots: number;
  running: { executionId: string; attempt: number }[];
  acceptsBatches: boolean;
  holdsUntilStart: boolean;
};

export function helloMessage(hello: HelloInit): ConnectRequestInit {
  return { msg: { case: "hello", value: hello } };
}

export function resultMessage(r: ResultInit): ConnectRequestInit {
  return { msg: { case: "result", value: r } };
}

/** Results as one `results` message; a lone result stays a plain `result`. */
export function resultsMessage(results: ResultInit[]): ConnectRequestInit {
  if (results.length === 1) {
    return resultMessage(results[0]!);
  }
  return { msg: { case: "results", value: { results } } };
}

export function heartbeatMessage(executionIds: string[]): ConnectRequestInit {
  return { msg: { case: "heartbeat", value: { executionIds } } };
}

export function capacityMessage(slots: number): ConnectRequestInit {
  return { msg: { case: "capacity", value: { slots } } };
}

/** A log line of one attempt, stamped now. */
export function logMessage(executionId: string, attempt: number, level: LogLevel, message: string): ConnectRequestInit {
  return { msg: { case: "log", value: { executionId, level, message, time: timestampNow(), attempt } } };
}
