"""The chaos suite's worker process: the Python client's `Worker`, recording
every attempt it runs to completion.

    python tests/e2e/chaos_worker.py TARGET API_KEY WORKER_ID RECORD_FILE

TARGET may name several replicas (`ipv4:127.0.0.1:A,127.0.0.1:B`): the
channel uses the first that answers and moves on when it dies. The handler
`chaos` takes 50 to 200 ms, so that results are in flight when a fault
strikes, logs a line, and appends one tab-separated line to RECORD_FILE
just before it returns:

    <execution_id> <job_id> <scheduled_at, ISO> <attempt> <worker_id>

A line means the handler ran to completion; the server learns of it after.
The worker's own log (connections, stream ends) goes to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
from pathlib import Path
from typing import TextIO

from cronstream import Worker
from cronstream.client import Client
from cronstream.context import Context

HANDLER = "chaos"
SLOTS = 200
# grpc's own reconnection backoff (1 s growing to 120 s by default) would
# keep a worker away from a restarted replica for long after the fault.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def record_line(ctx: Context, worker_id: str) -> str:
    scheduled = ctx.scheduled_at.isoformat() if ctx.scheduled_at else "-"
    return f"{ctx.execution_id}\t{ctx.job_id}\t{scheduled}\t{ctx.attempt}\t{worker_id}\n"


def build(client: Client, worker_id: str, record: TextIO) -> Worker:
    worker = Worker(client=client, worker_id=worker_id, slots=SLOTS, grace_period=5.0)

    @worker.handler(HANDLER)
    async def chaos(ctx: Context) -> dict[str, bool]:
        await asyncio.sleep(random.uniform(0.05, 0.2))
        await ctx.log("ran")
        record.write(record_line(ctx, worker_id))
        record.flush()
        return {"ok": True}

    return worker


async def run(target: str, api_key: str, worker_id: str, record: TextIO) -> None:
    """Until SIGTERM, which stops the worker gracefully. The channel is made
    here, in the loop that uses it (a grpc.aio channel is bound to its loop)."""
    async with Client.connect(target, api_key, options=CHANNEL_OPTIONS) as client:
        worker = build(client, worker_id, record)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
        await worker.run()


def main(target: str, api_key: str, worker_id: str, record_file: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with Path(record_file).open("a", buffering=1) as record:
        asyncio.run(run(target, api_key, worker_id, record))


if __name__ == "__main__":
    main(*sys.argv[1:5])
