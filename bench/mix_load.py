"""W3's traffic beside the cron jobs: event triggers and control-plane calls,
each paced at a rate over the window from a few channels.

Pacing is open-loop: call i starts at `start + i / rate` whatever the calls
before it are doing (a slow server does not slow the offered load down, as
it would not slow real callers), with a bound on the calls in flight so a
stalled server cannot pile up thousands of them.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from cronstream.v1 import event_pb2, job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import field_mask_pb2

from bench.control_plane import CALL_TIMEOUT, Auth, open_channels
from bench.harness import percentile
from bench.mix_jobs import HANDLER

# Event names and how many handlers each has: one fans out to two.
EVENTS: tuple[tuple[str, int], ...] = (
    ("order.created", 1),
    ("user.signed_up", 1),
    ("invoice.paid", 1),
    ("file.uploaded", 2),
)
# The control plane's mix: what a user's scripts and dashboard do, by weight.
CALLS: tuple[tuple[str, int], ...] = (
    ("ListJobs", 20),
    ("GetJob", 25),
    ("ListExecutions", 20),
    ("UpdateJob", 10),
    ("PauseJob", 5),
    ("ResumeJob", 5),
    ("CreateJob", 8),
    ("DeleteJob", 7),
)
MAX_IN_FLIGHT = 64
# Jobs the writes touch: Feb 29 at midnight, so none fires in a window.
NEVER_IN_WINDOW = "0 0 0 29 2 *"

Call = Callable[[Any, int], Awaitable[str]]  # (stub, number) -> the call's name


@dataclass
class Latencies:
    """Per call name: latencies in seconds, and errors."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: collections.Counter[str] = field(default_factory=collections.Counter)  # by code
    late_starts: int = 0  # calls that could not start on their instant (in-flight bound)

    def summary(self) -> dict[str, Any]:
        every = sorted(s for values in self.seconds.values() for s in values)
        by_name = {name: _ms(sorted(values)) for name, values in sorted(self.seconds.items())}
        return {
            **_ms(every),
            "errors": dict(self.errors),
            "late_starts": self.late_starts,
            "by_call": by_name,
        }


def _ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"calls": 0}
    return {
        "calls": len(values),
        "p50_ms": round(1000 * percentile(values, 0.5), 1),
        "p99_ms": round(1000 * percentile(values, 0.99), 1),
    }


async def paced(
    channels: list[grpc.aio.Channel], rate: float, until: float, call: Call, record: Latencies
) -> None:
    """Calls `call` at `rate`/s from now (wall clock) until `until`, round
    robin over `channels`; each call's latency and errors go to `record`."""
    stubs = [scheduler_service_pb2_grpc.SchedulerServiceStub(c) for c in channels]
    room = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()
    start = time.time()

    async def one(number: int) -> None:
        began = time.perf_counter()
        try:
            name = await call(stubs[number % len(stubs)], number)
            record.seconds[name].append(time.perf_counter() - began)
        except grpc.aio.AioRpcError as error:
            record.errors[error.code().name] += 1
        finally:
            room.release()

    number = 0
    while (due := start + number / rate) < until:
        await asyncio.sleep(max(0.0, due - time.time()))
        if room.locked():
            record.late_starts += 1
        await room.acquire()
        task = asyncio.create_task(one(number))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        number += 1
    await asyncio.gather(*tasks)


async def create_event_handlers(stub: Any, auth: Auth) -> None:
    for event_name, count in EVENTS:
        for _ in range(count):
            handler = event_pb2.EventHandler(event_name=event_name, handler_name=HANDLER)
            request = pb.CreateEventHandlerRequest(event_handler=handler)
            await stub.CreateEventHandler(request, metadata=auth, timeout=CALL_TIMEOUT)


def event_trigger(auth: Auth, published: dict[str, int]) -> Call:
    """TriggerEvent for the events in turn; each execution id it returns is
    kept with the instant (µs) just before the call: the publish time."""
    names = [name for name, _ in EVENTS]

    async def trigger(stub: Any, number: int) -> str:
        request = pb.TriggerEventRequest(event_name=names[number % len(names)])
        request.payload.update({"n": number})
        before_us = time.time_ns() // 1000
        answer = await stub.TriggerEvent(request, metadata=auth, timeout=CALL_TIMEOUT)
        for execution_id in answer.execution_ids:
            published[execution_id] = before_us
        return "TriggerEvent"

    return trigger


async def run_paced(address: str, clients: int, rate: float, until: float, call: Call) -> Latencies:
    record = Latencies()
    if rate <= 0:  # this traffic left out (--events-per-second 0, --calls-per-second 0)
        return record
    async with open_channels(address, clients) as channels:
        await paced(channels, rate, until, call, record)
    return record


@dataclass
class ControlPlane:
    """The control plane's calls on W3's jobs: reads of any of them, writes
    only on jobs of its own (`pool`) that never fire in a window, so the
    writes change no slot the benchmark counts. Pause and resume, create and
    delete take their job from a queue: no two calls in flight touch one job.
    """

    auth: Auth
    job_ids: list[str]  # W3's cron jobs, read only
    pool: list[str]  # the control plane's own jobs
    rng: random.Random = field(default_factory=lambda: random.Random(50))
    active: collections.deque[str] = field(default_factory=collections.deque)
    paused: collections.deque[str] = field(default_factory=collections.deque)
    created: collections.deque[str] = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.active.extend(self.pool)

    async def __call__(self, stub: Any, number: int) -> str:
        names, weights = zip(*CALLS, strict=True)
        call: Call = getattr(self, self.rng.choices(names, weights)[0])
        return await call(stub, number)

    async def ListJobs(self, stub: Any, number: int) -> str:
        request = pb.ListJobsRequest(page_size=50, tags=["w3"] if number % 2 else [])
        await stub.ListJobs(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        return "ListJobs"

    async def GetJob(self, stub: Any, number: int) -> str:
        request = pb.GetJobRequest(id=self.rng.choice(self.job_ids))
        await stub.GetJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        return "GetJob"

    async def ListExecutions(self, stub: Any, number: int) -> str:
        request = pb.ListExecutionsRequest(job_id=self.rng.choice(self.job_ids), page_size=20)
        await stub.ListExecutions(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        return "ListExecutions"

    async def UpdateJob(self, stub: Any, number: int) -> str:
        job = job_pb2.Job(id=self.rng.choice(self.pool), tags=["cp", f"rev-{number}"])
        mask = field_mask_pb2.FieldMask(paths=["tags"])
        request = pb.UpdateJobRequest(job=job, update_mask=mask)
        await stub.UpdateJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        return "UpdateJob"

    async def PauseJob(self, stub: Any, number: int) -> str:
        return await self._toggle(stub, pause=bool(self.active) or not self.paused)

    async def ResumeJob(self, stub: Any, number: int) -> str:
        return await self._toggle(stub, pause=not self.paused and bool(self.active))

    async def _toggle(self, stub: Any, *, pause: bool) -> str:
        """Pauses an active pool job or resumes a paused one; with every pool
        job in flight (both queues empty), reads one instead."""
        source, target = (self.active, self.paused) if pause else (self.paused, self.active)
        if not source:
            return await self.GetJob(stub, 0)
        job_id = source.popleft()
        try:
            if pause:
                request: Any = pb.PauseJobRequest(id=job_id)
                await stub.PauseJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
            else:
                request = pb.ResumeJobRequest(id=job_id)
                await stub.ResumeJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        finally:
            target.append(job_id)
        return "PauseJob" if pause else "ResumeJob"

    async def CreateJob(self, stub: Any, number: int) -> str:
        request = pb.CreateJobRequest(job=pool_job(f"cp-new-{number}"))
        answer = await stub.CreateJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        self.created.append(answer.job.id)
        return "CreateJob"

    async def DeleteJob(self, stub: Any, number: int) -> str:
        if not self.created:
            return await self.CreateJob(stub, number)
        request = pb.DeleteJobRequest(id=self.created.popleft())
        await stub.DeleteJob(request, metadata=self.auth, timeout=CALL_TIMEOUT)
        return "DeleteJob"


def pool_job(name: str) -> job_pb2.Job:
    trigger = job_pb2.CronTrigger(expression=NEVER_IN_WINDOW)
    return job_pb2.Job(name=name, handler_name=HANDLER, cron=trigger, tags=["cp"])
