// Results sent in batches: the request side of a worker stream, grouping the
// results queued back to back (and, while other executions run, those that
// finish within RESULT_LINGER_MS) into one `results` message.
import { resultsMessage, type ConnectRequestInit, type ResultInit } from "./messages.js";
import type { Outbox } from "./outbox.js";

/** The most results in one `results` message: the server refuses more. */
export const MAX_BATCH = 500;
/**
 * How long a result waits for others to share its message while other
 * executions still run. The server pays per message, not per result, and
 * fast handlers finish one at a time, so the sender mostly finds a single
 * result queued: the Go worker, before it waited, sent 13,185 of 20,000
 * results alone. With nothing else running no result can join, so it goes
 * at once.
 */
export const RESULT_LINGER_MS = 1;

/** @internal What the request stream needs to know to group results. */
export interface ResultBatching {
  /** The server takes `results`. Read at each result: the welcome that says so comes after the stream opens. */
  readonly batches: boolean;
  /** Whether other executions still run, so that their results may join a batch. */
  othersRunning(): boolean;
  /** How long a batch waits for them (RESULT_LINGER_MS). */
  readonly lingerMs: number;
}

/**
 * @internal The messages to write on a worker stream: the outbox's, in
 * order, until it is closed. While batching.batches holds, results queued
 * back to back go as one message, since a message per result is most of
 * what a busy worker's stream costs the server.
 */
export async function* requestStream(outbox: Outbox<ConnectRequestInit>, batching: ResultBatching): AsyncGenerator<ConnectRequestInit> {
  let carried: ConnectRequestInit | undefined;
  for (;;) {
    const m = carried ?? outbox.take();
    carried = undefined;
    if (m === undefined) {
      if (outbox.isClosed) {
        return;
      }
      await outbox.ready();
    } else if (m.msg?.case === "result" && batching.batches) {
      const batch = await withQueuedResults(m.msg.value, outbox, batching);
      carried = batch.carried;
      yield batch.message;
    } else {
      yield m;
    }
  }
}

/**
 * @internal Groups first with the results queued right behind it, up to
 * MAX_BATCH, into one message (a lone result stays a plain `result`). The
 * first other message taken ends the group and comes back as carried, to
 * be written next so that the stream keeps its order. While other
 * executions run, it waits up to batching.lingerMs in all for their results.
 */
export async function withQueuedResults(
  first: ResultInit,
  outbox: Outbox<ConnectRequestInit>,
  batching: Pick<ResultBatching, "othersRunning" | "lingerMs">,
): Promise<{ message: ConnectRequestInit; carried: ConnectRequestInit | undefined }> {
  const results = [first];
  let deadline: number | undefined;
  while (results.length < MAX_BATCH) {
    let next = outbox.take();
    if (next === undefined) {
      // Asked each time the queue runs dry: once the last other execution
      // has reported, no result can join and waiting would only delay these.
      if (!batching.othersRunning()) {
        break;
      }
      deadline ??= performance.now() + batching.lingerMs;
      const left = deadline - performance.now();
      if (left <= 0 || !(await outbox.ready(left))) {
        break;
      }
      next = outbox.take();
      if (next === undefined) {
        break; // closed
      }
    }
    if (next.msg?.case !== "result") {
      return { message: resultsMessage(results), carried: next };
    }
    results.push(next.msg.value);
  }
  return { message: resultsMessage(results), carried: undefined };
}
