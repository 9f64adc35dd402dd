// Holding an assignment until its start. A worker whose hello sets
// holds_until_start may be sent an execution a little before its due
// instant, so that the start does not wait for the message to cross the
// stream; the worker then starts it at that instant itself.
import type { Timestamp } from "@bufbuild/protobuf/wkt";

import { sleep } from "./backoff.js";

/**
 * The longest hold. The server sends at most a fraction of a second ahead,
 * so a longer one means a broken server clock, which must not park an
 * execution (and its slot) for long.
 */
export const MAX_HOLD_MS = 5_000;

/**
 * @internal How long after its `assignments` message arrived an assignment
 * starts: start_at - sent_at, two instants on the server's clock, so the
 * worker's own clock may be off by any amount. 0 (at once) when either is
 * unset or start_at is not later; at most MAX_HOLD_MS.
 */
export function holdMs(sentAt: Timestamp | undefined, startAt: Timestamp | undefined): number {
  if (!sentAt || !startAt) {
    return 0;
  }
  // Subtracted field by field: whole epoch milliseconds as floats would blur the nanoseconds.
  const ms = Number(startAt.seconds - sentAt.seconds) * 1000 + (startAt.nanos - sentAt.nanos) / 1e6;
  return ms > 0 ? Math.min(ms, MAX_HOLD_MS) : 0;
}

/**
 * @internal Waits until performance.now() reaches due; resolves to whether
 * it did (false: signal was aborted first). Node's timers may fire up to a
 * millisecond early by performance.now(), so it waits again for what is
 * left: an assignment must never start before its time.
 */
export async function waitUntil(due: number, signal: AbortSignal): Promise<boolean> {
  for (;;) {
    const left = due - performance.now();
    if (left <= 0) {
      return !signal.aborted;
    }
    if (!(await sleep(Math.ceil(left), signal))) {
      return false;
    }
  }
}
