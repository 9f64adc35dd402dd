"""SchedulerService: the job RPCs."""

from __future__ import annotations

from datetime import datetime

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import (
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
from cronstream_server.api.update_mask import apply_job_mask
from cronstream_server.core import executions as execution_rules
from cronstream_server.core import jobs as job_rules
from cronstream_server.core.enums import ExecutionTrigger, JobStatus
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import fingerprint, next_page_token, page_request
from cronstream_server.core.ports import JobFilter
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.signals import JOBS, WORK
from cronstream_server.telemetry.context import current_trace_context

MAX_REQUEST_ID_LENGTH = 200


class JobRpcs:
    deps: SchedulerDeps

    async def CreateJob(
        self, request: pb.CreateJobRequest, context: Context
    ) -> pb.CreateJobResponse:
        principal = current_platform()
        now = self.deps.now()
        job = self._new_job(request, principal.platform_id, principal.key_name, now)
        stored, created = await self.deps.jobs.create_job(job, request.request_id or None)
        if created:
            await self._job_changed(stored)
        return pb.CreateJobResponse(job=job_message(stored))

    async def _job_changed(self, job: Job) -> None:
        """Wakes the tickers when a job may now be due sooner than they think."""
        if job.next_run is not None and job.status is JobStatus.ACTIVE:
            await self.deps.signals.publish(JOBS, job.next_run.isoformat())

    def _new_job(
        self, request: pb.CreateJobRequest, platform_id: str, created_by: str, now: datetime
    ) -> Job:
        reader = Reader()
        if not request.HasField("job"):
            reader.bad("job", "is required")
            raise_if_any(reader.violations)
        check_name(
            reader.violations,
            "request_id",
            request.request_id,
            required=False,
            max_length=MAX_REQUEST_ID_LENGTH,
        )
        trigger = trigger_for_job(reader, request.job, "job", now)
        spec = job_spec(reader, request.job, "job", trigger, self.deps.max_payload_bytes)
        job_rules.validate_spec(spec, "job", reader.violations)
        return Job(
            id=new_id(),
            platform_id=platform_id,
            spec=spec,
            status=JobStatus.ACTIVE,
            created_by=created_by,
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
        )
        raise_if_any(reader.violations)
        scope = fingerprint("jobs", platform_id, where)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.jobs.list_jobs(platform_id, where, page)
        return pb.ListJobsResponse(
            jobs=[job_message(job) for job in found],
            next_page_token=next_page_token(last, scope),
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

        def change(job: Job) -> Job:
            spec, trigger_changed = apply_job_mask(
                job, request.job, list(request.update_mask.paths), now, self.deps.max_payload_bytes
            )
            return job_rules.reschedule(job, spec, trigger_changed, now)

        _, updated = await self.deps.jobs.update_job(
            current_platform().platform_id, request.job.id, change
        )
        await self._job_changed(updated)
        return pb.UpdateJobResponse(job=job_message(updated))

    async def DeleteJob(
        self, request: pb.DeleteJobRequest, context: Context
    ) -> pb.DeleteJobResponse:
        await self.deps.jobs.delete_job(current_platform().platform_id, request.id)
        return pb.DeleteJobResponse()

    async def PauseJob(self, request: pb.PauseJobRequest, context: Context) -> pb.PauseJobResponse:
        now = self.deps.now()
        _, job = await self.deps.jobs.update_job(
            current_platform().platform_id, request.id, lambda j: job_rules.pause(j, now)
        )
        return pb.PauseJobResponse(job=job_message(job))

    async def ResumeJob(
        self, request: pb.ResumeJobRequest, context: Context
    ) -> pb.ResumeJobResponse:
        now = self.deps.now()
        _, job = await self.deps.jobs.update_job(
            current_platform().platform_id, request.id, lambda j: job_rules.resume(j, now)
        )
        await self._job_changed(job)
        return pb.ResumeJobResponse(job=job_message(job))

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: Context
    ) -> pb.CancelJobResponse:
        now = self.deps.now()
        platform_id = current_platform().platform_id
        _, job = await self.deps.jobs.update_job(
            platform_id, request.id, lambda j: job_rules.cancel(j, now)
        )
        await self.deps.executions.cancel_pending_of_job(platform_id, job.id, now)
        return pb.CancelJobResponse(job=job_message(job))

    async def RunJob(self, request: pb.RunJobRequest, context: Context) -> pb.RunJobResponse:
        now = self.deps.now()
        job = await self.deps.jobs.get_job(current_platform().platform_id, request.id)
        job_rules.check_runnable(job)
        execution = execution_rules.for_job(
            job, ExecutionTrigger.MANUAL, now, now, trace=current_trace_context()
        )
        await self.deps.executions.insert_many([execution])
        await self.deps.signals.publish(WORK, job.platform_id)
        return pb.RunJobResponse(execution=execution_message(execution))
