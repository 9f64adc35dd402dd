"""One case per status code the contract lists: a call that must produce it.

`OWN` holds the cases of an RPC's own codes, keyed ("Service/Rpc", "CODE");
`EVERY_CALL` the cases of a service's every-call codes, keyed ("Service",
"CODE"), each made for any of the service's (unary) RPCs. Each case returns
the status code its call ended with; it may also assert on the way (that the
code came for the reason it tests). Codes that need a fault are not made.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import event_pb2, execution_pb2, job_pb2, rate_limit_pb2, webhook_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream.v1.scheduler_service_pb2_grpc import SchedulerServiceStub
from cronstream_server.config import Settings
from cronstream_server.core.ids import new_id
from cronstream_server.core.quotas import Quotas
from cronstream_server.server import start
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from tests.conftest import ADMIN, ADMIN_KEY, Live, Tenant, bearer, make_tenant
from tests.integration.worker_harness import RawWorker
from tests.jobs import cron_job, ts
from tests.status import code_of

# Codes that only a fault produces (a database outage, a bug, a shutdown).
FAULTS = frozenset({"UNAVAILABLE", "INTERNAL"})

# The replica with small limits: a message limit a thousand small jobs'
# response exceeds (and payloads a quarter of it, as config requires).
TINY_MESSAGE_BYTES = 96 * 1024
TINY_QUOTAS = Quotas(jobs=1, worker_streams=1, calls_per_second=0)
# A rate whose burst is under one call: every platform call is refused.
THROTTLED_QUOTAS = Quotas(calls_per_second=0.1)

MISSING = new_id()  # a well-formed id that names nothing
UNDECODABLE = b"\xff\xff\xff"  # a field tag that never ends


@dataclass
class Ctx:
    """What a case works with: the live server and its tenant, and replicas
    with small limits on the same database, started when first needed."""

    live: Live
    tenant: Tenant
    stack: AsyncExitStack
    _replicas: dict[str, Live] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def s(self) -> SchedulerServiceStub:
        return self.live.scheduler

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return self.tenant.auth

    async def tiny(self) -> Live:
        return await self._replica(
            "tiny",
            max_message_bytes=TINY_MESSAGE_BYTES,
            max_payload_bytes=TINY_MESSAGE_BYTES // 4,
            quotas=TINY_QUOTAS,
        )

    async def throttled(self) -> Live:
        return await self._replica("throttled", quotas=THROTTLED_QUOTAS)

    async def fresh_tenant(self, live: Live) -> Tenant:
        """A platform of its own, so that its quotas start untouched."""
        return await make_tenant(live, f"contract-{next(self._names)}")

    async def _replica(self, name: str, **settings: Any) -> Live:
        if name not in self._replicas:
            self._replicas[name] = await self.stack.enter_async_context(
                api_replica(self.live.database_url, **settings)
            )
        return self._replicas[name]

    # --- what the cases need to exist ---------------------------------------

    async def job(self) -> job_pb2.Job:
        created = await self.s.CreateJob(pb.CreateJobRequest(job=cron_job()), metadata=self.auth)
        return created.job

    async def cancelled_job(self) -> job_pb2.Job:
        job = await self.job()
        await self.s.CancelJob(pb.CancelJobRequest(id=job.id), metadata=self.auth)
        return job

    async def execution(self) -> execution_pb2.Execution:
        """A pending execution (its handler has no worker here)."""
        job = await self.job()
        ran = await self.s.RunJob(pb.RunJobRequest(id=job.id), metadata=self.auth)
        return ran.execution

    async def handler(self) -> event_pb2.EventHandler:
        handler = event_pb2.EventHandler(event_name="contract", handler_name="h")
        created = await self.s.CreateEventHandler(
            pb.CreateEventHandlerRequest(event_handler=handler), metadata=self.auth
        )
        return created.event_handler


@asynccontextmanager
async def api_replica(database_url: str, **overrides: Any) -> AsyncIterator[Live]:
    """An API-only replica (no ticker) on the live server's database."""
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=0.5,
        ticker=False,
        **overrides,
    )
    running = await start(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Live(running=running, channel=channel, database_url=database_url)
    finally:
        await channel.close()
        await running.stop()


Case = Callable[[Ctx], Awaitable[grpc.StatusCode]]
EveryCallCase = Callable[[Ctx, str], Awaitable[grpc.StatusCode]]  # with the method path

OWN: dict[tuple[str, str], Case] = {}
EVERY_CALL: dict[tuple[str, str], EveryCallCase] = {}


def own(rpc: str, code: str) -> Callable[[Case], Case]:
    def register(case: Case) -> Case:
        assert (rpc, code) not in OWN, f"two cases for {rpc} {code}"
        OWN[rpc, code] = case
        return case

    return register


def every_call(service: str, code: str) -> Callable[[EveryCallCase], EveryCallCase]:
    def register(case: EveryCallCase) -> EveryCallCase:
        assert (service, code) not in EVERY_CALL, f"two cases for {service} {code}"
        EVERY_CALL[service, code] = case
        return case

    return register


def path(rpc: str) -> str:
    """The method path of "Service/Rpc"."""
    return f"/cronstream.v1.{rpc}"


def raw_call(live: Live, method: str, data: bytes, metadata: Any) -> Awaitable[Any]:
    """One unary call whose request is `data` as given."""
    call: Any = live.channel.unary_unary(method)  # identity (de)serializers: bytes both ways
    return call(data, metadata=metadata, timeout=10)  # type: ignore[no-any-return]


async def raw_code(live: Live, method: str, data: bytes, metadata: Any) -> grpc.StatusCode:
    """The code of one unary call whose request is `data` as given."""
    return await code_of(raw_call(live, method, data, metadata))


async def stream_code(call: Any, *messages: wpb.ConnectRequest) -> grpc.StatusCode:
    """The code a worker stream ends with after `messages` and a half-close."""
    try:
        with contextlib.suppress(grpc.aio.AioRpcError):  # it may end before we finish
            for message in messages:
                await call.write(message)
            await call.done_writing()
        code: grpc.StatusCode = await asyncio.wait_for(call.code(), 10)
        return code
    finally:
        call.cancel()


async def with_details(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


HELLO = wpb.ConnectRequest(hello=wpb.WorkerHello(worker_id="w", handler_names=["h"], slots=1))

# --- every call -----------------------------------------------------------------


@every_call("SchedulerService", "UNAUTHENTICATED")
async def scheduler_call_with_the_admin_key(c: Ctx, method: str) -> grpc.StatusCode:
    return await raw_code(c.live, method, b"", ADMIN)


@every_call("SchedulerService", "NOT_FOUND")
async def scheduler_call_with_the_admin_key_for_no_platform(c: Ctx, method: str) -> grpc.StatusCode:
    acting = (*ADMIN, ("x-cronstream-platform", MISSING))
    return await raw_code(c.live, method, b"", acting)


@every_call("SchedulerService", "PERMISSION_DENIED")
async def scheduler_call_with_a_platform_key_naming_a_platform(
    c: Ctx, method: str
) -> grpc.StatusCode:
    acting = (*c.auth, ("x-cronstream-platform", c.tenant.platform.id))
    return await raw_code(c.live, method, b"", acting)


@every_call("SchedulerService", "INVALID_ARGUMENT")
async def scheduler_call_that_does_not_decode(c: Ctx, method: str) -> grpc.StatusCode:
    return await raw_code(c.live, method, UNDECODABLE, c.auth)


@every_call("SchedulerService", "RESOURCE_EXHAUSTED")
async def scheduler_call_past_the_call_rate(c: Ctx, method: str) -> grpc.StatusCode:
    code, details = await with_details(raw_call(await c.throttled(), method, b"", c.auth))
    assert code != grpc.StatusCode.RESOURCE_EXHAUSTED or "calls a second" in details, details
    return code


@every_call("AdminService", "UNAUTHENTICATED")
async def admin_call_with_a_platform_key(c: Ctx, method: str) -> grpc.StatusCode:
    return await raw_code(c.live, method, b"", c.auth)


@every_call("AdminService", "INVALID_ARGUMENT")
async def admin_call_that_does_not_decode(c: Ctx, method: str) -> grpc.StatusCode:
    return await raw_code(c.live, method, UNDECODABLE, ADMIN)


@every_call("AdminService", "RESOURCE_EXHAUSTED")
async def admin_call_over_the_message_limit(c: Ctx, method: str) -> grpc.StatusCode:
    return await raw_code(await c.tiny(), method, bytes(TINY_MESSAGE_BYTES + 1), ADMIN)


# --- NOT_FOUND of the calls that name one resource ----------------------------------

REQUESTS = {"SchedulerService": pb, "AdminService": admin_pb}


def missing(rpc: str, id_field: str) -> None:
    """Registers the NOT_FOUND case of `rpc`: its request's `id_field` names nothing."""

    async def case(c: Ctx) -> grpc.StatusCode:
        service, name = rpc.split("/")
        request = getattr(REQUESTS[service], f"{name}Request")(**{id_field: MISSING})
        key = ADMIN if service == "AdminService" else c.auth
        return await raw_code(c.live, path(rpc), request.SerializeToString(), key)

    case.__name__ = f"{rpc.split('/')[1]} with a missing {id_field}"
    own(rpc, "NOT_FOUND")(case)


for _rpc, _id_field in [
    ("SchedulerService/GetJob", "id"),
    ("SchedulerService/DeleteJob", "id"),
    ("SchedulerService/PauseJob", "id"),
    ("SchedulerService/ResumeJob", "id"),
    ("SchedulerService/CancelJob", "id"),
    ("SchedulerService/RunJob", "id"),
    ("SchedulerService/GetJobStats", "job_id"),
    ("SchedulerService/PreviewSchedule", "job_id"),
    ("SchedulerService/ListExecutions", "job_id"),
    ("SchedulerService/GetExecution", "id"),
    ("SchedulerService/RetryExecution", "id"),
    ("SchedulerService/CancelExecution", "id"),
    ("SchedulerService/ListExecutionLogs", "execution_id"),
    ("SchedulerService/ListAlerts", "job_id"),
    ("SchedulerService/GetEventHandler", "id"),
    ("SchedulerService/DeleteEventHandler", "id"),
    ("AdminService/GetPlatform", "id"),
    ("AdminService/DeletePlatform", "id"),
    ("AdminService/ListApiKeys", "platform_id"),
    ("AdminService/RevokeApiKey", "id"),
]:
    missing(_rpc, _id_field)


# --- SchedulerService: jobs -----------------------------------------------------------


@own("SchedulerService/CreateJob", "INVALID_ARGUMENT")
async def create_job_with_a_bad_cron(c: Ctx) -> grpc.StatusCode:
    job = cron_job("61 * * * *")
    return await code_of(c.s.CreateJob(pb.CreateJobRequest(job=job), metadata=c.auth))


@own("SchedulerService/CreateJob", "RESOURCE_EXHAUSTED")
async def create_job_past_the_jobs_quota(c: Ctx) -> grpc.StatusCode:
    tiny = await c.tiny()
    tenant = await c.fresh_tenant(tiny)
    request = pb.CreateJobRequest(job=cron_job())
    await tiny.scheduler.CreateJob(request, metadata=tenant.auth)  # the quota's one job
    code, details = await with_details(tiny.scheduler.CreateJob(request, metadata=tenant.auth))
    assert code != grpc.StatusCode.RESOURCE_EXHAUSTED or "quota of 1" in details, details
    return code


@own("SchedulerService/BatchCreateJobs", "INVALID_ARGUMENT")
async def batch_of_no_jobs(c: Ctx) -> grpc.StatusCode:
    return await code_of(c.s.BatchCreateJobs(pb.BatchCreateJobsRequest(), metadata=c.auth))


@own("SchedulerService/BatchCreateJobs", "RESOURCE_EXHAUSTED")
async def batch_whose_response_is_too_large(c: Ctx) -> grpc.StatusCode:
    tiny = await c.tiny()
    jobs = [pb.CreateJobRequest(job=cron_job(name=f"job {n}")) for n in range(1000)]
    request = pb.BatchCreateJobsRequest(requests=jobs)
    assert request.ByteSize() < TINY_MESSAGE_BYTES  # the request itself fits
    tenant = await c.fresh_tenant(tiny)
    code, details = await with_details(
        tiny.scheduler.BatchCreateJobs(request, metadata=tenant.auth)
    )
    assert code != grpc.StatusCode.RESOURCE_EXHAUSTED or "response would exceed" in details, details
    return code


@own("SchedulerService/ListJobs", "INVALID_ARGUMENT")
async def list_jobs_with_a_forged_token(c: Ctx) -> grpc.StatusCode:
    request = pb.ListJobsRequest(page_token="forged")
    return await code_of(c.s.ListJobs(request, metadata=c.auth))


@own("SchedulerService/UpdateJob", "NOT_FOUND")
async def update_a_missing_job(c: Ctx) -> grpc.StatusCode:
    request = pb.UpdateJobRequest(job=job_pb2.Job(id=MISSING, name="x"), update_mask=mask("name"))
    return await code_of(c.s.UpdateJob(request, metadata=c.auth))


@own("SchedulerService/UpdateJob", "INVALID_ARGUMENT")
async def update_an_unknown_field(c: Ctx) -> grpc.StatusCode:
    job = await c.job()
    request = pb.UpdateJobRequest(job=job_pb2.Job(id=job.id), update_mask=mask("no_such_field"))
    return await code_of(c.s.UpdateJob(request, metadata=c.auth))


@own("SchedulerService/UpdateJob", "FAILED_PRECONDITION")
async def update_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    request = pb.UpdateJobRequest(job=job_pb2.Job(id=job.id, name="x"), update_mask=mask("name"))
    return await code_of(c.s.UpdateJob(request, metadata=c.auth))


@own("SchedulerService/PauseJob", "FAILED_PRECONDITION")
async def pause_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    return await code_of(c.s.PauseJob(pb.PauseJobRequest(id=job.id), metadata=c.auth))


@own("SchedulerService/PauseJob", "INVALID_ARGUMENT")
async def pause_until_an_instant_passed(c: Ctx) -> grpc.StatusCode:
    job = await c.job()
    until = timestamp_pb2.Timestamp(seconds=1_600_000_000)  # 2020
    request = pb.PauseJobRequest(id=job.id, until=until)
    code, details = await with_details(c.s.PauseJob(request, metadata=c.auth))
    assert "until" in details, details
    return code


@own("SchedulerService/PauseJobs", "INVALID_ARGUMENT")
async def pause_jobs_with_an_empty_selector(c: Ctx) -> grpc.StatusCode:
    request = pb.PauseJobsRequest(selector=pb.JobSelector())
    code, details = await with_details(c.s.PauseJobs(request, metadata=c.auth))
    assert "selector" in details, details
    return code


@own("SchedulerService/ResumeJobs", "INVALID_ARGUMENT")
async def resume_jobs_over_the_limit(c: Ctx) -> grpc.StatusCode:
    request = pb.ResumeJobsRequest(selector=pb.JobSelector(all=True), limit=10_001)
    code, details = await with_details(c.s.ResumeJobs(request, metadata=c.auth))
    assert "limit" in details, details
    return code


@own("SchedulerService/ResumeJob", "FAILED_PRECONDITION")
async def resume_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    return await code_of(c.s.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=c.auth))


@own("SchedulerService/CancelJob", "FAILED_PRECONDITION")
async def cancel_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    return await code_of(c.s.CancelJob(pb.CancelJobRequest(id=job.id), metadata=c.auth))


@own("SchedulerService/RunJob", "FAILED_PRECONDITION")
async def run_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    return await code_of(c.s.RunJob(pb.RunJobRequest(id=job.id), metadata=c.auth))


def _backfill_of(job_id: str, days: int = 1) -> pb.BackfillJobRequest:
    """A backfill of `days` days up to a day ago."""
    end = datetime.now(UTC) - timedelta(days=1)
    return pb.BackfillJobRequest(
        id=job_id, start_time=ts(end - timedelta(days=days)), end_time=ts(end)
    )


@own("SchedulerService/BackfillJob", "NOT_FOUND")
async def backfill_a_missing_job(c: Ctx) -> grpc.StatusCode:
    return await code_of(c.s.BackfillJob(_backfill_of(MISSING), metadata=c.auth))


@own("SchedulerService/BackfillJob", "INVALID_ARGUMENT")
async def backfill_a_range_ending_in_the_future(c: Ctx) -> grpc.StatusCode:
    job = await c.job()
    request = _backfill_of(job.id)
    request.end_time.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    return await code_of(c.s.BackfillJob(request, metadata=c.auth))


@own("SchedulerService/BackfillJob", "FAILED_PRECONDITION")
async def backfill_a_cancelled_job(c: Ctx) -> grpc.StatusCode:
    job = await c.cancelled_job()
    return await code_of(c.s.BackfillJob(_backfill_of(job.id), metadata=c.auth))


# --- SchedulerService: alerts -------------------------------------------------------


@own("SchedulerService/ListAlerts", "INVALID_ARGUMENT")
async def list_alerts_of_an_unknown_kind(c: Ctx) -> grpc.StatusCode:
    request = pb.ListAlertsRequest(kinds=[99])  # type: ignore[list-item]
    return await code_of(c.s.ListAlerts(request, metadata=c.auth))


@own("SchedulerService/ListWorkers", "INVALID_ARGUMENT")
async def list_workers_with_a_negative_page_size(c: Ctx) -> grpc.StatusCode:
    request = pb.ListWorkersRequest(page_size=-1)
    return await code_of(c.s.ListWorkers(request, metadata=c.auth))


@own("SchedulerService/WatchAlerts", "INVALID_ARGUMENT")
async def watch_alerts_from_a_negative_cursor(c: Ctx) -> grpc.StatusCode:
    stream = c.s.WatchAlerts(pb.WatchAlertsRequest(after_cursor=-1), metadata=c.auth)
    try:
        await stream.read()
    except grpc.aio.AioRpcError as error:
        return error.code()
    stream.cancel()
    return grpc.StatusCode.OK


@own("SchedulerService/SetHealthDefaults", "INVALID_ARGUMENT")
async def set_health_defaults_with_zero_failures(c: Ctx) -> grpc.StatusCode:
    policy = job_pb2.HealthPolicy(consecutive_failures=0)
    request = pb.SetHealthDefaultsRequest(policy=policy)
    return await code_of(c.s.SetHealthDefaults(request, metadata=c.auth))


# --- SchedulerService: executions ---------------------------------------------------


@own("SchedulerService/ListExecutions", "INVALID_ARGUMENT")
async def list_executions_of_an_unknown_status(c: Ctx) -> grpc.StatusCode:
    request = pb.ListExecutionsRequest(statuses=[99])  # type: ignore[list-item]
    return await code_of(c.s.ListExecutions(request, metadata=c.auth))


@own("SchedulerService/RetryExecution", "FAILED_PRECONDITION")
async def retry_a_pending_execution(c: Ctx) -> grpc.StatusCode:
    execution = await c.execution()
    request = pb.RetryExecutionRequest(id=execution.id)
    return await code_of(c.s.RetryExecution(request, metadata=c.auth))


@own("SchedulerService/CancelExecution", "FAILED_PRECONDITION")
async def cancel_a_cancelled_execution(c: Ctx) -> grpc.StatusCode:
    execution = await c.execution()
    request = pb.CancelExecutionRequest(id=execution.id)
    await c.s.CancelExecution(request, metadata=c.auth)
    return await code_of(c.s.CancelExecution(request, metadata=c.auth))


@own("SchedulerService/ListExecutionLogs", "INVALID_ARGUMENT")
async def list_logs_with_a_negative_page_size(c: Ctx) -> grpc.StatusCode:
    execution = await c.execution()
    request = pb.ListExecutionLogsRequest(execution_id=execution.id, page_size=-1)
    return await code_of(c.s.ListExecutionLogs(request, metadata=c.auth))


# --- SchedulerService: events and insight ----------------------------------------------


@own("SchedulerService/CreateEventHandler", "INVALID_ARGUMENT")
async def create_a_handler_without_names(c: Ctx) -> grpc.StatusCode:
    request = pb.CreateEventHandlerRequest(event_handler=event_pb2.EventHandler())
    return await code_of(c.s.CreateEventHandler(request, metadata=c.auth))


@own("SchedulerService/ListEventHandlers", "INVALID_ARGUMENT")
async def list_handlers_with_a_forged_token(c: Ctx) -> grpc.StatusCode:
    request = pb.ListEventHandlersRequest(page_token="forged")
    return await code_of(c.s.ListEventHandlers(request, metadata=c.auth))


@own("SchedulerService/UpdateEventHandler", "NOT_FOUND")
async def update_a_missing_handler(c: Ctx) -> grpc.StatusCode:
    handler = event_pb2.EventHandler(id=MISSING, enabled=False)
    request = pb.UpdateEventHandlerRequest(event_handler=handler, update_mask=mask("enabled"))
    return await code_of(c.s.UpdateEventHandler(request, metadata=c.auth))


@own("SchedulerService/UpdateEventHandler", "INVALID_ARGUMENT")
async def update_an_unknown_handler_field(c: Ctx) -> grpc.StatusCode:
    handler = event_pb2.EventHandler(id=(await c.handler()).id)
    request = pb.UpdateEventHandlerRequest(event_handler=handler, update_mask=mask("no_such"))
    return await code_of(c.s.UpdateEventHandler(request, metadata=c.auth))


@own("SchedulerService/TriggerEvent", "INVALID_ARGUMENT")
async def trigger_an_unnamed_event(c: Ctx) -> grpc.StatusCode:
    return await code_of(c.s.TriggerEvent(pb.TriggerEventRequest(), metadata=c.auth))


@own("SchedulerService/PreviewSchedule", "INVALID_ARGUMENT")
async def preview_too_many_instants_both_sources_or_a_reversed_range(c: Ctx) -> grpc.StatusCode:
    """Each of three bad requests; the first code that is not INVALID_ARGUMENT, if any."""
    start = timestamp_pb2.Timestamp(seconds=1_900_000_000)
    before = timestamp_pb2.Timestamp(seconds=start.seconds - 1)
    requests = [
        pb.PreviewScheduleRequest(job=cron_job(), count=1001),
        pb.PreviewScheduleRequest(job=cron_job(), job_id=(await c.job()).id),
        pb.PreviewScheduleRequest(job=cron_job(), start_time=start, end_time=before),
    ]
    codes = [await code_of(c.s.PreviewSchedule(r, metadata=c.auth)) for r in requests]
    return next((code for code in codes if code != grpc.StatusCode.INVALID_ARGUMENT), codes[0])


@own("SchedulerService/GetRecentRuns", "INVALID_ARGUMENT")
async def recent_runs_of_no_jobs_or_too_many(c: Ctx) -> grpc.StatusCode:
    """Each of three bad requests; the first code that is not INVALID_ARGUMENT, if any."""
    job_id = (await c.job()).id
    requests = [
        pb.GetRecentRunsRequest(),
        pb.GetRecentRunsRequest(job_ids=[job_id] * 201),
        pb.GetRecentRunsRequest(job_ids=[job_id], limit=51),
    ]
    codes = [await code_of(c.s.GetRecentRuns(r, metadata=c.auth)) for r in requests]
    return next((code for code in codes if code != grpc.StatusCode.INVALID_ARGUMENT), codes[0])


# --- AdminService ------------------------------------------------------------------


@own("AdminService/CreatePlatform", "INVALID_ARGUMENT")
async def create_an_unnamed_platform(c: Ctx) -> grpc.StatusCode:
    request = admin_pb.CreatePlatformRequest(platform=admin_pb.Platform())
    return await code_of(c.live.admin.CreatePlatform(request, metadata=ADMIN))


@own("AdminService/CreatePlatform", "ALREADY_EXISTS")
async def create_a_platform_whose_name_is_taken(c: Ctx) -> grpc.StatusCode:
    platform = admin_pb.Platform(name=c.tenant.platform.name)
    request = admin_pb.CreatePlatformRequest(platform=platform)
    return await code_of(c.live.admin.CreatePlatform(request, metadata=ADMIN))


def _update_platform(c: Ctx, platform: admin_pb.Platform, *paths: str) -> Awaitable[Any]:
    mask = field_mask_pb2.FieldMask(paths=list(paths))
    request = admin_pb.UpdatePlatformRequest(platform=platform, update_mask=mask)
    return c.live.admin.UpdatePlatform(request, metadata=ADMIN)


@own("AdminService/UpdatePlatform", "INVALID_ARGUMENT")
async def weigh_a_platform_over_the_most(c: Ctx) -> grpc.StatusCode:
    platform = admin_pb.Platform(id=c.tenant.platform.id, weight=1001)
    return await code_of(_update_platform(c, platform, "weight"))


@own("AdminService/UpdatePlatform", "NOT_FOUND")
async def weigh_a_missing_platform(c: Ctx) -> grpc.StatusCode:
    return await code_of(_update_platform(c, admin_pb.Platform(id=MISSING, weight=2), "weight"))


@own("AdminService/UpdatePlatform", "ALREADY_EXISTS")
async def rename_a_platform_to_a_name_taken(c: Ctx) -> grpc.StatusCode:
    taken = admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name=f"taken-{new_id()}"))
    other = (await c.live.admin.CreatePlatform(taken, metadata=ADMIN)).platform
    platform = admin_pb.Platform(id=c.tenant.platform.id, name=other.name)
    return await code_of(_update_platform(c, platform, "name"))


@own("AdminService/ListPlatforms", "INVALID_ARGUMENT")
async def list_platforms_with_a_forged_token(c: Ctx) -> grpc.StatusCode:
    request = admin_pb.ListPlatformsRequest(page_token="forged")
    return await code_of(c.live.admin.ListPlatforms(request, metadata=ADMIN))


@own("AdminService/CreateApiKey", "INVALID_ARGUMENT")
async def create_an_unnamed_key(c: Ctx) -> grpc.StatusCode:
    request = admin_pb.CreateApiKeyRequest(platform_id=c.tenant.platform.id)
    return await code_of(c.live.admin.CreateApiKey(request, metadata=ADMIN))


@own("AdminService/CreateApiKey", "NOT_FOUND")
async def create_a_key_for_a_missing_platform(c: Ctx) -> grpc.StatusCode:
    request = admin_pb.CreateApiKeyRequest(platform_id=MISSING, name="key")
    return await code_of(c.live.admin.CreateApiKey(request, metadata=ADMIN))


@own("AdminService/ListApiKeys", "INVALID_ARGUMENT")
async def list_keys_with_a_forged_token(c: Ctx) -> grpc.StatusCode:
    request = admin_pb.ListApiKeysRequest(platform_id=c.tenant.platform.id, page_token="forged")
    return await code_of(c.live.admin.ListApiKeys(request, metadata=ADMIN))


# --- WorkerService ------------------------------------------------------------------


@own("WorkerService/Connect", "UNAUTHENTICATED")
async def connect_with_an_unknown_key(c: Ctx) -> grpc.StatusCode:
    return await stream_code(c.live.workers.Connect(metadata=bearer("cs_unknown")), HELLO)


@own("WorkerService/Connect", "INVALID_ARGUMENT")
async def connect_without_a_hello(c: Ctx) -> grpc.StatusCode:
    first = wpb.ConnectRequest(capacity=wpb.WorkerCapacity(slots=1))
    return await stream_code(c.live.workers.Connect(metadata=c.auth), first)


@own("WorkerService/Connect", "RESOURCE_EXHAUSTED")
async def connect_past_the_worker_stream_quota(c: Ctx) -> grpc.StatusCode:
    tiny = await c.tiny()
    tenant = await c.fresh_tenant(tiny)
    holding = await RawWorker.connect(tiny, tenant)  # the quota's one stream
    try:
        call = tiny.workers.Connect(metadata=tenant.auth)
        code = await stream_code(call, HELLO)
    finally:
        await holding.close()
    details = await call.details()
    assert code != grpc.StatusCode.RESOURCE_EXHAUSTED or "worker streams" in details, details
    return code


# --- SchedulerService: webhooks ------------------------------------------------------

for _rpc, _id_field in [
    ("SchedulerService/GetWebhook", "id"),
    ("SchedulerService/DeleteWebhook", "id"),
    ("SchedulerService/ListWebhookDeliveries", "webhook_id"),
]:
    missing(_rpc, _id_field)


@own("SchedulerService/CreateWebhook", "INVALID_ARGUMENT")
async def create_a_webhook_to_the_metadata_address(c: Ctx) -> grpc.StatusCode:
    webhook = webhook_pb2.Webhook(url="http://169.254.169.254/latest/meta-data/")
    request = pb.CreateWebhookRequest(webhook=webhook)
    return await code_of(c.s.CreateWebhook(request, metadata=c.auth))


@own("SchedulerService/ListWebhooks", "INVALID_ARGUMENT")
async def list_webhooks_with_a_forged_token(c: Ctx) -> grpc.StatusCode:
    request = pb.ListWebhooksRequest(page_token="forged")
    return await code_of(c.s.ListWebhooks(request, metadata=c.auth))


@own("SchedulerService/ListWebhookDeliveries", "INVALID_ARGUMENT")
async def list_deliveries_with_a_negative_page_size(c: Ctx) -> grpc.StatusCode:
    # Port 9 (discard) on loopback: a webhook that never gets an event here.
    webhook = webhook_pb2.Webhook(url="http://127.0.0.1:9/contract")
    created = await c.s.CreateWebhook(pb.CreateWebhookRequest(webhook=webhook), metadata=c.auth)
    request = pb.ListWebhookDeliveriesRequest(webhook_id=created.webhook.id, page_size=-1)
    return await code_of(c.s.ListWebhookDeliveries(request, metadata=c.auth))


# --- SchedulerService: rate limits -------------------------------------------------


@own("SchedulerService/SetRateLimit", "INVALID_ARGUMENT")
async def set_a_rate_limit_without_a_scope(c: Ctx) -> grpc.StatusCode:
    limit = rate_limit_pb2.RateLimit(limit=5, per=duration_pb2.Duration(seconds=1))
    request = pb.SetRateLimitRequest(rate_limit=limit)
    return await code_of(c.s.SetRateLimit(request, metadata=c.auth))


@own("SchedulerService/DeleteRateLimit", "INVALID_ARGUMENT")
async def delete_a_rate_limit_without_a_scope(c: Ctx) -> grpc.StatusCode:
    return await code_of(c.s.DeleteRateLimit(pb.DeleteRateLimitRequest(), metadata=c.auth))


@own("SchedulerService/DeleteRateLimit", "NOT_FOUND")
async def delete_a_rate_limit_never_set(c: Ctx) -> grpc.StatusCode:
    request = pb.DeleteRateLimitRequest(key="never-set")
    return await code_of(c.s.DeleteRateLimit(request, metadata=c.auth))
