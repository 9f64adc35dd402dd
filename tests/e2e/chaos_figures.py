"""What the chaos suite measures: a prober that calls both replicas all along,
and, per phase, the slots that came due against what the database and the
workers' records say of them."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
from cronstream.v1 import insight_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Answers that mean a bug whatever the fault: the server must say UNAVAILABLE
# (or another meaningful code) when its database or a peer is gone.
BAD_CODES = ("INTERNAL", "UNKNOWN")
PROBE_TIMEOUT = 2.0
PROBE_PAUSE = 0.05
HEALTH_PERIOD = 0.1
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]

Slot = tuple[str, datetime]  # (job id, scheduled instant)
Stub = scheduler_service_pb2_grpc.SchedulerServiceStub


@dataclass(frozen=True, slots=True)
class Answer:
    at: float  # time.time()
    replica: int
    method: str
    code: str  # a grpc.StatusCode name, or "OK"
    details: str = ""


@dataclass(frozen=True, slots=True)
class HealthSample:
    at: float
    replica: int
    status: str  # SERVING, NOT_SERVING, or the error's code (UNAVAILABLE: the replica is down)


class Prober:
    """Two threads: one calls GetJob, ListJobs, ListExecutions and GetHealth on
    every replica in turn, the other grpc.health.v1 Health/Check every 100 ms."""

    def __init__(self, addresses: Sequence[str], api_key: str, job_ids: Sequence[str]) -> None:
        self._channels = [grpc.insecure_channel(a, options=CHANNEL_OPTIONS) for a in addresses]
        self._auth = (("authorization", f"Bearer {api_key}"),)
        self._job_ids = list(job_ids)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.answers: list[Answer] = []
        self.health: list[HealthSample] = []
        # The "signals" component of each GetHealth answer (Redis reachable or not).
        self.signals: list[HealthSample] = []
        self._threads = [
            threading.Thread(target=self._probe_calls, name="chaos-calls", daemon=True),
            threading.Thread(target=self._probe_health, name="chaos-health", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(PROBE_TIMEOUT + 5)
        for channel in self._channels:
            channel.close()

    def answers_between(self, since: float, until: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if since <= a.at < until]

    def health_between(self, since: float, until: float) -> list[HealthSample]:
        with self._lock:
            return [s for s in self.health if since <= s.at < until]

    def signals_between(self, since: float, until: float) -> list[HealthSample]:
        with self._lock:
            return [s for s in self.signals if since <= s.at < until]

    def _requests(self) -> list[tuple[str, Message]]:
        job_id = random.choice(self._job_ids)
        return [
            ("GetJob", pb.GetJobRequest(id=job_id)),
            ("ListJobs", pb.ListJobsRequest(page_size=20)),
            ("ListExecutions", pb.ListExecutionsRequest(job_id=job_id, page_size=10)),
            ("GetHealth", pb.GetHealthRequest()),
        ]

    def _probe_calls(self) -> None:
        stubs = [scheduler_service_pb2_grpc.SchedulerServiceStub(c) for c in self._channels]
        while not self._stopping.is_set():
            for index, stub in enumerate(stubs):
                for method, request in self._requests():
                    self._probe_once(index, stub, method, request)
            self._stopping.wait(PROBE_PAUSE)

    def _probe_once(self, index: int, stub: Stub, method: str, request: Message) -> None:
        code, details, response = "OK", "", None
        try:
            call = getattr(stub, method)
            response = call(request, metadata=self._auth, timeout=PROBE_TIMEOUT)
        except grpc.RpcError as error:
            code, details = error.code().name, error.details() or ""
        now = time.time()
        with self._lock:
            self.answers.append(Answer(now, index, method, code, details))
            if isinstance(response, pb.GetHealthResponse):
                for component in response.health.components:
                    if component.name == "signals":
                        status = insight_pb2.HealthStatus.Name(component.status)
                        self.signals.append(HealthSample(now, index, status))

    def _probe_health(self) -> None:
        stubs = [health_pb2_grpc.HealthStub(c) for c in self._channels]
        names = health_pb2.HealthCheckResponse.ServingStatus
        while not self._stopping.is_set():
            for index, stub in enumerate(stubs):
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                    status = names.Name(answer.status)
                except grpc.RpcError as error:
                    status = error.code().name
                with self._lock:
                    self.health.append(HealthSample(time.time(), index, status))
            self._stopping.wait(HEALTH_PERIOD)


# --- slots ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Execution:
    id: str
    job_id: str
    scheduled_at: datetime
    status: str
    attempt: int
    error: str | None
    started_at: datetime | None  # of its latest attempt


@dataclass(frozen=True, slots=True)
class Run:
    """One line of a worker's record: an attempt its handler ran to completion."""

    execution_id: str
    job_id: str
    scheduled_at: datetime
    attempt: int
    worker_id: str


async def _fetch_executions(dsn: str, since: datetime, until: datetime) -> list[Execution]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, job_id::text AS job_id, scheduled_at, status, attempt, error,"
            " started_at"
            " FROM job_executions WHERE trigger = 'schedule'"
            " AND scheduled_at >= $1 AND scheduled_at < $2",
            since,
            until,
        )
    finally:
        await conn.close()
    return [Execution(**dict(row)) for row in rows]


def read_executions(dsn: str, since: datetime, until: datetime) -> list[Execution]:
    """The scheduled executions whose slot is in [since, until), from the database."""
    return asyncio.run(_fetch_executions(dsn, since, until))


def read_runs(records: Iterable[Path]) -> list[Run]:
    runs = []
    for path in records:
        text = path.read_text()
        whole = text[: text.rfind("\n") + 1]  # a line being written is left for later
        for line in whole.splitlines():
            execution_id, job_id, scheduled, attempt, worker_id = line.split("\t")
            at = datetime.fromisoformat(scheduled).astimezone(UTC)
            runs.append(Run(execution_id, job_id, at, int(attempt), worker_id))
    return runs


@dataclass
class SlotFigures:
    expected: int
    executions: dict[Slot, list[Execution]] = field(default_factory=dict)  # of expected slots
    lost: list[Slot] = field(default_factory=list)  # never run to completion by a worker
    # Run to completion more than once (two attempts, or two executions of one slot).
    duplicated: dict[Slot, list[Run]] = field(default_factory=dict)
    doubled: dict[Slot, list[Execution]] = field(default_factory=dict)  # two executions
    not_succeeded: dict[Slot, list[Execution]] = field(default_factory=dict)
    latest_start: float = 0.0  # seconds from a slot to its successful attempt's start, at most


def count_slots(
    expected: Iterable[Slot], executions: Iterable[Execution], runs: Iterable[Run]
) -> SlotFigures:
    """For each expected slot: one execution, SUCCESS, run to completion once."""
    by_slot: dict[Slot, list[Execution]] = defaultdict(list)
    for execution in executions:
        by_slot[(execution.job_id, execution.scheduled_at)].append(execution)
    ran: dict[Slot, list[Run]] = defaultdict(list)
    for run in runs:
        ran[(run.job_id, run.scheduled_at)].append(run)
    wanted = sorted(set(expected))
    figures = SlotFigures(expected=len(wanted))
    for slot in wanted:
        rows = figures.executions[slot] = by_slot.get(slot, [])
        if len(rows) > 1:
            figures.doubled[slot] = rows
        if not any(row.status == "success" for row in rows):
            figures.not_succeeded[slot] = rows
        for row in rows:
            if row.status == "success" and row.started_at is not None:
                late = (row.started_at - row.scheduled_at).total_seconds()
                figures.latest_start = max(figures.latest_start, late)
        completed = ran.get(slot, [])
        if not completed:
            figures.lost.append(slot)
        elif len(completed) > 1:
            figures.duplicated[slot] = completed
    return figures


def succeeded(expected: Iterable[Slot], executions: Iterable[Execution]) -> set[Slot]:
    done = {(e.job_id, e.scheduled_at) for e in executions if e.status == "success"}
    return set(expected) & done


# --- server logs ----------------------------------------------------------------

# `cronstream serve` logs "<date> <time>,<ms> <LEVEL> <logger>: <message>";
# a traceback's last line names the exception (indented with "|" in a group).
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<text>(WARNING|ERROR|CRITICAL) .*)")
_EXCEPTION = re.compile(r"^[\s|+-]*(?P<text>[\w.]+(Error|Exception|Group)\b.*)")
_VARYING = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{16,}\b|\d+(\.\d+)?"
)


def log_digest(text: str) -> Counter[str]:
    """Warnings, errors and the exceptions of tracebacks, with ids and numbers
    blanked, counted."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        match = _RECORD.match(line) or _EXCEPTION.match(line)
        if match:
            found[_VARYING.sub("N", match["text"])[:220]] += 1
    return found
