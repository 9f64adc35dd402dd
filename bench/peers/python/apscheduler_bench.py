"""APScheduler 4 peer benchmark: SQLAlchemy data store on asyncpg, one AsyncScheduler.

    bench/.venv-peers/bin/python bench/peers/python/apscheduler_bench.py \
        --dsn postgresql://postgres@127.0.0.1:5432/db --workload w1 --jobs 20000
    bench/.venv-peers/bin/python bench/peers/python/apscheduler_bench.py \
        --dsn postgresql://postgres@127.0.0.1:5432/db --workload w2 --schedules 1000 --seconds 30

Prints one JSON line on stdout (see peer_common). Setup notes:

* One process, one AsyncScheduler (role "both") with the default LocalEventBroker. A
  second process was not tried: the SQLAlchemy store locks the task's row on every job
  acquisition (FOR UPDATE ... SKIP LOCKED over a join with ``tasks``) and updates it on
  every release, so all jobs of one task serialise on that row whatever the process count.
* The task is configured with ``max_running_jobs=None`` (unlimited): the stock default
  of 1 runs the N jobs (or the N schedules, which share the function) strictly one at a
  time, about 70 jobs/s here. ``--task-max-running-jobs 1`` measures that default.
* Everything else is stock: ``max_concurrent_jobs`` 100, async executor, pickle
  serializer, SQLAlchemy's default pool, coalesce "latest", no misfire grace limit.
  Coalescing means a schedule processed late fires once for its latest due instant and
  skips the ones before: in w2 those skipped instants are the "missed" slots.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.metadata import version
from typing import Any

import asyncpg
from apscheduler import AsyncScheduler, JobOutcome, JobReleased, current_job
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.triggers.interval import IntervalTrigger
from peer_common import (
    Args,
    SlotRecorder,
    log,
    next_whole_second,
    parse_args,
    run_main,
    setup_logging,
    w1_result,
    with_scheme,
)

SYSTEM = "apscheduler"
VERSION = version("apscheduler")
# Our own Postgres schema, dropped at start, so a rerun never sees old rows.
SCHEMA = "apscheduler_bench"
# The scheduler's stock max_concurrent_jobs; the no-op jobs never block, so more slots
# would only add idle tasks.
DEFAULT_CONCURRENCY = 100
# APScheduler has no bulk insert: enqueueing is add_job() per job. We keep this many
# add_job() calls in flight, within SQLAlchemy's default pool (5 + 10 overflow); 10 beat 1
# and 4 in a quick comparison here.
ENQUEUE_IN_FLIGHT = 10
PROGRESS_EVERY_S = 10.0


async def noop() -> None:
    """w1 job body: nothing, so the numbers measure the scheduler, not the job."""


# w2 firings are recorded here by the handler; set before the scheduler starts.
_recorder: SlotRecorder | None = None


async def tick() -> None:
    """w2 job body: note lateness against the fire time the scheduler computed."""
    started = time.time()
    job = current_job.get()
    if _recorder is not None and job.scheduled_fire_time is not None and job.schedule_id:
        _recorder.record(job.schedule_id, job.scheduled_fire_time.timestamp(), started)


async def reset_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    finally:
        await conn.close()


def make_scheduler(dsn: str, concurrency: int) -> AsyncScheduler:
    # The data store creates the schema and its tables when the scheduler is entered.
    store = SQLAlchemyDataStore(with_scheme(dsn, "postgresql+asyncpg"), schema=SCHEMA)
    return AsyncScheduler(store, max_concurrent_jobs=concurrency)


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task-max-running-jobs",
        type=lambda v: None if v.lower() == "none" else int(v),
        default=None,
        metavar="N|none",
        help="the task's max_running_jobs (library default 1; default here: none)",
    )


async def configure(scheduler: AsyncScheduler, args: Args, task_id: str, func: Any) -> str:
    """Declare the task once; jobs and schedules then refer to it by ID.

    Passing the function itself to add_job()/add_schedule() would re-apply the task
    defaults (max_running_jobs=1) on every call, so we configure it explicitly here.
    """
    limit = args.extra["task_max_running_jobs"]
    await scheduler.configure_task(task_id, func=func, max_running_jobs=limit)
    return task_id


def task_note(args: Args) -> str:
    return f"task max_running_jobs={args.extra['task_max_running_jobs']}"


async def bounded_gather(calls: list[Callable[[], Awaitable[Any]]], limit: int) -> None:
    """Run the calls with at most `limit` in flight (the library's calls, concurrently)."""
    sem = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def wait_event(event: asyncio.Event, deadline: float, progress: Callable[[], None]) -> bool:
    """Wait for `event` until `deadline` (monotonic), calling `progress` now and then."""
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(event.wait(), timeout=min(remaining, PROGRESS_EVERY_S))
            return True
        except TimeoutError:
            progress()
    return False


async def run_w1(args: Args) -> dict[str, Any]:
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    await reset_schema(args.dsn)
    async with make_scheduler(args.dsn, concurrency) as scheduler:
        task_id = await configure(scheduler, args, "noop", noop)
        # Enqueue with the scheduler entered but not started: nothing runs yet.
        t = time.monotonic()
        await bounded_gather(
            [lambda: scheduler.add_job(task_id) for _ in range(args.jobs)], ENQUEUE_IN_FLIGHT
        )
        enqueue_s = time.monotonic() - t
        log.info("enqueued %d jobs in %.2f s", args.jobs, enqueue_s)

        # JobReleased is published after the release transaction commits, so its arrival
        # is the moment the completion is recorded in Postgres.
        completed = 0
        all_done = asyncio.Event()
        last_done = 0.0

        def on_released(event: JobReleased) -> None:
            nonlocal completed, last_done
            if event.outcome is JobOutcome.success:
                completed += 1
                last_done = time.monotonic()
                if completed >= args.jobs:
                    all_done.set()

        scheduler.subscribe(on_released, JobReleased)
        start = time.monotonic()
        await scheduler.start_in_background()
        timed_out = not await wait_event(
            all_done,
            start + args.deadline,
            lambda: log.info("progress: %d of %d completed", completed, args.jobs),
        )
        # Snapshot now: jobs finishing while the scheduler stops must not count.
        done_by_deadline = completed
        elapsed = (last_done if not timed_out else time.monotonic()) - start
        if timed_out:
            log.warning("deadline: %d of %d completed", done_by_deadline, args.jobs)
        await scheduler.stop()
        await scheduler.wait_until_stopped()

    notes = (
        f"1 AsyncScheduler process, SQLAlchemyDataStore(asyncpg), LocalEventBroker, "
        f"max_concurrent_jobs={concurrency}, {task_note(args)}, async executor; "
        f"enqueue = add_job() x{args.jobs} with {ENQUEUE_IN_FLIGHT} in flight (no bulk API)"
    )
    return w1_result(
        SYSTEM, VERSION, args.jobs, done_by_deadline, enqueue_s, elapsed, notes, timed_out
    )


async def add_schedules(scheduler: AsyncScheduler, args: Args, t0: float) -> None:
    task_id = await configure(scheduler, args, "tick", tick)
    start = datetime.fromtimestamp(t0, UTC)
    # end_time = the last slot, so the schedules stop by themselves after the window.
    end = start + timedelta(seconds=args.seconds - 1)
    # A trigger instance per schedule: add_schedule() advances the trigger it is given.
    await bounded_gather(
        [
            partial(
                scheduler.add_schedule,
                task_id,
                IntervalTrigger(seconds=1, start_time=start, end_time=end),
                id=f"s{i}",
            )
            for i in range(args.schedules)
        ],
        ENQUEUE_IN_FLIGHT,
    )


async def run_w2(args: Args) -> dict[str, Any]:
    global _recorder
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    await reset_schema(args.dsn)
    # Leave room to add every schedule before the first slot (add_schedule is a few
    # round trips each); a slot that is already due at start would be coalesced.
    t0 = next_whole_second(3.0 + args.schedules * 0.01)
    recorder = SlotRecorder(args.schedules, args.seconds, t0)
    async with make_scheduler(args.dsn, concurrency) as scheduler:
        t = time.monotonic()
        await add_schedules(scheduler, args, t0)
        log.info("added %d schedules in %.2f s", args.schedules, time.monotonic() - t)
        if time.time() > t0 - 0.5:
            log.warning("schedules were added too close to the first slot")
        _recorder = recorder
        await scheduler.start_in_background()
        stop_at = t0 + args.seconds + args.drain
        await asyncio.sleep(max(0.0, stop_at - time.time()))
        _recorder = None
        await scheduler.stop()
        await scheduler.wait_until_stopped()

    return recorder.result(
        SYSTEM,
        VERSION,
        {
            "notes": (
                f"IntervalTrigger(seconds=1) x{args.schedules} on one task "
                f"({task_note(args)}), 1 AsyncScheduler, max_concurrent_jobs="
                f"{concurrency}, coalesce=latest (stock), drain {args.drain:g} s"
            )
        },
    )


def main() -> int:
    setup_logging()
    args = parse_args(SYSTEM, add_options=add_options)
    return run_main(SYSTEM, VERSION, args, run_w1, run_w2)


if __name__ == "__main__":
    sys.exit(main())
