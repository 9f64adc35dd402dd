"""How the executions table grows under its hot updates, and how many of them
are HOT (Postgres): the figures behind migration 0003.

Runs N executions through their whole lifecycle on an in-process server and a
real worker (pending -> running -> heartbeats -> success, one log line each),
on a fresh database migrated to REVISION, and prints the change in
pg_stat_user_tables' counters for job_executions and the table's size.

    scripts/services.sh start /tmp/svc   # or any Postgres you may create databases on
    . /tmp/svc/env
    .venv/bin/python bench/bloat.py --revision 0002   # before 0003
    .venv/bin/python bench/bloat.py --revision head

Heartbeats come every 0.25 s and handlers run 3 s, so each execution gets about
12 heartbeats: the proportion of a two-minute job with the default 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from typing import Any

import asyncpg
from alembic import command
from cronstream import Client, Context, Worker
from cronstream_server.config import Settings
from cronstream_server.core.tenancy import new_secret
from cronstream_server.migrate import alembic_config
from cronstream_server.server import Running, start
from cronstream_server.store.admin import SqlAdminStore
from sqlalchemy.engine import make_url

STATS = """
SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup,
       pg_total_relation_size(relid) AS total_bytes, pg_relation_size(relid) AS heap_bytes
FROM pg_stat_user_tables WHERE relname = 'job_executions'
"""


async def table_stats(conn: asyncpg.Connection) -> dict[str, int]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return dict(await conn.fetchrow(STATS))


async def api_key(running: Running) -> str:
    admin = SqlAdminStore(running.engine)
    platform = await admin.create_platform(f"bloat-{uuid.uuid4().hex[:8]}")
    secret = new_secret()
    await admin.create_api_key(platform.id, "bloat", secret)
    return secret.secret


async def workload(url: str, executions: int, hold: float, slots: int) -> float:
    """Seconds from the first RunJob until the last handler returned."""
    running = await start(
        Settings(
            listen="127.0.0.1:0",
            database_url=url,
            lease_seconds=2.0,
            heartbeat_seconds=0.25,
            shutdown_grace_seconds=1.0,
        )
    )
    try:
        key = await api_key(running)
        finished = asyncio.Semaphore(0)

        async def handler(ctx: Context) -> dict[str, Any]:
            await ctx.log("working")
            await asyncio.sleep(hold)
            finished.release()
            return {"ok": True}

        async with Client.connect(f"127.0.0.1:{running.port}", key) as client:
            job = await client.create_job(name="bloat", handler="bloat", event="bloat.never")
            worker = Worker(client=client, slots=slots, worker_id="bloat")
            worker.register("bloat", handler)
            runner = asyncio.create_task(worker.run())
            started = time.perf_counter()
            for offset in range(0, executions, 100):
                batch = min(100, executions - offset)
                await asyncio.gather(*(client.run_job(job.id) for _ in range(batch)))
            async with asyncio.timeout(600):
                for _ in range(executions):
                    await finished.acquire()
            elapsed = time.perf_counter() - started
            await asyncio.sleep(1.0)  # the last results are written in a batch
            worker.stop()
            await runner
        return elapsed
    finally:
        await running.stop()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    name = f"bloat_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        url = make_url(args.dsn).set(database=name)
        server_url = url.set(drivername="postgresql+asyncpg").render_as_string(False)
        await asyncio.to_thread(command.upgrade, alembic_config(server_url), args.revision)
        db = await asyncpg.connect(url.render_as_string(False))
        try:
            options = await db.fetchval(
                "SELECT reloptions FROM pg_class WHERE relname = 'job_executions'"
            )
            before = await table_stats(db)
            elapsed = await workload(server_url, args.executions, args.hold, args.slots)
            await asyncio.sleep(2.0)  # backends flush their statistics within a second
            after = await table_stats(db)
        finally:
            await db.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    delta = {key: after[key] - before[key] for key in after}
    return {
        "revision": args.revision,
        "reloptions": options,
        "executions": args.executions,
        "seconds": round(elapsed, 1),
        "hot_ratio": round(delta["n_tup_hot_upd"] / max(delta["n_tup_upd"], 1), 3),
        "updates_per_execution": round(delta["n_tup_upd"] / args.executions, 1),
        "delta": delta,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("CRONSTREAM_TEST_POSTGRES_DSN"))
    parser.add_argument("--revision", default="head")
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each handler runs")
    parser.add_argument("--slots", type=int, default=200)
    args = parser.parse_args()
    if not args.dsn:
        parser.error("--dsn or CRONSTREAM_TEST_POSTGRES_DSN is required")
    print(json.dumps(asyncio.run(measure(args)), indent=1))


if __name__ == "__main__":
    main()
