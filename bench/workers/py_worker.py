"""A no-op Cronstream worker for the benchmarks, on the Python client.

    py_worker.py TARGET API_KEY HANDLER SLOTS [RECORD_FILE [SLEEP_MS]]

Each run appends "execution_id scheduled_at_us started_us" to RECORD_FILE
(written when the worker stops on SIGTERM; an empty name records nothing),
from which the precision benchmark computes lateness and doubled slots.
SLEEP_MS, as "MIN-MAX", makes each handler sleep a uniformly random MIN to
MAX milliseconds after its start is recorded (W3); without it, none.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from pathlib import Path

from cronstream import Context, Worker


def main() -> None:
    target, key, handler, slots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    record = Path(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
    low, _, high = (sys.argv[6] if len(sys.argv) > 6 else "0-0").partition("-")
    sleep_ms = (int(low), int(high))
    runs: list[str] = []
    worker = Worker(api_key=key, target=target, slots=slots, grace_period=5.0)

    @worker.handler(handler)
    async def noop(ctx: Context) -> None:
        if record is not None:
            started_us = time.time_ns() // 1000
            scheduled = ctx.scheduled_at
            scheduled_us = int(scheduled.timestamp() * 1_000_000) if scheduled else 0
            runs.append(f"{ctx.execution_id} {scheduled_us} {started_us}\n")
        if sleep_ms[1] > 0:
            await asyncio.sleep(random.uniform(*sleep_ms) / 1000)

    logging.basicConfig(level=logging.WARNING)
    worker.run_forever()
    if record is not None:
        record.write_text("".join(runs))


if __name__ == "__main__":
    main()
