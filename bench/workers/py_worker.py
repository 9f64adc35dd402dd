"""A no-op Cronstream worker for the benchmarks, on the Python client.

    py_worker.py TARGET API_KEY HANDLER SLOTS [RECORD_FILE]

Each run appends "execution_id scheduled_at_us started_us" to RECORD_FILE
(written when the worker stops on SIGTERM), from which the precision
benchmark computes lateness and doubled slots.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from cronstream import Context, Worker


def main() -> None:
    target, key, handler, slots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    record = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    runs: list[str] = []
    worker = Worker(api_key=key, target=target, slots=slots, grace_period=5.0)

    @worker.handler(handler)
    async def noop(ctx: Context) -> None:
        if record is not None:
            started_us = time.time_ns() // 1000
            scheduled = ctx.scheduled_at
            scheduled_us = int(scheduled.timestamp() * 1_000_000) if scheduled else 0
            runs.append(f"{ctx.execution_id} {scheduled_us} {started_us}\n")

    logging.basicConfig(level=logging.WARNING)
    worker.run_forever()
    if record is not None:
        record.write_text("".join(runs))


if __name__ == "__main__":
    main()
