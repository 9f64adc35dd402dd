"""`Client`: SchedulerService with keyword arguments, API-key auth and typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, Unpack

import grpc
from google.protobuf import field_mask_pb2
from grpc import aio

from cronstream import _build
from cronstream._backoff import Backoff
from cronstream._build import (
    AlertStateName,
    EventHandlerFields,
    ExecutionStatusName,
    HealthStateName,
    JobFields,
    JobStatusName,
    JobTypeName,
)
from cronstream._convert import Payload, struct, timestamp
from cronstream._scheduling_calls import SchedulingCalls
from cronstream._tracing import channel_interceptors
from cronstream._version import __version__
from cronstream._watch import AlertWatch, WatchCall
from cronstream.errors import from_rpc_error
from cronstream.models import (
    Alert,
    AlertState,
    ConnectedWorker,
    EventHandler,
    Execution,
    ExecutionStatus,
    Health,
    HealthState,
    Job,
    JobStats,
    JobStatus,
    JobType,
    LogLine,
    Metrics,
)
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import (
    scheduler_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
)

__all__ = ["Client"]

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Item = TypeVar("_Item")

# Pings every 20 s, below common load-balancer idle timeouts, so a silent peer
# is noticed even on an idle worker stream (the server allows one per 10 s).
_CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.primary_user_agent", f"cronstream-python/{__version__}"),
)

WorkerStream = aio.StreamStreamCall[
    worker_service_pb2.ConnectRequest, worker_service_pb2.ConnectResponse
]


class _PagedRequest(Protocol):
    page_token: str


class _PagedResponse(Protocol):
    @property
    def next_page_token(self) -> str: ...


_PagedReq = TypeVar("_PagedReq", bound=_PagedRequest)
_PagedResp = TypeVar("_PagedResp", bound=_PagedResponse)


class Client(SchedulingCalls):
    """A Cronstream SchedulerService client over one `grpc.aio` channel.

    Every call carries `authorization: Bearer <api_key>` and raises the
    `cronstream.errors` types. Use it as an async context manager, or call
    `close()`::

        async with Client.connect("127.0.0.1:50051", api_key) as client:
            job = await client.create_job(name="report", handler="send_report",
                                          cron="0 3 * * *", timezone="Europe/Berlin")
    """

    def __init__(
        self,
        channel: aio.Channel,
        api_key: str | None,
        *,
        timeout: float | None = 30.0,
        owns_channel: bool = False,
    ) -> None:
        """Wraps a channel made elsewhere; `close()` closes it only when
        `owns_channel`. `timeout` is each unary call's deadline in seconds."""
        self._channel = channel
        self._owns_channel = owns_channel
        self._timeout = timeout
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {api_key}"),) if api_key else ()
        )
        self.scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        self._workers = worker_service_pb2_grpc.WorkerServiceStub(channel)

    @classmethod
    def connect(
        cls,
        target: str,
        api_key: str | None,
        *,
        tls: bool | grpc.ChannelCredentials = False,
        timeout: float | None = 30.0,
        options: Sequence[tuple[str, Any]] = (),
    ) -> Client:
        """A client for `target` ("host:port"). `tls`: False for plaintext
        (as `make run` serves), True for TLS with the system's roots, or your
        own `grpc.ChannelCredentials`. It connects lazily, on the first call.
        With opentelemetry-instrumentation-grpc installed, each call gets a
        client span and carries the current trace context."""
        merged = [*_CHANNEL_OPTIONS, *options]
        traced = channel_interceptors()
        if tls is False:
            channel = aio.insecure_channel(target, options=merged, interceptors=traced)
        else:
            credentials = grpc.ssl_channel_credentials() if tls is True else tls
            channel = aio.secure_channel(target, credentials, options=merged, interceptors=traced)
        return cls(channel, api_key, timeout=timeout, owns_channel=True)

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- the edge: auth and error translation --------------------------------

    async def _call(
        self, method: aio.UnaryUnaryMultiCallable[_Request, _Response], request: _Request
    ) -> _Response:
        try:
            return await method(request, metadata=self.metadata, timeout=self._timeout)
        except aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc

    async def _paged(
        self,
        method: aio.UnaryUnaryMultiCallable[_PagedReq, _PagedResp],
        request: _PagedReq,
        items: Callable[[_PagedResp], Iterable[_Item]],
    ) -> AsyncIterator[_Item]:
        """Every item of every page, following next_page_token."""
        while True:
            response = await self._call(method, request)
            for item in items(response):
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def _open_worker_stream(self) -> WorkerStream:
        """A WorkerService.Connect call to read and write; errors surface on
        read and write, as `AioRpcError`, for the session to translate."""
        return self._workers.Connect(metadata=self.metadata)

    # --- jobs -----------------------------------------------------------------

    async def create_job(self, *, request_id: str = "", **fields: Unpack[JobFields]) -> Job:
        """Creates a job. Give `name`, `handler` and one trigger::

            cron="*/5 * * * *", timezone="UTC" | once=datetime | every=timedelta
            (with start_at, end_at, max_runs) | event="user.signup"

        and optionally payload, max_retries, retry_delay, timeout, priority,
        tags, metadata, overlap_policy, misfire_policy, catchup_window,
        jitter. The same `request_id` twice returns the first job."""
        job, _ = _build.job_message(fields)
        request = pb.CreateJobRequest(job=job, request_id=request_id)
        return Job.from_proto((await self._call(self.scheduler.CreateJob, request)).job)

    async def create_jobs(
        self, jobs: Sequence[JobFields], *, request_ids: Sequence[str] = ()
    ) -> list[Job]:
        """Creates up to 1,000 jobs in one call and one transaction: all of
        them, or none when any is invalid (`InvalidArgumentError` names each
        bad field by its index, `requests[3].job.cron.expression`). Each item
        takes `create_job`'s keywords. `request_ids`, when given, holds one
        idempotency key per job ("" for none), so a retried batch returns the
        jobs the first one created. The jobs come back in the order given."""
        if request_ids and len(request_ids) != len(jobs):
            raise ValueError(f"{len(request_ids)} request_ids for {len(jobs)} jobs")
        if not jobs:
            return []  # the server wants at least one; nothing asked, nothing to do
        keys = request_ids or [""] * len(jobs)
        request = pb.BatchCreateJobsRequest(
            requests=[
                pb.CreateJobRequest(job=_build.job_message(fields)[0], request_id=key)
                for fields, key in zip(jobs, keys, strict=True)
            ]
        )
        response = await self._call(self.scheduler.BatchCreateJobs, request)
        return [Job.from_proto(job) for job in response.jobs]

    async def get_job(self, job_id: str) -> Job:
        return Job.from_proto(
            (await self._call(self.scheduler.GetJob, pb.GetJobRequest(id=job_id))).job
        )

    def list_jobs(
        self,
        *,
        statuses: Sequence[JobStatus | JobStatusName | int] = (),
        types: Sequence[JobType | JobTypeName | int] = (),
        handler: str = "",
        tags: Sequence[str] = (),
        healths: Sequence[HealthState | HealthStateName | int] = (),
        page_size: int = 100,
    ) -> AsyncIterator[Job]:
        """Every matching job, newest first, fetched a page at a time;
        `healths=["failing", "late"]` keeps the jobs in one of those states."""
        request = pb.ListJobsRequest(
            statuses=_build.job_statuses(statuses),  # type: ignore[arg-type]
            types=_build.job_types(types),  # type: ignore[arg-type]
            handler_name=handler,
            tags=tags,
            healths=_build.health_states(healths),  # type: ignore[arg-type]
            page_size=page_size,
        )
        return self._paged(self.scheduler.ListJobs, request, lambda r: map(Job.from_proto, r.jobs))

    async def update_job(self, job_id: str, **fields: Unpack[JobFields]) -> Job:
        """Changes exactly the fields given (the update mask is their names);
        a trigger argument replaces the whole trigger."""
        job, paths = _build.job_message(fields)
        job.id = job_id
        request = pb.UpdateJobRequest(job=job, update_mask=field_mask_pb2.FieldMask(paths=paths))
        return Job.from_proto((await self._call(self.scheduler.UpdateJob, request)).job)

    async def delete_job(self, job_id: str) -> None:
        await self._call(self.scheduler.DeleteJob, pb.DeleteJobRequest(id=job_id))

    async def pause_job(self, job_id: str, *, until: datetime | None = None) -> Job:
        """Stops the job firing until `resume_job`, or until `until`, when it
        resumes by itself (`Job.paused_until`). Pausing a paused job sets its
        `until` anew."""
        request = pb.PauseJobRequest(id=job_id)
        if until is not None:
            request.until.CopyFrom(timestamp(until))
        return Job.from_proto((await self._call(self.scheduler.PauseJob, request)).job)

    async def resume_job(self, job_id: str) -> Job:
        return Job.from_proto(
            (await self._call(self.scheduler.ResumeJob, pb.ResumeJobRequest(id=job_id))).job
        )

    async def cancel_job(self, job_id: str) -> Job:
        return Job.from_proto(
            (await self._call(self.scheduler.CancelJob, pb.CancelJobRequest(id=job_id))).job
        )

    async def run_job(self, job_id: str) -> Execution:
        """Creates a pending execution now, outside the schedule."""
        response = await self._call(self.scheduler.RunJob, pb.RunJobRequest(id=job_id))
        return Execution.from_proto(response.execution)

    # --- executions -----------------------------------------------------------

    def list_executions(
        self,
        *,
        job_id: str = "",
        statuses: Sequence[ExecutionStatus | ExecutionStatusName | int] = (),
        page_size: int = 100,
    ) -> AsyncIterator[Execution]:
        """Executions (of one job, or all), newest first."""
        request = pb.ListExecutionsRequest(
            job_id=job_id,
            statuses=_build.execution_statuses(statuses),  # type: ignore[arg-type]
            page_size=page_size,
        )
        return self._paged(
            self.scheduler.ListExecutions,
            request,
            lambda r: map(Execution.from_proto, r.executions),
        )

    async def get_execution(self, execution_id: str) -> Execution:
        request = pb.GetExecutionRequest(id=execution_id)
        return Execution.from_proto(
            (await self._call(self.scheduler.GetExecution, request)).execution
        )

    async def retry_execution(self, execution_id: str) -> Execution:
        request = pb.RetryExecutionRequest(id=execution_id)
        return Execution.from_proto(
            (await self._call(self.scheduler.RetryExecution, request)).execution
        )

    async def cancel_execution(self, execution_id: str) -> Execution:
        request = pb.CancelExecutionRequest(id=execution_id)
        return Execution.from_proto(
            (await self._call(self.scheduler.CancelExecution, request)).execution
        )

    def list_execution_logs(
        self, execution_id: str, *, page_size: int = 100
    ) -> AsyncIterator[LogLine]:
        """An execution's log lines, oldest first."""
        request = pb.ListExecutionLogsRequest(execution_id=execution_id, page_size=page_size)
        return self._paged(
            self.scheduler.ListExecutionLogs, request, lambda r: map(LogLine.from_proto, r.logs)
        )

    # --- events ---------------------------------------------------------------

    async def create_event_handler(self, **fields: Unpack[EventHandlerFields]) -> EventHandler:
        """Runs `handler` on every `event` triggered; give event and handler,
        and optionally payload, enabled, priority, max_retries, retry_delay,
        timeout."""
        handler, _ = _build.event_handler_message(fields)
        request = pb.CreateEventHandlerRequest(event_handler=handler)
        return EventHandler.from_proto(
            (await self._call(self.scheduler.CreateEventHandler, request)).event_handler
        )

    async def get_event_handler(self, handler_id: str) -> EventHandler:
        request = pb.GetEventHandlerRequest(id=handler_id)
        return EventHandler.from_proto(
            (await self._call(self.scheduler.GetEventHandler, request)).event_handler
        )

    def list_event_handlers(
        self, *, event: str = "", page_size: int = 100
    ) -> AsyncIterator[EventHandler]:
        request = pb.ListEventHandlersRequest(event_name=event, page_size=page_size)
        return self._paged(
            self.scheduler.ListEventHandlers,
            request,
            lambda r: map(EventHandler.from_proto, r.event_handlers),
        )

    async def update_event_handler(
        self, handler_id: str, **fields: Unpack[EventHandlerFields]
    ) -> EventHandler:
        """Changes exactly the fields given, e.g. `enabled=False`."""
        handler, paths = _build.event_handler_message(fields)
        handler.id = handler_id
        request = pb.UpdateEventHandlerRequest(
            event_handler=handler, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        return EventHandler.from_proto(
            (await self._call(self.scheduler.UpdateEventHandler, request)).event_handler
        )

    async def delete_event_handler(self, handler_id: str) -> None:
        request = pb.DeleteEventHandlerRequest(id=handler_id)
        await self._call(self.scheduler.DeleteEventHandler, request)

    async def trigger_event(
        self, event: str, payload: Payload = None, *, request_id: str = ""
    ) -> list[str]:
        """Fires an event; returns the ids of the executions it created."""
        request = pb.TriggerEventRequest(
            event_name=event, payload=struct(payload), request_id=request_id
        )
        return list((await self._call(self.scheduler.TriggerEvent, request)).execution_ids)

    # --- alerts ---------------------------------------------------------------

    def list_alerts(
        self,
        *,
        job_id: str = "",
        kinds: Sequence[HealthState | HealthStateName | int] = (),
        states: Sequence[AlertState | AlertStateName | int] = (),
        page_size: int = 100,
    ) -> AsyncIterator[Alert]:
        """Alerts (of one job, or all the platform's), the most recently
        opened first; `kinds=["failing"]`, `states=["open"]` narrow them."""
        request = pb.ListAlertsRequest(
            job_id=job_id,
            kinds=_build.health_states(kinds),  # type: ignore[arg-type]
            states=_build.alert_states(states),  # type: ignore[arg-type]
            page_size=page_size,
        )
        return self._paged(
            self.scheduler.ListAlerts, request, lambda r: map(Alert.from_proto, r.alerts)
        )

    def watch_alerts(self, *, after_cursor: int = 0, backoff: Backoff | None = None) -> AlertWatch:
        """The platform's alert events as they happen, an async iterator of
        `AlertEvent`s that reconnects by itself (with `backoff`, by default
        the worker's) when the stream breaks, resuming after the last event it
        returned, so each event comes once::

            async with client.watch_alerts(after_cursor=saved) as events:
                async for event in events:
                    print(event.type, event.alert.kind, event.alert.job_name)
                    saved = event.cursor

        `after_cursor=0` starts with the events from when the stream opens
        (entering `async with`, else the first read); a cursor from an
        earlier watch (its `cursor` attribute, or the last event's) first
        replays every event since. Until its first event, a watch from 0 has
        no cursor to resume after: a reconnection then resumes "from now",
        and an event in between is missed. A wrong key
        (`UnauthenticatedError`) or a negative cursor (`InvalidArgumentError`)
        ends it."""

        def open_call(cursor: int) -> WatchCall:
            request = pb.WatchAlertsRequest(after_cursor=cursor)
            return self.scheduler.WatchAlerts(request, metadata=self.metadata)

        return AlertWatch(open_call, after_cursor=after_cursor, backoff=backoff)

    # --- insight --------------------------------------------------------------

    async def get_job_stats(self, job_id: str) -> JobStats:
        request = pb.GetJobStatsRequest(job_id=job_id)
        return JobStats.from_proto((await self._call(self.scheduler.GetJobStats, request)).stats)

    async def get_metrics(self) -> Metrics:
        response = await self._call(self.scheduler.GetMetrics, pb.GetMetricsRequest())
        return Metrics.from_proto(response.metrics)

    def list_workers(
        self, handler_name: str | None = None, *, page_size: int = 100
    ) -> AsyncIterator[ConnectedWorker]:
        """The worker streams open on any replica of the cluster, by worker
        id then session; those that run `handler_name` when given::

            async for worker in client.list_workers(handler_name="send_report"):
                print(worker.worker_id, worker.slots_in_use, "/", worker.slots)
        """
        request = pb.ListWorkersRequest(handler_name=handler_name or "", page_size=page_size)
        views = ConnectedWorker.from_proto
        return self._paged(self.scheduler.ListWorkers, request, lambda r: map(views, r.workers))

    async def get_health(self) -> Health:
        response = await self._call(self.scheduler.GetHealth, pb.GetHealthRequest())
        return Health.from_proto(response.health)
