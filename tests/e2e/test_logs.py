"""The server's JSON logs, read from a real `cronstream serve`: every line
parses, a worker's connect and disconnect are one INFO line each naming its
platform and worker, and the executions it runs add no INFO line each."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from cronstream import Client, Context, ExecutionStatus, Worker
from cronstream.v1 import admin_service_pb2, admin_service_pb2_grpc

from tests.e2e.processes import serving

ADMIN_KEY = "cs_admin_logs"
WORKER_ID = "logs-worker-1"
RUNS = 3
LOG_ENV = {"CRONSTREAM_LOG_FORMAT": "json", "CRONSTREAM_LOG_LEVEL": "info"}


def make_platform(address: str) -> tuple[str, str]:
    """A new platform's id and an API key's secret for it."""
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
        platform = admin.CreatePlatform(
            admin_service_pb2.CreatePlatformRequest(
                platform=admin_service_pb2.Platform(name="logs")
            ),
            metadata=auth,
        ).platform
        secret: str = admin.CreateApiKey(
            admin_service_pb2.CreateApiKeyRequest(platform_id=platform.id, name="logs"),
            metadata=auth,
        ).secret
    return platform.id, secret


async def run_executions(address: str, key: str) -> list[str]:
    """Runs a job RUNS times on one worker, which then stops; the executions' ids."""
    worker = Worker(api_key=key, target=address, worker_id=WORKER_ID)

    @worker.handler("echo")
    async def echo(ctx: Context) -> dict[str, Any]:
        return {"attempt": ctx.attempt}

    async with Client.connect(address, key) as client:
        job = await client.create_job(
            name="logged", handler="echo", every=timedelta(seconds=1), max_runs=RUNS
        )
        running = asyncio.create_task(worker.run())
        async with asyncio.timeout(30):
            while True:
                done = [
                    e
                    async for e in client.list_executions(
                        job_id=job.id, statuses=[ExecutionStatus.SUCCESS]
                    )
                ]
                if len(done) == RUNS:
                    break
                await asyncio.sleep(0.2)
        worker.stop()
        await running
    return [e.id for e in done]


def parsed(output: str) -> list[dict[str, Any]]:
    records = []
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\nall output:\n{output}") from None
    return records


def test_json_logs_of_a_worker_s_session(tmp_path: Path) -> None:
    with serving(tmp_path, ADMIN_KEY, env=LOG_ENV) as server:
        platform_id, key = make_platform(server.address)
        execution_ids = asyncio.run(run_executions(server.address, key))
        # The disconnect line comes once the server has handed back the session.
        server.read_until('"message": "worker disconnected')
    records = parsed(server.log)

    assert {"time", "level", "logger", "message"} <= set(records[0])
    about_worker = [r for r in records if r.get("worker_id") == WORKER_ID]
    connects = [r for r in about_worker if r["message"].startswith("worker connected")]
    disconnects = [r for r in about_worker if r["message"].startswith("worker disconnected")]
    assert len(connects) == 1, about_worker
    assert len(disconnects) == 1, about_worker
    for line in (*connects, *disconnects):
        assert line["level"] == "INFO"
        assert line["platform_id"] == platform_id
    # Why, as far as the server can tell: the Python worker ends its stream by
    # cancelling the call once its work is acknowledged.
    why = disconnects[0]["message"].partition("(")[2].partition(")")[0]
    assert why in (
        "the worker closed the stream",
        "the call was cancelled by the worker, or its connection broke",
    ), disconnects[0]

    info = [r for r in records if r["level"] == "INFO"]
    per_execution = [
        r for r in info if "execution_id" in r or any(e in r["message"] for e in execution_ids)
    ]
    assert per_execution == []
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], records
