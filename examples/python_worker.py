"""A Cronstream worker in Python, to run against `make run`.

    CRONSTREAM_API_KEY=cs_... .venv/bin/python examples/python_worker.py

It registers `say_hello`, which logs a line and returns a greeting. Give it a
job to run (grpcurl, or the Python client):

    async with Client.connect("127.0.0.1:50051", key) as client:
        await client.create_job(name="hello", handler="say_hello",
                                cron="* * * * *", payload={"name": "Ada"})

Ctrl-C (or SIGTERM) stops it gracefully: it takes no more work, lets running
handlers finish, then exits; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cronstream import Context, CronstreamError, NonRetryable, Worker

worker = Worker(
    api_key=os.environ.get("CRONSTREAM_API_KEY"),
    target=os.environ.get("CRONSTREAM_ADDR", "127.0.0.1:50051"),
    slots=4,
)


@worker.handler("say_hello")
async def say_hello(ctx: Context) -> dict[str, Any]:
    name = ctx.payload.get("name", "world")
    if not isinstance(name, str):
        raise NonRetryable(f"payload.name must be a string, not {type(name).__name__}")
    await ctx.log(f"saying hello to {name} (attempt {ctx.attempt} of {ctx.execution_id})")
    return {"greeting": f"Hello, {name}!"}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not os.environ.get("CRONSTREAM_API_KEY"):
        raise SystemExit("set CRONSTREAM_API_KEY to the key `make run` printed")
    try:
        worker.run_forever()
    except CronstreamError as exc:  # a wrong key, or a server without the WorkerService
        raise SystemExit(f"cronstream: {exc}") from None
