"""SchedulerService: the job RPCs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import TypeVar

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import (
    HEALTH_STATE,
    JOB_STATUS,
    JOB_TYPE,
    Reader,
    execution_message,
    job_message,
    job_spec,
    trigger_for_job,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.api.pausing import read_until
from cronstream_server.api.update_mask import apply_job_mask
from cronstream_server.core import jobs as job_rules
from cronstream_server.core.enums import JobStatus
from cronstream_server.core.errors import ResourceExhausted
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import fingerprint, next_page_token, page_request
from cronstream_server.core.ports import JobFilter
from cronstream_server.core.tenancy import PlatformPrincipal
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.telemetry.context import current_trace_context

MAX_REQUEST_ID_LENGTH = 200
MAX_BATCH_JOBS = 1000
# Reading and answering a batch is CPU work on the one event loop (about a
# tenth of a millisecond a job): it lets the loop run every this many jobs,
# so a bulk load does not hold up the ticker, worker streams and other calls
# for a whole batch at a time.
TURN = 50

T = TypeVar("T")


async def _taking_turns(items: Iterable[T]) -> AsyncIterator[tuple[int, T]]:
    """enumerate(items), letting the event loop run every TURN items."""
    for index, item in enumerate(items):
        if index and index % TURN == 0:
            await asyncio.sleep(0)
        yield index, item


class JobRpcs:
    deps: SchedulerDeps

    async def CreateJob(
        self, request: pb.CreateJobRequest, context: Context
    ) -> pb.CreateJobResponse:
        principal = current_platform()
        reader = Reader()
        job = self._new_job(reader, request, "", principal, self.deps.now())
        raise_if_any(reader.violations)
        assert job is not None  # no violations: the job was built
        outcome = await self.deps.jobs_use.create(job, request.request_id or None)
        return pb.CreateJobResponse(job=job_message(await self.deps.done(outcome)))

    async def BatchCreateJobs(
        self, request: pb.BatchCreateJobsRequest, context: Context
    ) -> pb.BatchCreateJobsResponse:
        batch = await self._new_jobs(request, current_platform(), self.deps.now())
        response = pb.BatchCreateJobsResponse()
        async for _, (job, _) in _taking_turns(batch):
            response.jobs.append(job_message(job))
        # Refused before anything is stored: a response grpc cannot send would
        # leave the caller with an error for jobs that were in fact created.
        if response.ByteSize() > self.deps.max_message_bytes:
            raise ResourceExhausted(
                f"the response would exceed {self.deps.max_message_bytes} bytes; "
                "send fewer jobs per batch"
            )
        outcome = await self.deps.jobs_use.create_many(current_platform().platform_id, batch)
        stored = await self.deps.done(outcome)
        for index, (job, created) in enumerate(stored):
            if not created:  # a repeated request_id: the earlier job
                response.jobs[index].CopyFrom(job_message(job))
        return response

    async def _new_jobs(
        self, request: pb.BatchCreateJobsRequest, principal: PlatformPrincipal, now: datetime
    ) -> list[tuple[Job, str | None]]:
        """Every job of the batch with its request_id, or InvalidArgument naming
        each bad field by its request (`requests[3].job.name`)."""
        reader = Reader()
        count = len(request.requests)
        if not 1 <= count <= MAX_BATCH_JOBS:
            reader.bad("requests", f"has {count} requests; send 1 to {MAX_BATCH_JOBS}")
            raise_if_any(reader.violations)
        batch: list[tuple[Job, str | None]] = []
        first_use: dict[str, int] = {}
        async for index, item in _taking_turns(request.requests):
            prefix = f"requests[{index}]."
            job = self._new_job(reader, item, prefix, principal, now)
            first = first_use.setdefault(item.request_id, index) if item.request_id else index
            if first != index:
                reader.bad(f"{prefix}request_id", f"repeats requests[{first}].request_id")
            if job is not None:
                batch.append((job, item.request_id or None))
        raise_if_any(reader.violations)
        return batch

    def _new_job(
        self,
        reader: Reader,
        request: pb.CreateJobRequest,
        prefix: str,
        principal: PlatformPrincipal,
        now: datetime,
    ) -> Job | None:
        """The job `request` asks for, or None with its violations recorded
        under `prefix` ("" for CreateJob, "requests[i]." in a batch)."""
        before = len(reader.violations)
        if not request.HasField("job"):
            reader.bad(f"{prefix}job", "is required")
            return None
        check_name(
            reader.violations,
            f"{prefix}request_id",
            request.request_id,
            required=False,
            max_length=MAX_REQUEST_ID_LENGTH,
        )
        path = f"{prefix}job"
        trigger = trigger_for_job(reader, request.job, path, now)
        spec = job_spec(reader, request.job, path, trigger, self.deps.max_payload_bytes)
        job_rules.check_spec(spec, path, reader.violations)
        if len(reader.violations) > before:
            return None
        return Job(
            id=new_id(),
            platform_id=principal.platform_id,
            spec=spec,
            status=JobStatus.ACTIVE,
            created_by=principal.key_name,
            created_at=now,
            updated_at=now,
            next_run=job_rules.first_run(spec, now),
            trace=current_trace_context(),
        )

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        job = await self.deps.jobs.get_job(current_platform().platform_id, request.id)
        return pb.GetJobResponse(job=job_message(job))

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        platform_id = current_platform().platform_id
        reader = Reader()
        where = JobFilter(
            statuses=reader.enums("statuses", request.statuses, JOB_STATUS),
            types=reader.enums("types", request.types, JOB_TYPE),
            handler_name=reader.filter_text("handler_name", request.handler_name),
            tags=tuple(reader.filter_text(f"tags[{i}]", tag) for i, tag in enumerate(request.tags)),
            healths=reader.enums("healths", request.healths, HEALTH_STATE),
            text=reader.filter_text("text", request.text),
        )
        raise_if_any(reader.violations)
        scope = fingerprint("jobs", platform_id, where)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.jobs.list_jobs(platform_id, where, page)
        fitted = fit_page(
            found,
            job_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListJobsResponse(
            jobs=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def UpdateJob(
        self, request: pb.UpdateJobRequest, context: Context
    ) -> pb.UpdateJobResponse:
        now = self.deps.now()
        reader = Reader()
        if not request.HasField("job"):
            reader.bad("job", "is required")
        if not request.update_mask.paths:
            reader.bad("update_mask", "name at least one field to change")
        raise_if_any(reader.violations)
        updater = current_trace_context()

        def change(job: Job) -> Job:
            spec, trigger_changed = apply_job_mask(
                job, request.job, list(request.update_mask.paths), now, self.deps.max_payload_bytes
            )
            return job_rules.reschedule(job, spec, trigger_changed, now, updater)

        outcome = await self.deps.jobs_use.update(
            current_platform().platform_id, request.job.id, change
        )
        return pb.UpdateJobResponse(job=job_message(await self.deps.done(outcome)))

    async def DeleteJob(
        self, request: pb.DeleteJobRequest, context: Context
    ) -> pb.DeleteJobResponse:
        await self.deps.done(
            await self.deps.jobs_use.delete(current_platform().platform_id, request.id)
        )
        return pb.DeleteJobResponse()

    async def PauseJob(self, request: pb.PauseJobRequest, context: Context) -> pb.PauseJobResponse:
        reader = Reader()
        until = read_until(reader, request, self.deps.now())
        raise_if_any(reader.violations)
        outcome = await self.deps.jobs_use.pause(current_platform().platform_id, request.id, until)
        return pb.PauseJobResponse(job=job_message(await self.deps.done(outcome)))

    async def ResumeJob(
        self, request: pb.ResumeJobRequest, context: Context
    ) -> pb.ResumeJobResponse:
        outcome = await self.deps.jobs_use.resume(current_platform().platform_id, request.id)
        return pb.ResumeJobResponse(job=job_message(await self.deps.done(outcome)))

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: Context
    ) -> pb.CancelJobResponse:
        outcome = await self.deps.jobs_use.cancel(current_platform().platform_id, request.id)
        return pb.CancelJobResponse(job=job_message(await self.deps.done(outcome)))

    async def RunJob(self, request: pb.RunJobRequest, context: Context) -> pb.RunJobResponse:
        outcome = await self.deps.jobs_use.run_now(
            current_platform().platform_id, request.id, current_trace_context()
        )
        return pb.RunJobResponse(execution=execution_message(await self.deps.done(outcome)))
