"""The `Client` methods of the scheduling controls: bulk pause and resume,
backfill, the schedule preview and rate limits. A mixin of `Client`, kept
apart so each module holds one concern."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

from cronstream import _build
from cronstream._build import JobFields, OverlapPolicy
from cronstream.scheduling import (
    Backfill,
    BulkChange,
    RateLimit,
    SchedulePreview,
    rate_limit_message,
    rate_limit_scope,
)
from cronstream.v1 import scheduler_service_pb2 as pb

if TYPE_CHECKING:
    from grpc import aio

    from cronstream.v1 import scheduler_service_pb2_grpc

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class ResumeSelection(TypedDict, total=False):
    """The keywords of `resume_jobs`, for `resume_matching_jobs`."""

    tags: Sequence[str]
    handler: str
    name_prefix: str
    all_jobs: bool
    limit: int


class PauseSelection(ResumeSelection, total=False):
    """The keywords of `pause_jobs`, for `pause_matching_jobs`."""

    until: datetime | None


class SchedulingCalls:
    """Bulk pause and resume, backfill, preview and rate limits."""

    if TYPE_CHECKING:
        scheduler: scheduler_service_pb2_grpc.SchedulerServiceAsyncStub

        async def _call(
            self, method: aio.UnaryUnaryMultiCallable[_Request, _Response], request: _Request
        ) -> _Response: ...

    # --- many jobs at once ----------------------------------------------------------

    async def pause_jobs(
        self,
        *,
        tags: Sequence[str] = (),
        handler: str = "",
        name_prefix: str = "",
        all_jobs: bool = False,
        until: datetime | None = None,
        limit: int = 0,
    ) -> BulkChange:
        """Pauses at most `limit` (default 1,000) of the platform's active
        jobs that carry all of `tags`, run `handler` and whose name starts
        with `name_prefix` (give at least one, or `all_jobs=True`), each as
        `pause_job(until=until)` would. Call again while `remaining` is not
        zero, or use `pause_matching_jobs`."""
        selector = _build.job_selector(
            tags=tags, handler=handler, name_prefix=name_prefix, all_jobs=all_jobs
        )
        request = _build.pause_jobs_request(selector, until, limit)
        response = await self._call(self.scheduler.PauseJobs, request)
        return BulkChange(response.changed, response.remaining)

    async def resume_jobs(
        self,
        *,
        tags: Sequence[str] = (),
        handler: str = "",
        name_prefix: str = "",
        all_jobs: bool = False,
        limit: int = 0,
    ) -> BulkChange:
        """Resumes at most `limit` (default 1,000) of the platform's paused
        jobs that match (as in `pause_jobs`), each as `resume_job` would."""
        request = pb.ResumeJobsRequest(
            selector=_build.job_selector(
                tags=tags, handler=handler, name_prefix=name_prefix, all_jobs=all_jobs
            ),
            limit=limit,
        )
        response = await self._call(self.scheduler.ResumeJobs, request)
        return BulkChange(response.changed, response.remaining)

    async def pause_matching_jobs(self, **selector: Unpack[PauseSelection]) -> BulkChange:
        """`pause_jobs` (same keywords) again and again until no matching
        active job remains; returns the jobs paused in all and what remains
        (0, unless a call paused none: then it stops rather than spin, say
        while another client resumes them)."""
        return await _until_none_remain(lambda: self.pause_jobs(**selector))

    async def resume_matching_jobs(self, **selector: Unpack[ResumeSelection]) -> BulkChange:
        """`resume_jobs` (same keywords) until no matching paused job
        remains; as `pause_matching_jobs`."""
        return await _until_none_remain(lambda: self.resume_jobs(**selector))

    # --- backfill ------------------------------------------------------------------

    async def backfill_job(
        self,
        job_id: str,
        start: datetime,
        end: datetime,
        *,
        overlap_policy: OverlapPolicy | int | None = None,
    ) -> Backfill:
        """Creates an execution (trigger BACKFILL) for every instant of the
        job's schedule in [start, end), as the ticker fires them; instants
        that already have one get none, so the same backfill twice creates
        nothing. `overlap_policy`: "allow" (several at once) or "buffer_one"
        (one at a time, oldest first); None: the server's choice from the
        job's own policy."""
        request = _build.backfill_request(job_id, start, end, overlap_policy)
        return Backfill.from_proto(await self._call(self.scheduler.BackfillJob, request))

    # --- preview -------------------------------------------------------------------

    async def preview(
        self,
        *,
        job_id: str = "",
        after: datetime | None = None,
        before: datetime | None = None,
        count: int | None = None,
        **trigger: Unpack[JobFields],
    ) -> SchedulePreview:
        """The instants a trigger fires strictly after `after` (default: now)
        and strictly before `before` (when given), at most `count` (default
        10, or 1,000 with `before`), exactly as the engine fires them. The
        trigger is given as for `create_job` (cron=..., timezone=...), or is
        that of the existing job `job_id` (whose history then predicts
        overlaps in the summary). Each instant carries its wall-clock time and
        DST marks::

            p = await client.preview(cron="30 2 * * *", timezone="Europe/Berlin",
                                     after=march_1, before=april_1)
            [i.local_time for i in p.instants if i.shifted]  # 03:00+02:00 on the 29th
        """
        request = _build.preview_request(
            trigger, job_id=job_id, after=after, before=before, count=count
        )
        response = await self._call(self.scheduler.PreviewSchedule, request)
        return SchedulePreview.from_proto(response)

    async def preview_schedule(
        self,
        *,
        job_id: str = "",
        after: datetime | None = None,
        before: datetime | None = None,
        count: int | None = None,
        **trigger: Unpack[JobFields],
    ) -> list[datetime]:
        """The instants of `preview` alone, as aware UTC datetimes."""
        preview = await self.preview(
            job_id=job_id, after=after, before=before, count=count, **trigger
        )
        return preview.times

    # --- rate limits -----------------------------------------------------------------

    async def set_rate_limit(
        self,
        *,
        key: str | None = None,
        handler: str | None = None,
        limit: int,
        per: timedelta,
        burst: int | None = None,
    ) -> RateLimit:
        """Creates or replaces the platform's rate limit of a key (as jobs
        and event handlers name it in `rate_limit_key`) or of a handler
        (every execution of it): exactly one of `key` and `handler`. At most
        `limit` executions start per `per`, `burst` at once after a quiet
        spell (default: `limit`)."""
        message = rate_limit_message(key=key, handler=handler, limit=limit, per=per, burst=burst)
        request = pb.SetRateLimitRequest(rate_limit=message)
        response = await self._call(self.scheduler.SetRateLimit, request)
        return RateLimit.from_proto(response.rate_limit)

    async def list_rate_limits(self) -> list[RateLimit]:
        """Every rate limit of the platform, by scope then key."""
        response = await self._call(self.scheduler.ListRateLimits, pb.ListRateLimitsRequest())
        return [RateLimit.from_proto(m) for m in response.rate_limits]

    async def delete_rate_limit(
        self, *, key: str | None = None, handler: str | None = None
    ) -> None:
        """Deletes the rate limit of `key` or of `handler` (exactly one);
        executions waiting on it start."""
        request = pb.DeleteRateLimitRequest()
        setattr(request, *rate_limit_scope(key, handler))
        await self._call(self.scheduler.DeleteRateLimit, request)


async def _until_none_remain(call: Callable[[], Awaitable[BulkChange]]) -> BulkChange:
    changed = 0
    while True:
        step = await call()
        changed += step.changed
        if step.remaining == 0 or step.changed == 0:
            return BulkChange(changed, step.remaining)
