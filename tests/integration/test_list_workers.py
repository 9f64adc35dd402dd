"""ListWorkers over real gRPC: the worker streams of every replica, as of
their last report (docs/operations.md#workers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cronstream.v1 import insight_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.core.workers import REPORT_SECONDS
from sqlalchemy import event

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_webhooks import replica
from tests.integration.worker_harness import RawWorker, eventually, make_job, run
from tests.status import expect_code, violations

# A full report comes within REPORT_SECONDS; this leaves a loaded machine room.
REFRESHED_WITHIN = REPORT_SECONDS + 5.0


async def list_workers(
    live: Live, tenant: Tenant, handler: str = "", page_size: int = 0
) -> list[insight_pb2.ConnectedWorker]:
    """Every page, in order."""
    found: list[insight_pb2.ConnectedWorker] = []
    token = ""
    while True:
        request = pb.ListWorkersRequest(handler_name=handler, page_size=page_size, page_token=token)
        response = await live.scheduler.ListWorkers(request, metadata=tenant.auth)
        found += response.workers
        token = response.next_page_token
        if not token:
            return found


async def listed_as(live: Live, tenant: Tenant, count: int) -> list[insight_pb2.ConnectedWorker]:
    """Waits until `count` sessions are listed; them."""

    async def check() -> bool:
        return len(await list_workers(live, tenant)) == count

    await eventually(check)
    return await list_workers(live, tenant)


async def test_a_connected_worker_is_listed_until_it_disconnects(
    live: Live, tenant: Tenant
) -> None:
    before = datetime.now(UTC)
    worker = await RawWorker.connect(
        live, tenant, handlers=("reports", "emails"), slots=3, worker_id="w-1"
    )
    (shown,) = await listed_as(live, tenant, 1)  # at hello, not at the next full report
    assert (shown.worker_id, shown.session_id) == ("w-1", worker.welcome.session_id)
    assert list(shown.handler_names) == ["emails", "reports"]
    assert (shown.slots, shown.slots_in_use) == (3, 0)
    connected = shown.connected_at.ToDatetime(UTC)
    assert before <= connected <= datetime.now(UTC)
    assert shown.last_seen.ToDatetime(UTC) >= connected
    assert shown.replica

    await worker.close()
    await listed_as(live, tenant, 0)


async def test_slots_in_use_and_last_seen_follow_the_periodic_report(
    live: Live, tenant: Tenant
) -> None:
    worker = await RawWorker.connect(live, tenant, handlers=("h",), slots=2)
    (shown,) = await listed_as(live, tenant, 1)
    job = await make_job(live, tenant, "h")
    await run(live, tenant, job.id)
    assignment = await worker.expect("assignment")
    await worker.heartbeat(assignment.execution_id)
    heartbeat_sent = datetime.now(UTC)

    async def busy() -> bool:
        (now,) = await list_workers(live, tenant)
        return now.slots_in_use == 1

    await eventually(busy, REFRESHED_WITHIN)
    (refreshed,) = await list_workers(live, tenant)
    assert refreshed.session_id == shown.session_id
    # The heartbeat is the last message received; the report shows it.
    last_seen = refreshed.last_seen.ToDatetime(UTC)
    assert last_seen > shown.last_seen.ToDatetime(UTC)
    assert abs(last_seen - heartbeat_sent) < timedelta(seconds=1)
    assert refreshed.connected_at == shown.connected_at

    await worker.succeed(assignment)
    await worker.expect("result_ack")

    async def free() -> bool:
        (now,) = await list_workers(live, tenant)
        return now.slots_in_use == 0

    await eventually(free, REFRESHED_WITHIN)
    await worker.close()


async def test_another_platform_sees_none_of_them(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    ours = await RawWorker.connect(live, tenant, worker_id="ours")
    theirs = await RawWorker.connect(live, other, worker_id="theirs")
    (mine,) = await listed_as(live, tenant, 1)
    (their_own,) = await listed_as(live, other, 1)
    assert (mine.worker_id, their_own.worker_id) == ("ours", "theirs")
    for worker in (ours, theirs):
        await worker.close()


async def test_filter_by_handler_and_page_by_worker_id_then_session(
    live: Live, tenant: Tenant
) -> None:
    workers = [
        await RawWorker.connect(live, tenant, handlers=handlers, worker_id=worker_id)
        for worker_id, handlers in (("b", ("x", "y")), ("a", ("y",)), ("b", ("y",)), ("c", ("z",)))
    ]
    everyone = await listed_as(live, tenant, 4)
    keys = [(w.worker_id, w.session_id) for w in everyone]
    assert keys == sorted(keys)
    assert [w.worker_id for w in everyone] == ["a", "b", "b", "c"]
    assert await list_workers(live, tenant, page_size=1) == everyone
    assert [w.worker_id for w in await list_workers(live, tenant, "y", 2)] == ["a", "b", "b"]
    assert [w.worker_id for w in await list_workers(live, tenant, "x")] == ["b"]
    assert await list_workers(live, tenant, "nobody") == []
    for worker in workers:
        await worker.close()


async def test_bad_page_size_token_and_filter_are_invalid_arguments(
    live: Live, tenant: Tenant
) -> None:
    async def refused(request: pb.ListWorkersRequest) -> dict[str, str]:
        return violations(
            await expect_code(
                live.scheduler.ListWorkers(request, metadata=tenant.auth),
                grpc.StatusCode.INVALID_ARGUMENT,
            )
        )

    assert await refused(pb.ListWorkersRequest(page_size=-1)) == {
        "page_size": "must not be negative"
    }
    assert set(await refused(pb.ListWorkersRequest(page_token="nope"))) == {"page_token"}
    assert set(await refused(pb.ListWorkersRequest(handler_name="h" * 201))) == {"handler_name"}


async def test_a_token_of_another_filter_is_refused(live: Live, tenant: Tenant) -> None:
    workers = [await RawWorker.connect(live, tenant, worker_id=f"w{n}") for n in range(2)]
    await listed_as(live, tenant, 2)
    first = await live.scheduler.ListWorkers(
        pb.ListWorkersRequest(page_size=1), metadata=tenant.auth
    )
    assert first.next_page_token
    error = await expect_code(
        live.scheduler.ListWorkers(
            pb.ListWorkersRequest(handler_name="h", page_token=first.next_page_token),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"page_token"}
    for worker in workers:
        await worker.close()


async def test_a_worker_on_one_replica_is_listed_by_another(live: Live, tenant: Tenant) -> None:
    if not live.database_url.startswith("postgresql"):
        pytest.skip("one process per SQLite database")
    async with replica(live.database_url, ticker=False) as other:
        worker = await RawWorker.connect(other, tenant, worker_id="on-b")
        (shown,) = await listed_as(live, tenant, 1)
        (seen_by_b,) = await list_workers(other, tenant)
        assert (shown.worker_id, shown.session_id) == ("on-b", worker.welcome.session_id)
        assert shown.replica == seen_by_b.replica
        mine = await RawWorker.connect(live, tenant, worker_id="on-a")
        both = await listed_as(other, tenant, 2)
        assert [w.worker_id for w in both] == ["on-a", "on-b"]
        assert both[0].replica != both[1].replica
        await worker.close()
        await listed_as(live, tenant, 1)
        await mine.close()


async def test_a_stopped_replica_takes_its_workers_out_of_the_list(
    live: Live, tenant: Tenant
) -> None:
    if not live.database_url.startswith("postgresql"):
        pytest.skip("one process per SQLite database")
    async with replica(live.database_url, ticker=False) as other:
        await RawWorker.connect(other, tenant, worker_id="on-b")
        await listed_as(live, tenant, 1)
    await listed_as(live, tenant, 0)  # at once, not once its rows go stale


async def test_a_database_outage_leaves_streams_alone_and_the_next_report_catches_up(
    live: Live, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    # Every statement fails as on a database that went away; then it is back.
    def unreachable(*_: Any) -> None:
        raise ConnectionRefusedError("injected: the database is unreachable")

    leaving = await RawWorker.connect(live, tenant, worker_id="leaving")
    staying = await RawWorker.connect(live, tenant, worker_id="staying")
    await listed_as(live, tenant, 2)
    engine = live.running.engine.sync_engine
    event.listen(engine, "before_cursor_execute", unreachable)
    try:
        await leaving.close()  # its row cannot be deleted now

        async def reported_failure() -> bool:
            return "worker sessions not reported" in caplog.text

        await eventually(reported_failure)
        await staying.heartbeat()
    finally:
        event.remove(engine, "before_cursor_execute", unreachable)
    (left,) = await listed_as(live, tenant, 1)  # the next pass deletes it
    assert left.worker_id == "staying"
    await staying.quiet(0.5)  # its stream was never disturbed
    await staying.close()
