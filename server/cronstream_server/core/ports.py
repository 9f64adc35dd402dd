"""The interfaces the domain needs from the outside world.

Adapters live in `cronstream_server.store` (one SQL implementation that runs on
Postgres and SQLite) and `cronstream_server.signals`. The same contract tests
run over every adapter, so each method's docstring is its specification.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cronstream_server.core.enums import ExecutionStatus, JobStatus, JobType
from cronstream_server.core.events import EventHandler
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.insight import ComponentHealth, ExecutionFigures, PlatformFigures
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.tenancy import ApiKey, NewSecret, Platform, PlatformPrincipal


@dataclass(frozen=True, slots=True)
class JobFilter:
    """ListJobs' filters; they combine with AND, and `tags` must all be present."""

    statuses: tuple[JobStatus, ...] = ()
    types: tuple[JobType, ...] = ()
    handler_name: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    job_id: str | None = None
    statuses: tuple[ExecutionStatus, ...] = ()


class AdminStore(Protocol):
    async def create_platform(self, name: str) -> Platform:
        """Creates a platform; raises AlreadyExists when the name is taken."""
        ...

    async def get_platform(self, platform_id: str) -> Platform:
        """Returns the platform; raises NotFound for an unknown or malformed id."""
        ...

    async def find_platform_by_name(self, name: str) -> Platform | None:
        """The platform with this name, if any."""
        ...

    async def list_platforms(self, page: PageRequest) -> tuple[list[Platform], Platform | None]:
        """At most `page.size` platforms, oldest first, after `page.after`
        (a key from `platform_sort_key`); the second value is the last row
        returned when more rows follow, else None."""
        ...

    async def delete_platform(self, platform_id: str) -> None:
        """Deletes the platform and, by cascade, everything it owns: keys,
        jobs, executions, logs, event handlers. Raises NotFound."""
        ...

    async def create_api_key(self, platform_id: str, name: str, secret: NewSecret) -> ApiKey:
        """Stores a key (its hash, never the secret). Raises NotFound for the platform."""
        ...

    async def list_api_keys(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[ApiKey], ApiKey | None]:
        """The platform's keys, oldest first, revoked ones included; paged like
        `list_platforms`. Raises NotFound for the platform."""
        ...

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Marks the key revoked (idempotent). Raises NotFound."""
        ...

    async def authenticate(self, secret_hash: str) -> PlatformPrincipal | None:
        """The principal of the unrevoked key with this hash, or None."""
        ...

    async def live_keys(self, key_ids: Collection[str]) -> set[str]:
        """Of `key_ids`, those neither revoked nor gone with their platform."""
        ...

    async def ping(self) -> None:
        """A round trip to the database; raises Unavailable when it is down."""
        ...


class Signals(Protocol):
    """Wake-ups between the parts of one replica and across replicas.

    A signal is a hint that something changed, never the change itself: a lost
    signal may cost latency (the listener polls as a fallback), never data.
    Topics: `jobs` (a job was created or rescheduled; message: its next_run as
    ISO 8601), `work` (pending executions appeared; message: platform id),
    `cancel` (stop an execution; message: its id, then optionally a space and
    the reason the worker is told, such as "timeout").
    """

    async def publish(self, topic: str, message: str) -> None:
        """Delivers `message` to this replica's listeners of `topic` at once, and
        to the other replicas' when a broker is configured. Never raises: a broker
        that is down is logged and skipped."""
        ...

    def listen(self, topic: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Calls `callback(message)` (in the event loop, without awaiting) for every
        message on `topic`; returns a function that stops listening."""
        ...

    @property
    def healthy(self) -> bool:
        """False while a configured broker is unreachable."""
        ...


class JobStore(Protocol):
    async def create_job(self, job: Job, request_id: str | None) -> tuple[Job, bool]:
        """Inserts `job`; with a `request_id` the platform used before, returns that
        earlier job instead. The flag says whether `job` was created."""
        ...

    async def create_jobs(self, batch: Sequence[tuple[Job, str | None]]) -> list[tuple[Job, bool]]:
        """Inserts jobs of one platform, each with its optional request_id, in one
        transaction: all of them or none. Each behaves as `create_job`: a
        request_id the platform used before yields that earlier job, and no
        insert. Returns (job, created) in the order given."""
        ...

    async def get_job(self, platform_id: str, job_id: str) -> Job:
        """The platform's job; NotFound for another platform's, unknown or malformed ids."""
        ...

    async def list_jobs(
        self, platform_id: str, where: JobFilter, page: PageRequest
    ) -> tuple[list[Job], Job | None]:
        """Newest first, keyset-paged on (created_at, id); the second value is the
        last row returned when more follow."""
        ...

    async def count_jobs(self, platform_id: str) -> int:
        """How many jobs the platform holds, in any status."""
        ...

    async def update_job(
        self, platform_id: str, job_id: str, change: Callable[[Job], Job]
    ) -> tuple[Job, Job]:
        """Applies `change` under a row lock (a concurrent ticker or update never
        loses a write) and stores the result; returns (before, after)."""
        ...

    async def cancel_job(
        self, platform_id: str, job_id: str, change: Callable[[Job], Job], now: datetime
    ) -> Job:
        """Applies `change` (the cancellation) as `update_job` does and, in the
        same transaction, cancels the job's executions that have not started:
        a failure anywhere leaves both as they were. Returns the job after."""
        ...

    async def delete_job(self, platform_id: str, job_id: str) -> None:
        """Deletes the job with its executions and logs; NotFound as get_job."""
        ...


class ExecutionStore(Protocol):
    async def insert_many(self, batch: Sequence[Execution]) -> None:
        """Inserts executions in one statement and counts them on their jobs;
        NotFound when their job was deleted meanwhile."""
        ...

    async def get(self, platform_id: str, execution_id: str) -> Execution:
        """The platform's execution; NotFound otherwise."""
        ...

    async def list_executions(
        self, platform_id: str, where: ExecutionFilter, page: PageRequest
    ) -> tuple[list[Execution], Execution | None]:
        """Newest first, paged like JobStore.list_jobs."""
        ...

    async def update(
        self, platform_id: str, execution_id: str, change: Callable[[Execution], Execution]
    ) -> Execution:
        """Applies `change` under a row lock and stores the result."""
        ...

    async def list_logs(
        self, platform_id: str, execution_id: str, page: PageRequest
    ) -> tuple[list[ExecutionLog], int | None]:
        """Log lines oldest first, keyset-paged on the line id."""
        ...


class EventStore(Protocol):
    async def create_handler(self, handler: EventHandler) -> EventHandler:
        """Stores a new event handler."""
        ...

    async def get_handler(self, platform_id: str, handler_id: str) -> EventHandler:
        """The platform's handler; NotFound otherwise."""
        ...

    async def list_handlers(
        self, platform_id: str, event_name: str, page: PageRequest
    ) -> tuple[list[EventHandler], EventHandler | None]:
        """Newest first, optionally of one event name, paged like list_jobs."""
        ...

    async def update_handler(
        self, platform_id: str, handler_id: str, change: Callable[[EventHandler], EventHandler]
    ) -> EventHandler:
        """Applies `change` under a row lock and stores the result."""
        ...

    async def delete_handler(self, platform_id: str, handler_id: str) -> None:
        """Deletes the handler and its executions; NotFound as get_handler."""
        ...


class InsightStore(Protocol):
    async def job_figures(self, platform_id: str, job_id: str) -> ExecutionFigures:
        """Counts by status and durations of the job's executions."""
        ...

    async def platform_figures(self, platform_id: str, now: datetime) -> PlatformFigures:
        """Jobs by status and type, executions by status, due pending executions."""
        ...

    async def database_health(self) -> ComponentHealth:
        """A round trip to the database; never raises."""
        ...
