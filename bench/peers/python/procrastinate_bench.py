"""Procrastinate 3 peer benchmark: PsycopgConnector, one worker process with async sub-workers.

    bench/.venv-peers/bin/python bench/peers/python/procrastinate_bench.py \
        --dsn postgresql://postgres@127.0.0.1:5432/db --workload w1 --jobs 20000
    bench/.venv-peers/bin/python bench/peers/python/procrastinate_bench.py \
        --dsn postgresql://postgres@127.0.0.1:5432/db --workload w2 --schedules 1000 --seconds 30

Prints one JSON line on stdout (see peer_common). Setup notes:

* Jobs are enqueued with ``Task.batch_defer_async`` (the documented bulk defer).
* The worker runs async tasks with ``concurrency`` sub-workers, which is the library's
  documented way to raise throughput for async tasks; everything else is stock
  (LISTEN/NOTIFY on, 5 s polling fallback, jobs kept after completion, psycopg pool
  defaults).
* w2 uses ``App.periodic`` with the documented 6-column cron (seconds column),
  ``* * * * * *``, one periodic_id per schedule on one task. The task receives the
  scheduled ``timestamp``; the periodic deferrer sleeps 0.5 s past each tick by design
  (``procrastinate.periodic.MARGIN``), so lateness has a built-in floor of ~500 ms, and
  it defers the due jobs one INSERT round trip at a time. ``periodic_defaults`` sets
  ``max_delay`` to 0.8 s only so that a worker started just before the window does not
  first defer the instant before it (see W2_MAX_DELAY_S).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import psycopg
from peer_common import (
    Args,
    SlotRecorder,
    log,
    next_whole_second,
    parse_args,
    run_main,
    setup_logging,
    w1_result,
)
from procrastinate import App, PsycopgConnector

SYSTEM = "procrastinate"
VERSION = version("procrastinate")
# Our own Postgres schema (search_path of every connection), dropped at start.
SCHEMA = "procrastinate_bench"
# Async sub-workers in the single worker process; see the concurrency howto. The no-op
# jobs never wait, so this only needs to cover the fetch/finish round trips in flight.
DEFAULT_CONCURRENCY = 10
# batch_defer_async rows per call: one INSERT per chunk keeps each statement moderate.
DEFER_CHUNK = 1000
# While the handlers have not all run, check their in-process count this often; only
# then poll Postgres (fast) until every completion is committed.
IDLE_CHECK_S = 0.1
DB_POLL_S = 0.02
PROGRESS_EVERY_S = 10.0

# The worker for w2 starts just before the first measured slot t0. On start the periodic
# deferrer defers the latest past instant of every schedule unless it is more than
# max_delay overdue; 0.8 s makes that t0 itself (deferred at t0 + 0.5 s MARGIN) rather
# than t0 - 1, which would be out-of-window work. Once running, max_delay plays no part.
W2_MAX_DELAY_S = 0.8
W2_START_BEFORE_T0_S = 0.1

setup_logging()
# The App lives in __main__, which the library warns about because its CLI could not
# import it; we never use the CLI, so that one logger is kept quiet.
logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
# The real connector (with the caller's DSN) is swapped in by opened_app().
app = App(connector=PsycopgConnector(), periodic_defaults={"max_delay": W2_MAX_DELAY_S})

# Handler-side counters; the benchmark's own bookkeeping, not the library's.
_ran = 0
_recorder: SlotRecorder | None = None


@app.task(name="noop")
async def noop() -> None:
    """w1 job body. Counting here only tells us when to start polling the database."""
    global _ran
    _ran += 1


@app.task(name="tick")
async def tick(timestamp: int, schedule: str) -> None:
    """w2 job body: lateness against the timestamp the periodic deferrer scheduled."""
    started = time.time()
    if _recorder is not None:
        _recorder.record(schedule, float(timestamp), started)


@contextlib.asynccontextmanager
async def opened_app(dsn: str) -> AsyncIterator[App]:
    # Every pooled connection resolves the library's unqualified table names in SCHEMA.
    connector = PsycopgConnector(conninfo=dsn, kwargs={"options": f"-c search_path={SCHEMA}"})
    with app.replace_connector(connector):
        async with app.open_async():
            yield app


async def reset_schema(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
    # The library creates its tables, types, functions and triggers itself.
    await app.schema_manager.apply_schema_async()


async def succeeded_count(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute(
        f"SELECT count(*) FROM \"{SCHEMA}\".procrastinate_jobs WHERE status = 'succeeded'"
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def wait_all_recorded(dsn: str, jobs: int, deadline: float) -> tuple[int, bool]:
    """Block until `jobs` succeeded rows are committed or `deadline` (monotonic) passes."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while time.monotonic() < deadline:
            if _ran < jobs:
                if time.monotonic() >= next_progress:
                    log.info("progress: %d of %d handlers ran", _ran, jobs)
                    next_progress += PROGRESS_EVERY_S
                await asyncio.sleep(IDLE_CHECK_S)
                continue
            if await succeeded_count(conn) >= jobs:
                return jobs, False
            await asyncio.sleep(DB_POLL_S)
        return await succeeded_count(conn), True


def worker_options(concurrency: int) -> dict[str, Any]:
    # install_signal_handlers=False: we stop the worker by cancelling its task.
    return {"concurrency": concurrency, "install_signal_handlers": False}


async def stop_worker(worker: asyncio.Task[None]) -> None:
    # Cancelling run_worker_async asks for a graceful stop (documented); bound it.
    worker.cancel()
    try:
        await asyncio.wait_for(worker, timeout=10)
    except (asyncio.CancelledError, TimeoutError):
        pass


async def enqueue(jobs: int) -> float:
    t = time.monotonic()
    for start in range(0, jobs, DEFER_CHUNK):
        n = min(DEFER_CHUNK, jobs - start)
        await noop.batch_defer_async(*({} for _ in range(n)))
    return time.monotonic() - t


async def run_w1(args: Args) -> dict[str, Any]:
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    async with opened_app(args.dsn) as opened:
        await reset_schema(args.dsn)
        enqueue_s = await enqueue(args.jobs)
        log.info("enqueued %d jobs in %.2f s", args.jobs, enqueue_s)

        start = time.monotonic()
        worker = asyncio.create_task(opened.run_worker_async(**worker_options(concurrency)))
        completed, timed_out = await wait_all_recorded(args.dsn, args.jobs, start + args.deadline)
        elapsed = time.monotonic() - start
        if timed_out:
            log.warning("deadline: %d of %d completed", completed, args.jobs)
        await stop_worker(worker)

    notes = (
        f"1 worker process, concurrency={concurrency} async sub-workers, PsycopgConnector "
        f"(psycopg_pool defaults: 4 connections), listen_notify on, delete_jobs=never; enqueue = "
        f"batch_defer_async in chunks of {DEFER_CHUNK}"
    )
    return w1_result(SYSTEM, VERSION, args.jobs, completed, enqueue_s, elapsed, notes, timed_out)


def register_schedules(target: App, schedules: int) -> None:
    # Every second (6th cron column = seconds); periodic_id tells the schedules apart and
    # task_kwargs carries it to the handler, as the cron howto shows.
    for i in range(schedules):
        target.periodic(cron="* * * * * *", periodic_id=f"s{i}", task_kwargs={"schedule": f"s{i}"})(
            tick
        )


async def run_w2(args: Args) -> dict[str, Any]:
    global _recorder
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    register_schedules(app, args.schedules)
    async with opened_app(args.dsn) as opened:
        await reset_schema(args.dsn)
        t0 = next_whole_second(1.0)
        recorder = SlotRecorder(args.schedules, args.seconds, t0)
        _recorder = recorder
        await asyncio.sleep(max(0.0, t0 - W2_START_BEFORE_T0_S - time.time()))
        worker = asyncio.create_task(opened.run_worker_async(**worker_options(concurrency)))
        stop_at = t0 + args.seconds + args.drain
        await asyncio.sleep(max(0.0, stop_at - time.time()))
        _recorder = None
        await stop_worker(worker)

    return recorder.result(
        SYSTEM,
        VERSION,
        {
            "notes": (
                f"App.periodic(cron='* * * * * *') x{args.schedules} on one task, 1 worker "
                f"process, concurrency={concurrency}, drain {args.drain:g} s, periodic "
                f"max_delay={W2_MAX_DELAY_S} so the first firing is the window's first "
                f"slot; the deferrer oversleeps 0.5 s per tick by design"
            ),
        },
    )


def main() -> int:
    args = parse_args(SYSTEM)
    return run_main(SYSTEM, VERSION, args, run_w1, run_w2)


if __name__ == "__main__":
    sys.exit(main())
