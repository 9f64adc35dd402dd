"""Alerts delivered to a real HTTP receiver by two `cronstream serve` replicas.

Two replicas on one Postgres database, a webhook to a receiver on loopback
(http.server in a thread), and the Python client: a job whose firing nobody
starts opens LATE within a second of its delay and resolves once a worker
arrives; a job failing three times in a row opens FAILING and pauses itself;
a slot its overlap policy skips opens MISSED. Every request the receiver
gets verifies with the webhook's secret (`verify_webhook`), and each event
arrives exactly once although both replicas deliver.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from cronstream import AlertEvent, AlertEventType, Context, HealthState, Worker, verify_webhook
from cronstream.v1 import job_pb2, webhook_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1.scheduler_service_pb2_grpc import SchedulerServiceStub
from google.protobuf import duration_pb2, timestamp_pb2

from tests import databases
from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving
from tests.e2e.test_docs import make_platform_key

ADMIN_KEY = "cs_admin_alert_webhooks"


@dataclass
class Received:
    signature: str | None
    event_id: str | None
    body: bytes


class Receiver:
    """An HTTP server on loopback that keeps every POST and answers 204."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    Received(
                        self.headers.get("Cronstream-Signature"),
                        self.headers.get("Cronstream-Event-Id"),
                        body,
                    )
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cronstream"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    with databases.sync_empty_postgres_database(databases.require_postgres()) as url:
        env = {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY, "CRONSTREAM_DATABASE_URL": url}
        started: list[ServerProcess] = []
        try:
            for n, args in enumerate((["serve", "--migrate"], ["serve"])):
                process = start_cronstream(args, tmp_path_factory.mktemp(f"replica{n}"), env)
                started.append(process)
                wait_until_serving(process.address)
            yield started
        finally:
            for process in started:
                process.terminate()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def span(seconds: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(timedelta(seconds=seconds))
    return message


def at(instant: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(instant)
    return message


def events(receiver: Receiver, secret: str) -> list[AlertEvent]:
    """Every request verified with the secret (a bad one raises), in order."""
    return [verify_webhook(secret, r.signature, r.body) for r in list(receiver.requests)]


async def until_delivered(
    receiver: Receiver, secret: str, job_id: str, kind: HealthState, type_: AlertEventType
) -> AlertEvent:
    async with asyncio.timeout(15):
        while True:
            for event in events(receiver, secret):
                alert = event.alert
                if (alert.job_id, alert.kind, event.type) == (job_id, kind, type_):
                    return event
            await asyncio.sleep(0.05)


async def scenario(replicas: list[ServerProcess], receiver: Receiver, tmp: Path) -> None:
    first, second = replicas
    key = make_platform_key(first.address, ADMIN_KEY, "alert-webhooks")
    auth = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(first.address) as channel:
        scheduler = SchedulerServiceStub(channel)
        created = await scheduler.CreateWebhook(
            pb.CreateWebhookRequest(webhook=webhook_pb2.Webhook(url=receiver.url)), metadata=auth
        )
        secret = created.secret

        # LATE: due in half a second, nobody to start it, late after one second.
        due = datetime.now(UTC) + timedelta(milliseconds=500)
        late_job = (
            await scheduler.CreateJob(
                pb.CreateJobRequest(
                    job=job_pb2.Job(
                        name="nightly report",
                        handler_name="e2e.report",
                        once=job_pb2.OnceTrigger(run_at=at(due)),
                        health_policy=job_pb2.HealthPolicy(max_start_delay=span(1)),
                    )
                ),
                metadata=auth,
            )
        ).job
        opened = await until_delivered(
            receiver, secret, late_job.id, HealthState.LATE, AlertEventType.OPENED
        )
        assert opened.alert.opened_at is not None
        assert opened.alert.opened_at - (due + timedelta(seconds=1)) < timedelta(seconds=1)

        # A worker arrives (on the other replica): the firing starts, LATE resolves.
        worker = Worker(api_key=key, target=second.address, grace_period=5.0)

        @worker.handler("e2e.report")
        async def report(ctx: Context) -> dict[str, Any]:
            return {"sent": True}

        @worker.handler("e2e.sync")
        async def sync(ctx: Context) -> dict[str, Any]:
            raise RuntimeError("upstream down")

        @worker.handler("e2e.slow")
        async def slow(ctx: Context) -> dict[str, Any]:
            await asyncio.sleep(2.5)
            return {}

        running = asyncio.create_task(worker.run())
        try:
            await until_delivered(
                receiver, secret, late_job.id, HealthState.LATE, AlertEventType.RESOLVED
            )

            # FAILING: two failed attempts in a row pause the job that asks.
            failing_job = (
                await scheduler.CreateJob(
                    pb.CreateJobRequest(
                        job=job_pb2.Job(
                            name="sync",
                            handler_name="e2e.sync",
                            cron=job_pb2.CronTrigger(expression="0 0 1 1 *"),
                            max_retries=2,  # three attempts: the default count
                            retry_delay=span(0.1),
                            health_policy=job_pb2.HealthPolicy(pause_on_failure=True),
                        )
                    ),
                    metadata=auth,
                )
            ).job
            await scheduler.RunJob(pb.RunJobRequest(id=failing_job.id), metadata=auth)
            failing = await until_delivered(
                receiver, secret, failing_job.id, HealthState.FAILING, AlertEventType.OPENED
            )

            # MISSED: every second, one at a time (SKIP), and a run that takes 2.5 s.
            slow_job = (
                await scheduler.CreateJob(
                    pb.CreateJobRequest(
                        job=job_pb2.Job(
                            name="tick",
                            handler_name="e2e.slow",
                            interval=job_pb2.IntervalTrigger(every=span(1)),
                            overlap_policy=job_pb2.OVERLAP_POLICY_SKIP,
                        )
                    ),
                    metadata=auth,
                )
            ).job
            missed = await until_delivered(
                receiver, secret, slow_job.id, HealthState.MISSED, AlertEventType.OPENED
            )
            await scheduler.PauseJob(pb.PauseJobRequest(id=slow_job.id), metadata=auth)
        finally:
            worker.stop()
            await running
        assert failing.alert.paused_job
        paused = await scheduler.GetJob(pb.GetJobRequest(id=failing_job.id), metadata=auth)
        assert paused.job.status == job_pb2.JOB_STATUS_PAUSED
        assert paused.job.health.state == job_pb2.HEALTH_STATE_FAILING

    assert "overlap: previous run not finished" in missed.alert.reason
    await asyncio.sleep(1.0)  # time for a second delivery, were there one
    delivered = events(receiver, secret)
    ids = [r.event_id for r in receiver.requests]
    assert len(set(ids)) == len(ids), ids  # each event once, though two replicas deliver
    opened = [(e.alert.job_id, e.alert.kind) for e in delivered if e.type is AlertEventType.OPENED]
    assert sorted(opened) == sorted(
        [
            (late_job.id, HealthState.LATE),
            (failing_job.id, HealthState.FAILING),
            (slow_job.id, HealthState.MISSED),
        ]
    ), opened


def test_two_replicas_deliver_each_alert_once_signed(
    replicas: list[ServerProcess], receiver: Receiver, tmp_path: Path
) -> None:
    asyncio.run(scenario(replicas, receiver, tmp_path))
