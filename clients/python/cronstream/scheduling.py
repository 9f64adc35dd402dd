"""What the scheduling controls take and return, as frozen dataclasses with
Python types (as in `cronstream.models`): concurrency and rate limits, the
counts of a bulk pause or resume and of a backfill, and a schedule preview
with its clock marks and summary (docs/scheduling.md).

Each keeps the message it was read from as `.proto` where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronstream._convert import duration, optional_datetime, optional_timedelta, to_datetime
from cronstream.v1 import job_pb2, preview_pb2, rate_limit_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

__all__ = [
    "Backfill",
    "BulkChange",
    "ClockChange",
    "ConcurrencyLimit",
    "PreviewSummary",
    "RateLimit",
    "ScheduledInstant",
    "SchedulePreview",
]


@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """At most `limit` executions carrying the same `key` run at once, across
    the cluster and every job and event handler of the platform naming it.
    The key is a fixed string or a template over the payload
    (`"customer:{payload.customer_id}"` limits each customer separately)."""

    key: str
    limit: int

    @classmethod
    def from_proto(cls, m: job_pb2.ConcurrencyLimit) -> ConcurrencyLimit:
        return cls(m.key, m.limit)

    def to_proto(self) -> job_pb2.ConcurrencyLimit:
        return job_pb2.ConcurrencyLimit(key=self.key, limit=self.limit)


def concurrency_message(value: ConcurrencyLimit | tuple[str, int]) -> job_pb2.ConcurrencyLimit:
    """A ConcurrencyLimit, or a `(key, limit)` pair, as sent."""
    if isinstance(value, ConcurrencyLimit):
        return value.to_proto()
    if isinstance(value, tuple) and len(value) == 2:
        return ConcurrencyLimit(*value).to_proto()
    raise TypeError(f"concurrency must be a ConcurrencyLimit or a (key, limit) pair, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """At most `limit` executions start per `per`, with bursts up to `burst`
    (a token bucket), for every execution naming `key` as its
    rate_limit_key, or every execution of the handler `handler_name`:
    exactly one of the two is set, the other is empty."""

    key: str
    handler_name: str
    limit: int
    per: timedelta | None
    #: The bucket's size; the server's default is `limit`.
    burst: int
    platform_id: str
    created_at: datetime | None
    updated_at: datetime | None
    proto: rate_limit_pb2.RateLimit = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: rate_limit_pb2.RateLimit) -> RateLimit:
        return cls(
            key=m.key,
            handler_name=m.handler_name,
            limit=m.limit,
            per=optional_timedelta(m, "per"),
            burst=m.burst,
            platform_id=m.platform_id,
            created_at=optional_datetime(m, "created_at"),
            updated_at=optional_datetime(m, "updated_at"),
            proto=m,
        )


def rate_limit_scope(key: str | None, handler: str | None) -> tuple[str, str]:
    """The oneof scope as (field, value): exactly one of a key and a handler
    (setting both on the message would silently keep the last)."""
    if (key is None) == (handler is None):
        raise ValueError("give exactly one of key= and handler=")
    return ("key", key) if key is not None else ("handler_name", str(handler))


def rate_limit_message(
    *, key: str | None, handler: str | None, limit: int, per: timedelta, burst: int | None
) -> rate_limit_pb2.RateLimit:
    message = rate_limit_pb2.RateLimit(limit=limit, per=duration(per), burst=burst or 0)
    setattr(message, *rate_limit_scope(key, handler))
    return message


@dataclass(frozen=True, slots=True)
class BulkChange:
    """What one PauseJobs or ResumeJobs call did: `changed` jobs changed by
    it, `remaining` matching jobs left for the next call."""

    changed: int
    remaining: int


@dataclass(frozen=True, slots=True)
class Backfill:
    """What a backfill did: the schedule's `instants` in the range, the
    executions it `created`, and the instants that already had one
    (`existing`: from the ticker or an earlier backfill)."""

    instants: int
    created: int
    existing: int

    @classmethod
    def from_proto(cls, m: pb.BackfillJobResponse) -> Backfill:
        return cls(m.instants, m.created, m.existing)


# --- the schedule preview ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledInstant:
    """One instant a schedule fires, and what the zone's clock does to it."""

    #: The instant, an aware UTC datetime.
    time: datetime
    #: The same instant on the trigger zone's wall clock: an aware datetime
    #: with the zone's offset then (None from a server that sends none).
    local_time: datetime | None
    utc_offset: timedelta
    #: A fixed wall time a jump forward skipped, fired at the first instant
    #: after the jump (Debian cron's rule, docs/time.md).
    shifted: bool
    #: When shifted: the wall time the schedule named, such as "02:30".
    scheduled_wall_time: str
    #: A wildcard-hour schedule in an hour the clock repeats: this wall time
    #: comes twice and fires both times.
    repeated_hour: bool

    @classmethod
    def from_proto(cls, m: preview_pb2.ScheduledInstant) -> ScheduledInstant:
        return cls(
            time=to_datetime(m.time),
            local_time=datetime.fromisoformat(m.local_time) if m.local_time else None,
            utc_offset=timedelta(seconds=m.utc_offset_seconds),
            shifted=m.shifted,
            scheduled_wall_time=m.scheduled_wall_time,
            repeated_hour=m.repeated_hour,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockChange:
    """A change of the zone's UTC offset within the previewed range."""

    at: datetime | None
    offset_before: timedelta
    offset_after: timedelta
    #: Wall times ("2026-03-29T02:30") the schedule names near the change that
    #: do not fire: in a skipped hour no rule moves, or the second occurrence
    #: of a fixed time in a repeated hour.
    skipped_wall_times: tuple[str, ...]

    @classmethod
    def from_proto(cls, m: preview_pb2.ClockChange) -> ClockChange:
        return cls(
            at=optional_datetime(m, "at"),
            offset_before=timedelta(seconds=m.offset_before_seconds),
            offset_after=timedelta(seconds=m.offset_after_seconds),
            skipped_wall_times=tuple(m.skipped_wall_times),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewSummary:
    """The previewed range as a whole."""

    #: Instants per calendar month of the zone ("2026-03"), in order.
    instants_per_month: dict[str, int]
    clock_changes: tuple[ClockChange, ...]
    #: For an existing job with successful executions: the 95th percentile
    #: of their durations; None otherwise.
    p95_duration: timedelta | None
    #: With p95_duration: instants that come sooner after the one before than
    #: that duration (a run likely still going).
    predicted_overlaps: int
    #: True when the preview stopped at its count before the end.
    truncated: bool

    @classmethod
    def from_proto(cls, m: preview_pb2.PreviewSummary) -> PreviewSummary:
        return cls(
            instants_per_month={c.month: c.count for c in m.instants_per_month},
            clock_changes=tuple(ClockChange.from_proto(c) for c in m.clock_changes),
            p95_duration=optional_timedelta(m, "p95_duration"),
            predicted_overlaps=m.predicted_overlaps,
            truncated=m.truncated,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePreview:
    """The instants a trigger fires, in increasing order, each with its clock
    marks, and a summary of the range."""

    instants: tuple[ScheduledInstant, ...]
    summary: PreviewSummary
    proto: pb.PreviewScheduleResponse = field(repr=False, compare=False)

    @property
    def times(self) -> list[datetime]:
        """The instants alone, as aware UTC datetimes."""
        return [to_datetime(t) for t in self.proto.times]

    @classmethod
    def from_proto(cls, m: pb.PreviewScheduleResponse) -> SchedulePreview:
        return cls(
            instants=tuple(ScheduledInstant.from_proto(i) for i in m.instants),
            summary=PreviewSummary.from_proto(m.summary),
            proto=m,
        )
