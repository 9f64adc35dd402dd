"""GetRecentRuns: each asked job's latest runs, newest first, in one answer."""

from __future__ import annotations

from datetime import timedelta

import grpc
from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.worker_harness import RawWorker, make_job, run
from tests.status import expect_code, violations

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
FAILED = execution_pb2.EXECUTION_STATUS_FAILED
CANCELLED = execution_pb2.EXECUTION_STATUS_CANCELLED


async def _recent(
    live: Live, tenant: Tenant, job_ids: list[str], limit: int = 0
) -> list[pb.GetRecentRunsResponse]:
    response = await live.scheduler.GetRecentRuns(
        pb.GetRecentRunsRequest(job_ids=job_ids, limit=limit), metadata=tenant.auth
    )
    return list(response.jobs)


async def _finish(live: Live, tenant: Tenant, job_id: str, worker: RawWorker, ok: bool) -> str:
    started = await run(live, tenant, job_id)
    assignment = await worker.expect("assignment")
    if ok:
        await worker.succeed(assignment)
    else:
        await worker.fail(assignment, retryable=False)
    await worker.expect("result_ack")
    return started.id


async def _runs_of_one_job(live: Live, tenant: Tenant) -> tuple[str, list[str]]:
    """A job with a success, a failure, a cancel that never started (newest
    last) and pending executions; its id and the three finished ids."""
    job = await make_job(live, tenant)
    worker = await RawWorker.connect(live, tenant)
    done = [
        await _finish(live, tenant, job.id, worker, ok=True),
        await _finish(live, tenant, job.id, worker, ok=False),
    ]
    # The worker's one slot stays taken, so no later execution can start (a
    # closed stream is only seen closed by the server a moment later).
    await run(live, tenant, job.id)
    await worker.expect("assignment")
    never_started = await run(live, tenant, job.id)
    await live.scheduler.CancelExecution(
        pb.CancelExecutionRequest(id=never_started.id), metadata=tenant.auth
    )
    await run(live, tenant, job.id)  # pending: not a run yet
    await worker.close()  # what it held goes back to pending: not a run either
    return job.id, [*done, never_started.id]


async def test_runs_newest_first_per_job_in_the_order_asked(live: Live, tenant: Tenant) -> None:
    job_id, (succeeded, failed, cancelled) = await _runs_of_one_job(live, tenant)
    quiet = await make_job(live, tenant, handler="never")

    answer = await _recent(live, tenant, [quiet.id, job_id, quiet.id])
    assert [entry.job_id for entry in answer] == [quiet.id, job_id, quiet.id]
    assert list(answer[0].runs) == [] and list(answer[2].runs) == []
    runs = list(answer[1].runs)
    assert [(r.execution_id, r.status) for r in runs] == [
        (cancelled, CANCELLED),
        (failed, FAILED),
        (succeeded, SUCCESS),
    ]
    never, *ran = runs
    assert not never.HasField("duration") and not never.HasField("lateness")
    for entry in ran:
        assert entry.HasField("duration") and entry.HasField("lateness")
        assert timedelta(0) <= entry.lateness.ToTimedelta() < timedelta(seconds=10)
        assert timedelta(0) <= entry.duration.ToTimedelta() < timedelta(seconds=10)
    assert runs[0].scheduled_at.ToDatetime() >= runs[1].scheduled_at.ToDatetime()

    limited = await _recent(live, tenant, [job_id], limit=2)
    assert [r.execution_id for r in limited[0].runs] == [cancelled, failed]


async def test_other_platforms_unknown_and_malformed_ids_get_nothing(
    live: Live, tenant: Tenant
) -> None:
    theirs_id, _ = await _runs_of_one_job(live, await make_tenant(live, "other"))
    ours_id, ours = await _runs_of_one_job(live, tenant)
    unknown = "0190a5b4-0000-7000-8000-000000000000"

    asked = [theirs_id, "not an id", unknown, ours_id.upper(), ""]
    answer = await _recent(live, tenant, asked)
    assert [entry.job_id for entry in answer] == asked
    assert [len(entry.runs) for entry in answer] == [0, 0, 0, 3, 0]
    assert [r.execution_id for r in answer[3].runs] == list(reversed(ours))


async def test_counts_and_limits_out_of_range_are_refused(live: Live, tenant: Tenant) -> None:
    job = await make_job(live, tenant)
    cases = [
        (pb.GetRecentRunsRequest(), {"job_ids": "has 0 ids; send 1 to 200"}),
        (
            pb.GetRecentRunsRequest(job_ids=[job.id] * 201),
            {"job_ids": "has 201 ids; send 1 to 200"},
        ),
        (
            pb.GetRecentRunsRequest(job_ids=[job.id], limit=51),
            {"limit": "is 51; send 0 (the default) to 50"},
        ),
        (
            pb.GetRecentRunsRequest(job_ids=[job.id], limit=-1),
            {"limit": "is -1; send 0 (the default) to 50"},
        ),
    ]
    for request, expected in cases:
        error = await expect_code(
            live.scheduler.GetRecentRuns(request, metadata=tenant.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert violations(error) == expected
    answer = await _recent(live, tenant, [job.id] * 200, limit=50)
    assert len(answer) == 200
