"""When the gate passes: at stored results only while something waits for
them (engine.gate), on both databases, over the real GateStore."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from cronstream_server.core.dependencies import Gated, GateDecide
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger
from cronstream_server.core.release import ReleaseDecide, Releasing
from cronstream_server.core.signals import RELEASE
from cronstream_server.engine.gate import Gate, GateSettings
from cronstream_server.engine.ticker import Ticker
from cronstream_server.signals.local import LocalSignals
from cronstream_server.store.gate import SqlGateStore
from cronstream_server.store.tables import job_executions
from sqlalchemy import update

from tests.contract.conftest import HOUR, World
from tests.contract.test_gate_store import pair, slot, waiting

# No fallback pass within a test: every pass is one a wake-up asked for.
SECOND = timedelta(seconds=1)
QUIET = GateSettings(interval=3600.0, min_gap=0.0)


class CountedPasses:
    """The real GateStore, with the gate's passes counted."""

    def __init__(self, store: SqlGateStore) -> None:
        self._store = store
        self.passes = 0

    async def gate(
        self, limit: int, after: tuple[datetime, str] | None, decide: GateDecide
    ) -> Gated:
        if after is None:
            self.passes += 1
        return await self._store.gate(limit, after, decide)

    async def release(
        self, limit: int, after: tuple[datetime, str] | None, decide: ReleaseDecide
    ) -> Releasing:
        return await self._store.release(limit, after, decide)


async def passes_after_a_moment(store: CountedPasses) -> int:
    """The passes counted half a second on: a pass that is going to come
    (a database transaction or two) has come by then."""
    await asyncio.sleep(0.5)
    return store.passes


async def passes_after(store: CountedPasses, count: int) -> int:
    """The passes counted once `count` were reached and the gate had a
    moment to make another."""
    for _ in range(200):
        if store.passes >= count:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    return store.passes


async def test_results_make_no_pass_while_nothing_waits(world: World) -> None:
    store = CountedPasses(SqlGateStore(world.engine))
    gate = Gate(store, LocalSignals(), settings=QUIET)  # type: ignore[arg-type]
    gate.start()
    try:
        assert await passes_after(store, 1) == 1  # the first pass finds nothing waiting
        gate.settled()
        gate.settled()
        assert await passes_after_a_moment(store) == 1

        gate.wake()  # what begins to wait wakes it whatever it saw
        assert await passes_after(store, 2) == 2
    finally:
        await gate.stop()


async def test_results_make_a_pass_while_a_slot_waits(world: World) -> None:
    export, report, t = await pair(world)
    upstream = await slot(world, export, t, ExecutionStatus.RUNNING)
    held = await waiting(world, report, t)
    store = CountedPasses(SqlGateStore(world.engine))
    gate = Gate(store, LocalSignals(), settings=QUIET)  # type: ignore[arg-type]
    gate.start()
    try:
        assert await passes_after(store, 1) == 1  # sees the slot, which still waits
        assert (await world.row(held.id)).status == "waiting"

        async with world.engine.begin() as conn:  # the export's result is stored
            await conn.execute(
                update(job_executions)
                .where(job_executions.c.id == upstream.id)
                .values(status=ExecutionStatus.SUCCESS.value)
            )
        gate.settled()
        assert await passes_after(store, 2) == 2
        assert (await world.row(held.id)).status == "pending"

        gate.settled()  # nothing waits any more
        assert await passes_after_a_moment(store) == 2
    finally:
        await gate.stop()


async def test_results_make_a_pass_while_a_backfill_is_unfinished(world: World) -> None:
    """A BUFFER_ONE backfill's next instant goes when the one running
    finishes, whatever its end: its result must reach the gate."""
    now = await world.now()
    job = await world.job(now + HOUR)
    running = world.execution(
        job, at=now - 2 * HOUR, status=ExecutionStatus.RUNNING, trigger=ExecutionTrigger.BACKFILL
    )
    await world.executions.insert_many([running])
    store = CountedPasses(SqlGateStore(world.engine))
    gate = Gate(store, LocalSignals(), settings=QUIET)  # type: ignore[arg-type]
    gate.start()
    try:
        assert await passes_after(store, 1) == 1
        gate.settled()
        assert await passes_after(store, 2) == 2
    finally:
        await gate.stop()


async def test_a_tick_that_fires_waiting_slots_signals_the_gates(world: World) -> None:
    """Every replica's gate hears of them (the signal travels over Redis),
    and passes at its own results from then on."""
    now = await world.now()
    export = await world.job(now + HOUR)
    report = await world.job(now - SECOND, depends_on=(export.id,))  # due
    signals = LocalSignals()
    heard: list[str] = []
    signals.listen(RELEASE, heard.append)

    await Ticker(world.ticker, signals).tick()

    [execution] = await world.rows_of(report)
    assert execution.status == "waiting"
    assert len(heard) == 1
