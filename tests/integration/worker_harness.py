"""A worker made of the raw generated stub, and a server with short leases,
for the worker-stream tests (no client helper library on purpose: these tests
pin the wire protocol itself)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.config import Settings
from cronstream_server.server import start
from google.protobuf import struct_pb2

from tests.conftest import ADMIN_KEY, Live, Tenant
from tests.jobs import seconds, ts

LEASE = 1.0
HEARTBEAT = 0.25


@asynccontextmanager
async def short_lease_server(database_url: str, **overrides: Any) -> AsyncIterator[Live]:
    """A live server whose leases last 1 s, reaped every 0.1 s."""
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "database_url": database_url,
        "admin_key": ADMIN_KEY,
        "shutdown_grace_seconds": 1.0,
        "lease_seconds": LEASE,
        "heartbeat_seconds": HEARTBEAT,
        "reaper_interval_seconds": 0.1,
    }
    running = await start(Settings(**(values | overrides)))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Live(running=running, channel=channel, database_url=database_url)
    finally:
        await channel.close()
        await running.stop()


@dataclass
class RawWorker:
    """One Connect stream; a reader task queues what the server sends."""

    call: Any
    inbox: asyncio.Queue[wpb.ConnectResponse | BaseException | None] = field(
        default_factory=asyncio.Queue
    )
    welcome: wpb.Welcome = field(default_factory=wpb.Welcome)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        live: Live,
        tenant: Tenant,
        handlers: Sequence[str] = ("h",),
        slots: int = 1,
        worker_id: str = "worker-1",
        running: Sequence[tuple[str, int]] = (),
        accepts_batches: bool = False,
        holds_until_start: bool = False,
    ) -> RawWorker:
        worker = cls(call=live.workers.Connect(metadata=tenant.auth))
        worker.reader = asyncio.create_task(worker._read())
        hello = wpb.WorkerHello(
            worker_id=worker_id,
            handler_names=handlers,
            slots=slots,
            accepts_batches=accepts_batches,
            holds_until_start=holds_until_start,
        )
        for execution_id, attempt in running:
            hello.running.add(execution_id=execution_id, attempt=attempt)
        await worker.send(hello=hello)
        worker.welcome = await worker.expect("welcome")
        return worker

    async def _read(self) -> None:
        try:
            while (message := await self.call.read()) is not grpc.aio.EOF:
                self.inbox.put_nowait(message)
            self.inbox.put_nowait(None)
        except BaseException as error:  # the stream's final status, for `ended`
            self.inbox.put_nowait(error)

    async def send(self, **message: Any) -> None:
        await self.call.write(wpb.ConnectRequest(**message))

    async def next(self, within: float = 5.0) -> wpb.ConnectResponse:
        item = await asyncio.wait_for(self.inbox.get(), within)
        if not isinstance(item, wpb.ConnectResponse):
            raise AssertionError(f"the stream ended: {item!r}")
        return item

    async def expect(self, kind: str, within: float = 5.0) -> Any:
        message = await self.next(within)
        assert message.WhichOneof("msg") == kind, f"expected {kind}, got {message}"
        return getattr(message, kind)

    async def quiet(self, seconds: float) -> None:
        """Asserts that the server sends nothing for `seconds`."""
        with contextlib.suppress(TimeoutError):
            item = await asyncio.wait_for(self.inbox.get(), seconds)
            raise AssertionError(f"expected silence, got {item}")

    async def ended(self, within: float = 5.0) -> grpc.StatusCode:
        """Waits for the end of the stream; its status code."""
        while True:
            item = await asyncio.wait_for(self.inbox.get(), within)
            if item is None:
                return grpc.StatusCode.OK
            if isinstance(item, grpc.aio.AioRpcError):
                return item.code()
            if isinstance(item, BaseException):
                raise item

    async def succeed(self, assignment: wpb.Assignment, **result: Any) -> None:
        value = struct_pb2.Struct()
        value.update(result)
        await self.send(
            result=wpb.WorkerResult(
                execution_id=assignment.execution_id,
                attempt=assignment.attempt,
                success=wpb.ResultSuccess(result=value),
            )
        )

    async def fail(
        self, assignment: wpb.Assignment, error: str = "boom", retryable: bool | None = None
    ) -> None:
        failure = wpb.ResultFailure(error=error, error_stack="Traceback: boom")
        if retryable is not None:
            failure.retryable = retryable
        await self.send(
            result=wpb.WorkerResult(
                execution_id=assignment.execution_id, attempt=assignment.attempt, failure=failure
            )
        )

    async def heartbeat(self, *execution_ids: str) -> None:
        await self.send(heartbeat=wpb.WorkerHeartbeat(execution_ids=execution_ids))

    async def close(self) -> None:
        """Cancels the call, as a crashed worker's connection would end."""
        self.call.cancel()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self.reader


async def make_job(
    live: Live,
    tenant: Tenant,
    handler: str = "h",
    run_at: datetime | None = None,
    **fields: Any,
) -> job_pb2.Job:
    """A one-time job (due in a day unless `run_at`), for RunJob to run by hand."""
    fields.setdefault("retry_delay", seconds(1))
    at = run_at or datetime.now(UTC) + timedelta(days=1)
    job = job_pb2.Job(
        name=f"job for {handler}",
        handler_name=handler,
        once=job_pb2.OnceTrigger(run_at=ts(at)),
        **fields,
    )
    return (await live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth)).job


async def run(live: Live, tenant: Tenant, job_id: str) -> execution_pb2.Execution:
    response = await live.scheduler.RunJob(pb.RunJobRequest(id=job_id), metadata=tenant.auth)
    return response.execution


async def execution(live: Live, tenant: Tenant, execution_id: str) -> execution_pb2.Execution:
    response = await live.scheduler.GetExecution(
        pb.GetExecutionRequest(id=execution_id), metadata=tenant.auth
    )
    return response.execution


async def job(live: Live, tenant: Tenant, job_id: str) -> job_pb2.Job:
    return (await live.scheduler.GetJob(pb.GetJobRequest(id=job_id), metadata=tenant.auth)).job


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def status_becomes(
    live: Live, tenant: Tenant, execution_id: str, status: int, within: float = 10.0
) -> execution_pb2.Execution:
    async def check() -> bool:
        return (await execution(live, tenant, execution_id)).status == status

    await eventually(check, within)
    return await execution(live, tenant, execution_id)
