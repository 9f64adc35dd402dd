"""WorkerRegistry (store.worker_registry), as its docstrings promise."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cronstream_server.core.ids import new_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.workers import ConnectedWorker, worker_key
from cronstream_server.store.worker_registry import SqlWorkerRegistry

from tests.contract.conftest import World

FRESH = timedelta(seconds=15)
CONNECTED = datetime(2026, 12, 9, 8, 0, 0, 123456, tzinfo=UTC)


def session(world: World, worker_id: str, *handlers: str, replica: str = "a") -> ConnectedWorker:
    return ConnectedWorker(
        session_id=new_id(),
        platform_id=world.platform.id,
        worker_id=worker_id,
        handler_names=tuple(sorted(handlers or ("h",))),
        slots=4,
        slots_in_use=0,
        connected_at=CONNECTED,
        last_seen=CONNECTED,
        replica=replica,
    )


async def listed(
    registry: SqlWorkerRegistry,
    platform_id: str,
    handler: str | None = None,
    size: int = 100,
    fresh_for: timedelta = FRESH,
) -> list[ConnectedWorker]:
    """Every page, in order."""
    found: list[ConnectedWorker] = []
    after: tuple[str, ...] | None = None
    while True:
        page, last = await registry.list_workers(
            platform_id, handler, PageRequest(size, after), fresh_for
        )
        found += page
        if last is None:
            return found
        after = worker_key(last)


async def test_a_report_inserts_then_refreshes_and_ended_sessions_go(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    first, second = session(world, "w1", "b", "a"), session(world, "w2")
    await registry.report([first, second], (), FRESH)
    assert await listed(registry, world.platform.id) == [first, second]

    later = CONNECTED + timedelta(seconds=7)
    busy = replace(first, slots=8, slots_in_use=3, last_seen=later)
    await registry.report([busy], [second.session_id], FRESH)
    assert await listed(registry, world.platform.id) == [busy]


async def test_pages_go_by_worker_id_then_session_and_filter_by_handler(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    made = [session(world, worker, "shared", worker) for worker in ("w3", "w1", "w2", "w1")]
    await registry.report(made, (), FRESH)
    in_order = sorted(made, key=worker_key)
    assert await listed(registry, world.platform.id, size=1) == in_order
    assert await listed(registry, world.platform.id, "shared", size=3) == in_order
    assert await listed(registry, world.platform.id, "w1") == in_order[:2]
    assert await listed(registry, world.platform.id, "w") == []  # names, not prefixes


async def test_another_platforms_sessions_are_not_listed(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    other = await world.admin.create_platform("other")
    theirs = replace(session(world, "w1"), platform_id=other.id)
    ours = session(world, "w1")
    await registry.report([theirs, ours], (), FRESH)
    assert await listed(registry, world.platform.id) == [ours]
    assert await listed(registry, other.id) == [theirs]


async def test_a_session_of_a_deleted_platform_is_skipped(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    doomed = await world.admin.create_platform("doomed")
    ours = session(world, "w1")
    await registry.report([replace(ours, platform_id=doomed.id)], (), FRESH)
    await world.admin.delete_platform(doomed.id)  # its rows go with it
    orphan = replace(session(world, "w2"), platform_id=doomed.id)
    await registry.report([orphan, ours], (), FRESH)  # no foreign key error
    assert await listed(registry, world.platform.id) == [ours]
    assert await listed(registry, doomed.id) == []


async def test_rows_not_reported_lately_are_not_listed_then_deleted(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    old = session(world, "w1", replica="dead")
    await registry.report([old], (), FRESH)
    assert await listed(registry, world.platform.id, fresh_for=timedelta(0)) == []

    fresh = session(world, "w2", replica="alive")
    await registry.report([fresh], (), timedelta(0))  # `old` is stale by now
    assert await listed(registry, world.platform.id, fresh_for=timedelta(hours=1)) == [fresh]


async def test_forget_deletes_one_replicas_rows(world: World) -> None:
    registry = SqlWorkerRegistry(world.engine)
    a, b = session(world, "w1", replica="a"), session(world, "w2", replica="b")
    await registry.report([a, b], (), FRESH)
    await registry.forget("a")
    assert await listed(registry, world.platform.id) == [b]
