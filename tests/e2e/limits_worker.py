"""The concurrency-key replica test's worker process: the Python client's
`Worker`, recording every attempt it runs, with when it began and ended.

    python tests/e2e/limits_worker.py TARGET API_KEY WORKER_ID RECORD_FILE

TARGET may name several replicas (`ipv4:127.0.0.1:A,127.0.0.1:B`): the
channel uses the first that answers and moves on when it dies. The handler
`limited` takes 50 to 150 ms; as it ends (returning, or cancelled) it
appends one tab-separated line to RECORD_FILE:

    <execution_id> <attempt> <began, epoch s> <ended, epoch s> <done|cancelled>
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from cronstream import Worker
from cronstream.client import Client
from cronstream.context import Context

HANDLER = "limited"
SLOTS = 50
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def build(client: Client, worker_id: str, record: TextIO) -> Worker:
    worker = Worker(client=client, worker_id=worker_id, slots=SLOTS, grace_period=5.0)

    @worker.handler(HANDLER)
    async def limited(ctx: Context) -> dict[str, bool]:
        began, outcome = time.time(), "cancelled"
        try:
            await asyncio.sleep(random.uniform(0.05, 0.15))
            outcome = "done"
            return {"ok": True}
        finally:
            ended = time.time()
            record.write(f"{ctx.execution_id}\t{ctx.attempt}\t{began}\t{ended}\t{outcome}\n")
            record.flush()

    return worker


async def run(target: str, api_key: str, worker_id: str, record: TextIO) -> None:
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
