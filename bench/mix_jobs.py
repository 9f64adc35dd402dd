"""W3's cron jobs: a spread of schedules and zones, and how many of their
slots fall in a window, counted without the server's cron code.

Each job is a `Slot`: its zone, its kind (how often it fires) and the wall
time fields it fires on. The expected count walks the window's seconds once
per zone and looks each second's wall time up in a table of jobs by kind and
fields, so 100,000 jobs cost a few thousand lookups, not a cron evaluation
each.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cronstream.v1 import job_pb2

HANDLER = "mix"

# Share of the jobs of each kind: a few fast schedules, most of them hourly
# or daily, as a fleet of 100,000 tends to be. At 100,000 jobs the kinds
# fire about 240 slots/s in all (50 + 40 + 40 + 67 + 33 + 8 + 0.6).
SPREAD: tuple[tuple[str, float], ...] = (
    ("1s", 0.0005),
    ("5s", 0.002),
    ("15s", 0.006),
    ("minute", 0.04),
    ("5min", 0.10),
    ("hourly", 0.30),
    ("daily", 0.5515),
)
# Zones and their weights: two whole-hour zones with DST, two off by half an
# hour (Lord Howe's DST is half an hour too), so hourly and daily slots land
# on other UTC minutes than their wall time says.
ZONES: tuple[tuple[str, int], ...] = (
    ("UTC", 4),
    ("America/New_York", 2),
    ("Europe/Berlin", 2),
    ("Asia/Kolkata", 1),
    ("Australia/Lord_Howe", 1),
)
# A fifth of the every-minute jobs are plain `* * * * *`: the burst at the
# top of each minute that five-field crontabs make.
TOP_OF_MINUTE_SHARE = 0.2


@dataclass(frozen=True)
class Slot:
    zone: str
    kind: str
    fields: tuple[int, ...]  # the wall-time key its kind matches on (see KEYS)


# For each kind, the key of a wall time its jobs are looked up by.
KEYS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "1s": lambda t: (),
    "5s": lambda t: (t.second % 5,),
    "15s": lambda t: (t.second % 15,),
    "minute": lambda t: (t.second,),
    "5min": lambda t: (t.minute % 5, t.second),
    "hourly": lambda t: (t.minute, t.second),
    "daily": lambda t: (t.hour, t.minute, t.second),
}


def expression(slot: Slot) -> str:
    """The cron expression (six fields, seconds first; five for the top of
    the minute) that fires on exactly the wall times `KEYS` matches."""
    kind, f = slot.kind, slot.fields
    if kind == "1s":
        return "* * * * * *"
    if kind in ("5s", "15s"):
        step = 5 if kind == "5s" else 15
        return f"{f[0]}-59/{step} * * * * *"
    if kind == "minute":
        return "* * * * *" if f == (0,) else f"{f[0]} * * * * *"
    if kind == "5min":
        return f"{f[1]} {f[0]}-59/5 * * * *"
    if kind == "hourly":
        return f"{f[1]} {f[0]} * * * *"
    return f"{f[2]} {f[1]} {f[0]} * * *"


def _fields(kind: str, rng: random.Random) -> tuple[int, ...]:
    second, minute = rng.randrange(60), rng.randrange(60)
    if kind == "1s":
        return ()
    if kind in ("5s", "15s"):
        return (second % (5 if kind == "5s" else 15),)
    if kind == "minute":
        return (0,) if rng.random() < TOP_OF_MINUTE_SHARE else (second,)
    if kind == "5min":
        return (minute % 5, second)
    if kind == "hourly":
        return (minute, second)
    return (rng.randrange(24), minute, second)


def spread(count: int, seed: int = 18) -> list[Slot]:
    """`count` jobs in SPREAD's shares (the rest daily), zones by weight."""
    rng = random.Random(seed)
    zone_names = [zone for zone, _ in ZONES]
    zone_weights = [weight for _, weight in ZONES]
    slots: list[Slot] = []
    for kind, share in SPREAD[:-1]:
        slots += [
            Slot(rng.choices(zone_names, zone_weights)[0], kind, _fields(kind, rng))
            for _ in range(round(count * share))
        ]
    last = SPREAD[-1][0]
    while len(slots) < count:
        slots.append(Slot(rng.choices(zone_names, zone_weights)[0], last, _fields(last, rng)))
    return slots


def cron_jobs(slots: list[Slot]) -> Iterator[job_pb2.Job]:
    for index, slot in enumerate(slots):
        trigger = job_pb2.CronTrigger(expression=expression(slot), timezone=slot.zone)
        yield job_pb2.Job(
            name=f"w3-{slot.kind}-{index}",
            handler_name=HANDLER,
            cron=trigger,
            tags=["w3", slot.kind],
        )


def expected_slots(slots: list[Slot], start: int, end: int) -> int:
    """Slots of `slots` at whole seconds in [start, end) (Unix seconds).
    Wildcard and fixed-time jobs differ only across a clock change, which a
    window of minutes rarely holds: this count assumes it holds none."""
    table = Counter(slots)
    total = 0
    for zone in {slot.zone for slot in slots}:
        tz = ZoneInfo(zone)
        for second in range(start, end):
            wall = datetime.fromtimestamp(second, tz)
            total += sum(table[Slot(zone, kind, key(wall))] for kind, key in KEYS.items())
    return total
