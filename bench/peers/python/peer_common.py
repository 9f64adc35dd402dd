"""Shared plumbing for the Python peer benchmarks (APScheduler, Procrastinate).

Each peer script runs one workload against one Postgres database and prints exactly one
JSON line on stdout; everything else goes to stderr. This module holds the parts that
must be identical across peers so their numbers are comparable: the CLI, the output
format, the percentile method and the w2 slot accounting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("peer")

# w1 gives up after this long (from worker start) and reports what completed.
DEFAULT_W1_DEADLINE_S = 300.0
# w2 keeps the workers running this long after the last slot so late firings count.
DEFAULT_W2_DRAIN_S = 5.0


@dataclass(frozen=True)
class Args:
    dsn: str
    workload: str
    jobs: int
    schedules: int
    seconds: int
    deadline: float
    drain: float
    concurrency: int | None
    # Peer-specific options, added through parse_args(add_options=...), by dest name.
    extra: dict[str, Any] = field(default_factory=dict)


_ARG_FIELDS = {f.name for f in fields(Args)}


def parse_args(
    system: str,
    argv: list[str] | None = None,
    add_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Args:
    p = argparse.ArgumentParser(
        prog=f"{system}_bench",
        description=f"{system} peer benchmark; prints one JSON line on stdout",
    )
    p.add_argument("--dsn", required=True, help="postgresql://user@host:port/db")
    p.add_argument("--workload", required=True, choices=["w1", "w2"])
    p.add_argument("--jobs", type=int, default=20000, help="w1: one-shot jobs to run")
    p.add_argument("--schedules", type=int, default=1000, help="w2: 1 s schedules")
    p.add_argument("--seconds", type=int, default=30, help="w2: measured window (s)")
    p.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_W1_DEADLINE_S,
        help="w1: give up this many seconds after the workers start",
    )
    p.add_argument("--drain", type=float, default=DEFAULT_W2_DRAIN_S, help="w2: grace after window")
    p.add_argument("--concurrency", type=int, default=None, help="override the peer's concurrency")
    if add_options is not None:
        add_options(p)
    ns = p.parse_args(argv)
    if ns.jobs < 1 or ns.schedules < 1 or ns.seconds < 1:
        p.error("--jobs, --schedules and --seconds must be positive")
    return Args(
        dsn=ns.dsn,
        workload=ns.workload,
        jobs=ns.jobs,
        schedules=ns.schedules,
        seconds=ns.seconds,
        deadline=ns.deadline,
        drain=ns.drain,
        concurrency=ns.concurrency,
        extra={k: v for k, v in vars(ns).items() if k not in _ARG_FIELDS},
    )


def setup_logging() -> None:
    # Libraries log at WARNING only: per-job INFO lines would turn the benchmark into a
    # logging benchmark. Our own progress lines stay at INFO. All of it goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    log.setLevel(logging.INFO)


Runner = Callable[[Args], Coroutine[Any, Any, dict[str, Any]]]


def run_main(system: str, version: str, args: Args, w1: Runner, w2: Runner) -> int:
    """Run one workload and print its JSON line; a crash still prints one line (exit 1)."""
    runner = w1 if args.workload == "w1" else w2
    try:
        result = asyncio.run(runner(args))
    except Exception as exc:
        log.exception("%s %s failed", system, args.workload)
        emit({"system": system, "version": version, "workload": args.workload, "error": repr(exc)})
        return 1
    emit(result)
    return 0


def emit(result: dict[str, Any]) -> None:
    """The single stdout line the caller parses."""
    sys.stdout.write(json.dumps(result, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def with_scheme(dsn: str, scheme: str) -> str:
    """postgresql://... -> e.g. postgresql+asyncpg://... (SQLAlchemy driver URLs)."""
    parts = urlsplit(dsn)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def w1_result(
    system: str,
    version: str,
    jobs: int,
    completed: int,
    enqueue_seconds: float,
    seconds: float,
    notes: str,
    timed_out: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "system": system,
        "version": version,
        "workload": "w1",
        "jobs": jobs,
        "completed": completed,
        "enqueue_seconds": round(enqueue_seconds, 3),
        "seconds": round(seconds, 3),
        "per_second": round(completed / seconds, 1) if seconds > 0 else 0.0,
        "notes": notes,
    }
    if timed_out:
        result["timed_out"] = True
    return result


@dataclass
class SlotRecorder:
    """Counts w2 firings per (schedule, scheduled instant) inside the measured window.

    Slots are the whole-second instants t0, t0+1, ..., t0+seconds-1 for every schedule.
    A firing for an instant outside that window (a library that fires once on start-up
    for the previous instant, or keeps going during the drain) is ignored, so the
    accounting is the same whichever library produced it.
    """

    schedules: int
    seconds: int
    t0: float
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    lateness_ms: list[float] = field(default_factory=list)
    last_start: float = 0.0
    before_window: int = 0
    after_window: int = 0

    def record(self, schedule: str, scheduled_at: float, started_at: float) -> None:
        index = round(scheduled_at - self.t0)
        if index < 0:
            self.before_window += 1
            return
        if index >= self.seconds:
            self.after_window += 1
            return
        if abs(scheduled_at - (self.t0 + index)) > 1e-3:
            raise ValueError(f"fire time {scheduled_at} is not on a whole-second slot")
        self.counts[(schedule, index)] += 1
        self.lateness_ms.append((started_at - scheduled_at) * 1000.0)
        self.last_start = max(self.last_start, started_at)

    @property
    def expected(self) -> int:
        return self.schedules * self.seconds

    def result(self, system: str, version: str, extra: dict[str, Any]) -> dict[str, Any]:
        lat = sorted(self.lateness_ms)

        def ms(q: float) -> float | None:
            v = percentile(lat, q)
            return None if v is None else round(v, 1)

        fired = sum(self.counts.values())
        # In-window firings per second of wall time from the first slot to the last of
        # them: the rate a saturated scheduler actually sustains.
        span = self.last_start - self.t0
        out: dict[str, Any] = {
            "system": system,
            "version": version,
            "workload": "w2",
            "schedules": self.schedules,
            "seconds": self.seconds,
            "expected": self.expected,
            "fired": fired,
            "missed": self.expected - len(self.counts),
            "doubled": sum(1 for c in self.counts.values() if c > 1),
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
            "max_ms": round(lat[-1], 1) if lat else None,
            "fired_per_second": round(fired / span, 1) if span > 0 else None,
            # Firings for instants outside the window: not counted above, shown so a
            # start-up burst or drain-time work is visible.
            "out_of_window": {"before": self.before_window, "after": self.after_window},
        }
        out.update(extra)
        return out


def unsupported(system: str, version: str, reason: str) -> dict[str, Any]:
    return {"system": system, "version": version, "workload": "w2", "unsupported": reason}


def next_whole_second(lead_s: float) -> float:
    """The first whole epoch second at least lead_s from now (the w2 window start)."""
    return float(math.ceil(time.time() + lead_s))
