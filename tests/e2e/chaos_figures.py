"""What the chaos suite measures: a prober that calls both replicas all along;
per phase, the slots that came due against what the database and the
workers' records say of them, and the servers' warnings; and how it reads (the
summary table, the failure messages)."""

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
SHOWN = 5  # examples of each problem in a failure message
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
        completed = ran.get(slot, [])
        if not completed:
            figures.lost.append(slot)
        elif len(completed) > 1:
            figures.duplicated[slot] = completed
    figures.latest_start = max(
        (
            (row.started_at - row.scheduled_at).total_seconds()
            for rows in figures.executions.values()
            for row in rows
            if row.status == "success" and row.started_at is not None
        ),
        default=0.0,
    )
    return figures


def succeeded(expected: Iterable[Slot], executions: Iterable[Execution]) -> set[Slot]:
    done = {(e.job_id, e.scheduled_at) for e in executions if e.status == "success"}
    return set(expected) & done


# --- phases ---------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    began: float  # time.time(); slots in [began, ended) belong to the phase
    fault_at: float | None = None
    healed_at: float | None = None
    ended: float = 0.0
    log_offsets: dict[Path, int] = field(default_factory=dict)


@dataclass
class Figures:
    phase: Phase
    slots: SlotFigures
    answers: Counter[str]
    bad_answers: list[Answer]
    health_during: list[list[str]]  # per replica: the statuses seen during the fault
    health_after: list[str]  # per replica: the last status seen in the phase
    signals_after: list[str]  # per replica: GetHealth's "signals" component, last seen
    logs: Counter[str]
    settled_in: float
    exited: list[str]  # replicas and workers found dead at the end of the phase


# --- figures as text ------------------------------------------------------------

COLUMNS = (
    ("fault", 24),
    ("slots", 6),
    ("lost", 5),
    ("dup", 4),
    ("not ok", 6),
    ("INTERNAL", 8),
    ("UNKNOWN", 7),
    ("settled", 7),
    ("late", 5),
    ("health during (r0 | r1)", 42),
    ("health after", 22),
    ("other answers", 0),
)


def table(rows: list[Figures]) -> str:
    """One line per phase. slots: (job, slot) pairs due in the phase; lost: never
    run to completion by a worker; dup: run to completion twice, or fired
    twice; not ok: no SUCCESS execution in the database; INTERNAL, UNKNOWN,
    other answers: the prober's answers in the phase; settled: how long after
    the phase its slots took to succeed; late: the latest start of a slot's
    successful attempt after its instant; health: grpc.health.v1 while the
    fault lasted and at the end of the phase (UNAVAILABLE: no answer), with
    GetHealth's "signals" component when it is not SERVING (Redis)."""
    lines = ["  ".join(f"{name:<{width}}" for name, width in COLUMNS).rstrip()]
    for f in rows:
        other = ", ".join(
            f"{code} {n}" for code, n in sorted(f.answers.items()) if code not in BAD_CODES
        )
        during = " | ".join("+".join(s) for s in f.health_during) if f.phase.fault_at else "-"
        cells = (
            f.phase.name,
            f.slots.expected,
            len(f.slots.lost),
            len(f.slots.duplicated) + len(f.slots.doubled),
            len(f.slots.not_succeeded),
            f.answers["INTERNAL"],
            f.answers["UNKNOWN"],
            f"{f.settled_in:.1f}s",
            f"{f.slots.latest_start:.1f}s",
            during,
            _health_after(f),
            other,
        )
        lines.append(
            "  ".join(f"{c!s:<{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)).rstrip()
        )
    return "\n".join(lines)


def _health_after(figures: Figures) -> str:
    """grpc.health.v1 at the end; GetHealth's "signals" too, unless all SERVING."""
    text = "/".join(figures.health_after)
    if any(status != "HEALTH_STATUS_SERVING" for status in figures.signals_after):
        signals = "/".join(s.removeprefix("HEALTH_STATUS_") for s in figures.signals_after)
        text += f" (signals {signals})"
    return text


def problems(figures: Figures, *, not_serving_during: bool = False) -> list[str]:
    """What went wrong in a phase, each with a few examples."""
    found = [f"{name} is not running" for name in figures.exited]
    found += slot_problems(figures.slots)
    bad = figures.bad_answers
    found += [f"{a.code} from r{a.replica} {a.method}: {a.details}" for a in bad[:SHOWN]]
    if len(bad) > SHOWN:
        found.append(f"... {len(bad)} INTERNAL/UNKNOWN answers in all")
    for index, seen in enumerate(figures.health_during if not_serving_during else []):
        if "NOT_SERVING" not in seen:
            said = "+".join(seen) or "nothing"
            found.append(f"r{index} health said {said} during the outage, never NOT_SERVING")
    for index, status in enumerate(figures.health_after):
        if status != "SERVING":
            found.append(f"r{index} health {status} at the end of the phase")
    return found


def slot_problems(s: SlotFigures) -> list[str]:
    found = []
    if s.lost:
        found.append(f"{len(s.lost)} slots never run to completion: {_states(s.lost, s)}")
    if s.duplicated:
        found.append(f"{len(s.duplicated)} slots run to completion twice: {_runs(s)}")
    if s.doubled:
        found.append(f"{len(s.doubled)} slots fired twice: {_states(list(s.doubled), s)}")
    if s.not_succeeded:
        found.append(
            f"{len(s.not_succeeded)} slots without a SUCCESS execution: "
            + _states(list(s.not_succeeded), s)
        )
    return found


def _states(slots: list[Slot], figures: SlotFigures) -> str:
    """A few slots, each with its executions as `status#attempt(error)`."""
    shown = []
    for job, at in slots[:SHOWN]:
        rows = figures.executions.get((job, at), [])
        states = ",".join(f"{r.status}#{r.attempt}({r.error or ''})" for r in rows)
        shown.append(f"{job[-8:]} {at:%H:%M:%S} [{states or 'ok'}]")
    return "; ".join(shown) + (" ..." if len(slots) > SHOWN else "")


def _runs(figures: SlotFigures) -> str:
    """A few duplicated slots, each with its runs as `execution#attempt by worker`."""
    shown = []
    for (job, at), runs in list(figures.duplicated.items())[:SHOWN]:
        each = ", ".join(f"{r.execution_id[-8:]}#{r.attempt} by {r.worker_id}" for r in runs)
        shown.append(f"{job[-8:]} {at:%H:%M:%S}: {each}")
    return "; ".join(shown) + (" ..." if len(figures.duplicated) > SHOWN else "")


def check(figures: Figures, *, not_serving_during: bool = False) -> None:
    found = problems(figures, not_serving_during=not_serving_during)
    if found:
        logs = "\n".join(f"  {n:5d}x {line}" for line, n in figures.logs.most_common(15))
        listed = "\n- ".join(found)
        raise AssertionError(f"{figures.phase.name}:\n- {listed}\nlog lines (counted):\n{logs}")


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
