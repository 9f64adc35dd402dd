"""Several `cronstream serve` replicas on one Postgres, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server import migrate
from google.protobuf import duration_pb2, timestamp_pb2

from tests import databases
from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving

ADMIN_KEY = "cs_admin_cluster"


@dataclass
class Cluster:
    database_url: str
    dsn: str
    replicas: list[ServerProcess] = field(default_factory=list)
    api_key: str = ""

    def scheduler(self, index: int) -> scheduler_service_pb2_grpc.SchedulerServiceStub:
        channel = grpc.insecure_channel(self.replicas[index].address)
        return scheduler_service_pb2_grpc.SchedulerServiceStub(channel)

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.api_key}"),)

    def create_interval_job(
        self, index: int, name: str, start: datetime, every: float, end: datetime
    ) -> str:
        start_at, end_at = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
        start_at.FromDatetime(start)
        end_at.FromDatetime(end)
        interval = job_pb2.IntervalTrigger(
            every=duration_pb2.Duration(nanos=int(every * 1e9) % 10**9, seconds=int(every)),
            start_at=start_at,
            end_at=end_at,
        )
        job = job_pb2.Job(name=name, handler_name="count", interval=interval)
        response = self.scheduler(index).CreateJob(pb.CreateJobRequest(job=job), metadata=self.auth)
        job_id: str = response.job.id
        return job_id

    def slots(self) -> dict[str, list[datetime]]:
        """Every execution's slot, by job, read straight from the database."""

        async def read() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.dsn)
            try:
                return await conn.fetch(
                    "SELECT job_id::text AS job_id, scheduled_at FROM job_executions "
                    "WHERE trigger = 'schedule' ORDER BY scheduled_at"
                )
            finally:
                await conn.close()

        found: dict[str, list[datetime]] = {}
        for row in asyncio.run(read()):
            found.setdefault(row["job_id"], []).append(row["scheduled_at"])
        return found

    def greatest_firing_lead(self) -> float:
        """How long before its instant the earliest-written slot was written,
        in seconds, by the database's clock (the ticker stamps created_at with
        it): at most the fire-ahead, whatever a replica's own clock says."""

        async def read() -> float:
            conn = await asyncpg.connect(self.dsn)
            try:
                lead = await conn.fetchval(
                    "SELECT extract(epoch FROM max(scheduled_at - created_at)) FROM job_executions"
                )
                return float(lead) if lead is not None else float("-inf")
            finally:
                await conn.close()

        return asyncio.run(read())

    def unfinished_jobs(self) -> int:
        async def read() -> int:
            conn = await asyncpg.connect(self.dsn)
            try:
                count: int = await conn.fetchval(
                    "SELECT count(*) FROM scheduled_jobs WHERE status <> 'completed'"
                )
                return count
            finally:
                await conn.close()

        return asyncio.run(read())


def start_replica(
    cluster: Cluster,
    cwd: Path,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    env = {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY, "CRONSTREAM_DATABASE_URL": cluster.database_url}
    process = start_cronstream(["serve"], cwd, {**env, **(extra_env or {})})
    cluster.replicas.append(process)
    wait_until_serving(process.address)
    return process


@contextmanager
def postgres_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A migrated empty Postgres database; replicas are added by the test."""
    dsn = databases.require_postgres()
    with databases.sync_empty_postgres_database(dsn) as url:
        migrate.upgrade(url)
        name = url.rsplit("/", 1)[1]
        cluster = Cluster(database_url=url, dsn=dsn.rsplit("/", 1)[0] + "/" + name)
        try:
            yield cluster
        finally:
            for replica in cluster.replicas:
                replica.terminate()


def make_api_key(cluster: Cluster) -> None:
    cluster.api_key = platform_key(cluster.replicas[0].address, "cluster")


def platform_key(address: str, name: str) -> str:
    """A new platform named `name`, through the replica at `address`, and a key of it."""
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
        platform = admin.CreatePlatform(
            admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name=name)),
            metadata=auth,
        ).platform
        secret: str = admin.CreateApiKey(
            admin_pb.CreateApiKeyRequest(platform_id=platform.id, name=name), metadata=auth
        ).secret
        return secret


def grid(start: datetime, every: float, end: datetime) -> list[datetime]:
    slots, at = [], start
    while at <= end:
        slots.append(at)
        at += timedelta(seconds=every)
    return slots
