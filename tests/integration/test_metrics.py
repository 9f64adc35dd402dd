"""/metrics of a live server, on SQLite and Postgres: what a scrape shows
after real calls, a real worker's results, and work nobody takes."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cronstream import Client, Context, Worker
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from cronstream_server.server import Running, start
from google.protobuf import duration_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_KEY, Live, make_tenant, serving_live
from tests.jobs import ts

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
REFRESH = 2.0  # telemetry.gauges.REFRESH_SECONDS


async def scrape(port: int) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body: bytes = response.read()
        return body.decode()

    text = await asyncio.to_thread(get)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def until(port: int, check: Callable[[Samples], bool], seconds: float = 10.0) -> Samples:
    """Scrapes until `check` holds (the gauges refresh every REFRESH seconds)."""
    deadline = asyncio.get_running_loop().time() + seconds
    seen = await scrape(port)
    while not check(seen):
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.2)
        seen = await scrape(port)
    return seen


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def settings(database_url: str) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
        metrics_listen="127.0.0.1:0",
    )


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with serving_live(settings(database_url)) as server:
        yield server


def metrics_port(live: Live) -> int:
    assert live.running.metrics_port is not None
    return live.running.metrics_port


async def test_calls_are_counted_by_method_and_code(live: Live) -> None:
    tenant = await make_tenant(live, "acme")
    await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    with pytest.raises(grpc.aio.AioRpcError):
        await live.scheduler.ListJobs(
            pb.ListJobsRequest(), metadata=(("authorization", "Bearer cs_nope"),)
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await live.scheduler.GetJob(pb.GetJobRequest(id="missing"), metadata=tenant.auth)

    seen = await scrape(metrics_port(live))
    total = "cronstream_grpc_requests_total"
    service = "cronstream.v1.SchedulerService"
    assert value(seen, total, service=service, method="ListJobs", code="OK") == 1
    assert value(seen, total, service=service, method="ListJobs", code="UNAUTHENTICATED") == 1
    assert (
        value(seen, total, service=service, method="GetJob", code="INVALID_ARGUMENT")
        + value(seen, total, service=service, method="GetJob", code="NOT_FOUND")
        == 1
    )
    admin = "cronstream.v1.AdminService"
    assert value(seen, total, service=admin, method="CreatePlatform", code="OK") == 1
    duration = "cronstream_grpc_request_duration_seconds_count"
    assert value(seen, duration, service=service, method="ListJobs") == 2


async def test_outcomes_lateness_workers_and_the_queue(live: Live) -> None:
    tenant = await make_tenant(live, "acme")
    platform = tenant.platform.id
    port = metrics_port(live)
    worker = Worker(api_key=tenant.secret, target=live.address, worker_id="w1", slots=3)

    @worker.handler("ok")
    async def ok(ctx: Context) -> dict[str, object]:
        return {}

    @worker.handler("flaky")
    async def flaky(ctx: Context) -> dict[str, object]:
        raise RuntimeError("always")

    async with Client.connect(live.address, tenant.secret) as client:
        good = await client.create_job(name="ok", handler="ok", cron="0 0 1 1 *")
        bad = await client.create_job(
            name="flaky",
            handler="flaky",
            cron="0 0 1 1 *",
            max_retries=1,
            retry_delay=timedelta(milliseconds=100),
        )
        nobody = await client.create_job(name="nobody", handler="nobody", cron="0 0 1 1 *")
        running = asyncio.create_task(worker.run())
        try:
            for job in (good, good, bad):
                await client.run_job(job.id)
            await client.run_job(nobody.id)
            finished = "cronstream_executions_finished_total"
            seen = await until(
                port,
                lambda s: (
                    value(s, finished, platform=platform, handler="flaky", outcome="failure") == 1
                    and value(s, finished, platform=platform, handler="ok", outcome="success") == 2
                    and value(s, "cronstream_workers_connected", platform=platform, handler="ok")
                    == 1
                    # gauges refresh every REFRESH s: wait for one after the last RunJob
                    and value(
                        s, "cronstream_executions_pending", platform=platform, handler="nobody"
                    )
                    == 1
                ),
            )
        finally:
            worker.stop()
            await running

    retries = "cronstream_retries_scheduled_total"
    assert value(seen, retries, platform=platform, handler="flaky", cause="failure") == 1
    lateness = "cronstream_firing_lateness_seconds_count"
    assert value(seen, lateness, platform=platform, handler="ok") == 2
    assert value(seen, lateness, platform=platform, handler="flaky") == 1  # first attempts only
    assert value(seen, "cronstream_worker_slots_free", platform=platform, handler="flaky") == 3
    assert value(seen, "cronstream_cluster_reporter") == 1
    assert value(seen, "cronstream_executions_pending", platform=platform, handler="nobody") == 1
    assert value(seen, "cronstream_dispatch_claim_seconds_count") >= 1

    gone = await until(
        port,
        lambda s: value(s, "cronstream_workers_connected", platform=platform, handler="ok") == 0,
        seconds=REFRESH * 4,
    )
    assert (
        "cronstream_workers_connected",
        frozenset({"platform": platform, "handler": "ok"}.items()),
    ) not in gone


async def test_one_replica_reports_the_cluster_s_figures(live: Live) -> None:
    if live.database_url.startswith("sqlite"):
        pytest.skip("one process per SQLite database: it always reports")
    second: Running = await start(settings(live.database_url))
    try:
        ports = [metrics_port(live), second.metrics_port]
        assert ports[1] is not None
        await asyncio.sleep(REFRESH * 1.5)
        reporters = [
            value(await scrape(port), "cronstream_cluster_reporter") for port in ports if port
        ]
        assert sorted(reporters) == [0, 1]
        first_reported = reporters[0] == 1
    finally:
        await second.stop()
    if not first_reported:  # the second held the turn: the first takes it over
        await until(ports[0] or 0, lambda s: value(s, "cronstream_cluster_reporter") == 1)


async def test_a_cancelled_execution_leaves_the_queue_and_is_counted(live: Live) -> None:
    tenant = await make_tenant(live, "acme")
    platform, port = tenant.platform.id, metrics_port(live)
    async with Client.connect(live.address, tenant.secret) as client:
        job = await client.create_job(name="nobody", handler="nobody", cron="0 0 1 1 *")
        execution = await client.run_job(job.id)
        pending = "cronstream_executions_pending"
        await until(port, lambda s: value(s, pending, platform=platform, handler="nobody") == 1)
        await client.cancel_execution(execution.id)
    seen = await until(
        port,
        lambda s: (
            (pending, frozenset({"platform": platform, "handler": "nobody"}.items())) not in s
        ),
    )
    finished = "cronstream_executions_finished_total"
    assert value(seen, finished, platform=platform, handler="nobody", outcome="cancelled") == 1


async def test_slots_a_pause_passed_are_counted_when_the_job_resumes(live: Live) -> None:
    tenant = await make_tenant(live, "acme")
    platform, port = tenant.platform.id, metrics_port(live)
    async with Client.connect(live.address, tenant.secret) as client:
        job = await client.create_job(name="tick", handler="tick", every=timedelta(seconds=1))
        await client.pause_job(job.id)
        await asyncio.sleep(2.5)
        await client.resume_job(job.id)
    seen = await scrape(port)
    skipped = value(
        seen, "cronstream_slots_skipped_total", platform=platform, handler="tick", reason="paused"
    )
    assert 2 <= skipped <= 4, skipped


async def test_alerts_opened_are_counted_by_kind(live: Live) -> None:
    tenant = await make_tenant(live, "acme")
    platform, port = tenant.platform.id, metrics_port(live)
    await asyncio.sleep(REFRESH)  # the reporter counts what opens after its first refresh
    job = job_pb2.Job(
        name="late",
        handler_name="nobody",
        once=job_pb2.OnceTrigger(run_at=ts(datetime.now(UTC))),
        health_policy=job_pb2.HealthPolicy(
            max_start_delay=duration_pb2.Duration(nanos=300_000_000)
        ),
    )
    await live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth)
    opened = "cronstream_alerts_opened_total"
    await until(
        port,
        lambda s: value(s, opened, platform=platform, handler="nobody", kind="late") == 1,
        seconds=REFRESH * 4,
    )
