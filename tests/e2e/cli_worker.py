"""The command-line test's worker process: the Python client's `Worker` with
two handlers, so executions succeed, fail and log while the CLI watches.

    python tests/e2e/cli_worker.py TARGET API_KEY

- `send_report` logs "step 1" to "step 3", STEP_SECONDS apart, and returns
  {"echo": <the payload>};
- `cli.fail` raises NonRetryable("boom").

It prints "worker ready" once connected and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from cronstream import Context, NonRetryable, Worker
from cronstream.client import Client

STEP_SECONDS = 0.4


def build(client: Client) -> Worker:
    worker = Worker(client=client, worker_id="cli-worker", slots=4, grace_period=2.0)

    @worker.handler("send_report")
    async def echo(ctx: Context[dict[str, Any]]) -> dict[str, Any]:
        for step in range(1, 4):
            await ctx.log(f"step {step}")
            await asyncio.sleep(STEP_SECONDS)
        return {"echo": ctx.payload}

    @worker.handler("cli.fail")
    async def fail(ctx: Context[dict[str, Any]]) -> None:
        raise NonRetryable("boom")

    return worker


async def run(target: str, api_key: str) -> None:
    async with Client.connect(target, api_key) as client:
        worker = build(client)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
        print("worker ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
