"""What a use case asks to tell the engine and the other replicas once its
transaction has committed: typed messages, published by the service layer
(`service.publish`), each a hint that makes someone look sooner, never the
change itself (see `core.ports.Signals`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cronstream_server.core.enums import JobStatus
from cronstream_server.core.jobs import Job
from cronstream_server.core.values import value_type

# The topics of the Signals port (core.ports.Signals), and what each message
# carries.
JOBS = "jobs"  # a job may be due sooner: its next run, ISO 8601
WORK = "work"  # pending executions appeared: the platform id
CANCEL = "cancel"  # stop an execution: its id, then optionally a space and why
# An execution becomes due at the instant carried (ISO 8601): the ticker fired
# its slot ahead, and dispatchers claim it then.
DUE = "due"
# Executions wait for the gate from the instant carried (ISO 8601): backfilled
# ones for their release, or a ticker's slots for their dependencies. The
# gates look then.
RELEASE = "release"
# A ticker is firing a backlog (a batch filled: a burst of due jobs) until
# about the instant carried (ISO 8601): the server and the database are busy,
# so dispatchers claim further ahead until then (engine.dispatcher).
BUSY = "busy"
# An API key was revoked or a platform deleted (its id): replicas re-check the
# keys of their open worker streams at once (they also do every few seconds).
REVOKED = "revoked"


@value_type
class JobsDue:
    """A job may be due sooner than the tickers think: by `at`."""

    at: datetime


@value_type
class WorkReady:
    """Pending executions of the platform appeared: dispatchers look now."""

    platform_id: str


@value_type
class ReleaseDue:
    """Backfilled executions wait for their release from `at`."""

    at: datetime


@value_type
class StopExecution:
    """The replica holding the execution's worker tells it to stop."""

    execution_id: str


@value_type
class KeysRevoked:
    """An API key was revoked or a platform deleted (`subject`, its id):
    replicas re-check the keys of their open worker streams."""

    subject: str


Signal = JobsDue | WorkReady | ReleaseDue | StopExecution | KeysRevoked


def jobs_changed(changed: Iterable[Job]) -> tuple[Signal, ...]:
    """Once, with the earliest instant the changed jobs give the tickers work
    (an active job's next run, a paused job's `until`), however many
    changed: the tickers need only know the soonest."""
    due = [at for j in changed if (at := _ticker_work_at(j))]
    return (JobsDue(min(due)),) if due else ()


def _ticker_work_at(job: Job) -> datetime | None:
    if job.status is JobStatus.ACTIVE:
        return job.next_run
    if job.status is JobStatus.PAUSED:
        return job.paused_until
    return None
