"""The job use cases: each one transaction through the JobStore port,
returning the job(s) and what to publish.

The jobs arrive built and checked (the api edge reads the request into a
`Job`); the rules of each change are core.jobs'. What is decided here: the
quota, which store call makes the change atomic, and whom to wake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from cronstream_server.core import executions as execution_rules
from cronstream_server.core import jobs as job_rules
from cronstream_server.core.dependencies import CHECK_ONE_JOB, graph_check
from cronstream_server.core.enums import ExecutionTrigger, JobStatus
from cronstream_server.core.executions import Execution
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import JobStore
from cronstream_server.core.selection import BulkChange, JobSelector
from cronstream_server.core.signals import WorkReady, jobs_changed
from cronstream_server.core.tracing import TraceContext
from cronstream_server.service.job_quota import JobQuota
from cronstream_server.service.outcome import Outcome

Change = Callable[[Job], Job]
# A batch's violations name each job by its request, as BatchCreateJobs' do.
_BATCH_GRAPH = graph_check(lambda index: f"requests[{index}].job")


class JobUseCases:
    def __init__(
        self,
        jobs: JobStore,
        quota: JobQuota,
        now: Callable[[], datetime],
        paused_slots: Callable[[str, str, int], None] = lambda _p, _h, _n: None,
    ) -> None:
        """`paused_slots(platform_id, handler_name, count)` is told how many
        slots a resumed job passed while paused (telemetry counts them)."""
        self._jobs = jobs
        self._quota = quota
        self._now = now
        self._paused_slots = paused_slots

    async def create(self, job: Job, request_id: str | None) -> Outcome[Job]:
        """A new job, or the one an earlier call with `request_id` created."""
        await self._quota.admit(job.platform_id, 1)
        stored, created = await self._jobs.create_job(job, request_id)
        if not created:
            return Outcome(stored)
        self._quota.created(job.platform_id, 1)
        return Outcome(stored, jobs_changed([stored]))

    async def create_many(
        self, platform_id: str, batch: Sequence[tuple[Job, str | None]]
    ) -> Outcome[list[tuple[Job, bool]]]:
        """All of the batch or none; (job, created) in the batch's order."""
        await self._quota.admit(platform_id, len(batch))
        stored = await self._jobs.create_jobs(batch, _BATCH_GRAPH)
        fresh = [job for job, created in stored if created]
        self._quota.created(platform_id, len(fresh))
        return Outcome(stored, jobs_changed(fresh))

    async def update(self, platform_id: str, job_id: str, change: Change) -> Outcome[Job]:
        """`change` may change anything a user sets, depends_on included."""
        _, updated = await self._jobs.update_job(platform_id, job_id, change, CHECK_ONE_JOB)
        return Outcome(updated, jobs_changed([updated]))

    async def pause(
        self, platform_id: str, job_id: str, until: datetime | None = None
    ) -> Outcome[Job]:
        """Until ResumeJob, or until `until` (the edge checked it is in the
        future): the tickers are told, so they wake to resume it then."""
        now = self._now()
        _, paused = await self._jobs.update_job(
            platform_id, job_id, lambda j: job_rules.pause(j, now, until)
        )
        return Outcome(paused, jobs_changed([paused]))

    async def resume(self, platform_id: str, job_id: str) -> Outcome[Job]:
        now = self._now()
        before, resumed = await self._jobs.update_job(
            platform_id, job_id, lambda j: job_rules.resume(j, now)
        )
        if before.status is JobStatus.PAUSED:
            self._count_paused_slots(before, now)
        return Outcome(resumed, jobs_changed([resumed]))

    async def pause_selected(
        self, platform_id: str, selector: JobSelector, until: datetime | None, limit: int
    ) -> Outcome[BulkChange]:
        """PauseJobs: up to `limit` active jobs, each as `pause`; one signal."""
        now = self._now()
        done = await self._jobs.change_selected(
            platform_id, selector, JobStatus.ACTIVE, limit, lambda j: job_rules.pause(j, now, until)
        )
        return Outcome(done, jobs_changed(after for _, after in done.changed))

    async def resume_selected(
        self, platform_id: str, selector: JobSelector, limit: int
    ) -> Outcome[BulkChange]:
        """ResumeJobs: up to `limit` paused jobs, each as `resume`; one signal."""
        now = self._now()
        done = await self._jobs.change_selected(
            platform_id, selector, JobStatus.PAUSED, limit, lambda j: job_rules.resume(j, now)
        )
        count = job_rules.paused_slot_counter()
        for index, (before, _) in enumerate(done.changed):
            self._count_paused_slots(before, now, count)
            if index % job_rules.COUNT_TURN == job_rules.COUNT_TURN - 1:
                await asyncio.sleep(0)  # counting is CPU work: let the loop run
        return Outcome(done, jobs_changed(after for _, after in done.changed))

    def _count_paused_slots(
        self,
        paused: Job,
        now: datetime,
        count: Callable[[Job, datetime], int] = job_rules.slots_passed_while_paused,
    ) -> None:
        passed = count(paused, now)
        self._paused_slots(paused.platform_id, paused.spec.handler_name, passed)

    async def cancel(self, platform_id: str, job_id: str) -> Outcome[Job]:
        """The job, and its executions that have not started, in one transaction."""
        now = self._now()
        cancelled = await self._jobs.cancel_job(
            platform_id, job_id, lambda j: job_rules.cancel(j, now), now
        )
        return Outcome(cancelled)

    async def delete(self, platform_id: str, job_id: str) -> Outcome[None]:
        await self._jobs.delete_job(platform_id, job_id)
        return Outcome(None)

    async def run_now(
        self, platform_id: str, job_id: str, trace: TraceContext | None
    ) -> Outcome[Execution]:
        """A manual execution, due now, continuing the caller's trace; the job
        is read and the execution written in one transaction."""
        now = self._now()

        def make(job: Job) -> Execution:
            job_rules.check_runnable(job)
            return execution_rules.for_job(job, ExecutionTrigger.MANUAL, now, now, trace=trace)

        execution = await self._jobs.run_job(platform_id, job_id, make)
        return Outcome(execution, (WorkReady(platform_id),))
