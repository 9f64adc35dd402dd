"""One side of the cross-language test (tests/e2e/test_cross_language.py).

    python crosslang.py ADDRESS API_KEY

Creates one one-time job for each worker language (handler `crosslang.<language>`,
payload `{"origin": "python", "target": <language>}`), prints a line per job, then
works `crosslang.python` until it has run four executions, one created by
each language, and stops gracefully. The Go, TypeScript and Java clients carry
the same program, so every language's jobs are worked by every language.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronstream import Client, Context, NonRetryable, Worker

LANGUAGE = "python"
LANGUAGES = ("python", "go", "typescript", "java")
DEADLINE = 120.0  # seconds; the test waits longer, so a hang fails here first


@dataclass
class Greeting:
    origin: str
    target: str


@dataclass
class Reply:
    origin: str
    worker: str


async def main(address: str, api_key: str) -> None:
    async with Client.connect(address, api_key) as client:
        for target in LANGUAGES:
            job = await client.create_job(
                name=f"crosslang {LANGUAGE} to {target}",
                handler=f"crosslang.{target}",
                once=datetime.now(UTC) + timedelta(seconds=1),
                payload=Greeting(origin=LANGUAGE, target=target),
            )
            assert job.next_run is not None and job.next_run.tzinfo is not None
            print(f"created {job.id} {job.status.name} {job.next_run.isoformat()}", flush=True)

    worker = Worker(api_key=api_key, target=address, worker_id=f"crosslang-{LANGUAGE}")
    origins: list[str] = []

    @worker.handler(f"crosslang.{LANGUAGE}")
    async def reply(ctx: Context[Greeting]) -> Reply:
        if ctx.payload.target != LANGUAGE:
            raise NonRetryable(f"meant for {ctx.payload.target}")
        origins.append(ctx.payload.origin)
        print(f"worked {ctx.execution_id} from {ctx.payload.origin}", flush=True)
        if len(origins) == len(LANGUAGES):
            worker.stop()
        return Reply(origin=ctx.payload.origin, worker=LANGUAGE)

    async with asyncio.timeout(DEADLINE):
        await worker.run()
    print(f"done: {sorted(origins)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
