"""Fair shares: how one batch of due work is split between platforms.

The ticker claims at most a batch of due jobs per transaction. Taken by due
instant alone, 20,000 jobs one platform made due at one second fill twenty
batches before any other platform's job due a second later is looked at, so
a burst of one platform makes every other platform late. Instead each batch
is shared: every platform with due jobs gets a share in proportion to its
weight, a platform that needs less than its share leaves the rest to the
others (max-min fairness, by water-filling), and within a platform jobs go by
due instant as before. A platform with a few due jobs is served in the next
batch whatever the others have due; a platform alone gets the whole batch.

Pure: the store reads each platform's due count (capped at the batch) and
weight, this decides the shares, and the store claims that many of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from cronstream_server.core.values import value_type

DEFAULT_WEIGHT = 1
MAX_WEIGHT = 1000


@value_type
class Demand:
    """One platform's due work at a tick: how many jobs are due (counted up
    to the batch), the earliest instant among them, and its weight."""

    platform_id: str
    due: int
    earliest: datetime
    weight: int = DEFAULT_WEIGHT


def shares(demands: Sequence[Demand], batch: int) -> dict[str, int]:
    """How many due jobs of each platform this batch claims, at most `batch`
    in all: weighted max-min fair. Platforms whose due count is under their
    fair share get all of it; what they leave is shared again among the
    others by weight. Whole jobs: the remainder left by rounding down goes
    one job each to the platforms with the earliest due work. When more
    platforms have work than the batch has places, the platforms whose
    earliest due work is oldest get one each (the rest come next tick);
    otherwise every platform with due work gets at least one.
    """
    wanting = [d for d in demands if d.due > 0]
    if batch <= 0 or not wanting:
        return {}
    by_age = sorted(wanting, key=lambda d: (d.earliest, d.platform_id))
    if len(by_age) >= batch:
        return {d.platform_id: 1 for d in by_age[:batch]}
    given = _water_fill(by_age, batch)
    for demand in by_age:
        # However small its weight, no platform with due work waits a whole
        # batch: its place comes from the largest share.
        if given[demand.platform_id] == 0:
            largest = max(given, key=lambda p: given[p])
            given[largest] -= 1
            given[demand.platform_id] = 1
    left = batch - sum(given.values())
    for demand in by_age:  # the rounding's remainder, oldest work first
        if left == 0:
            break
        if given[demand.platform_id] < demand.due:
            given[demand.platform_id] += 1
            left -= 1
    return {platform: count for platform, count in given.items() if count > 0}


def _water_fill(demands: Sequence[Demand], batch: int) -> dict[str, int]:
    """Whole shares by weight, rounded down; a demand under its share is
    met in full and leaves the rest to the others."""
    given = {d.platform_id: 0 for d in demands}
    open_ = list(demands)
    left = batch
    while open_ and left > 0:
        total_weight = sum(max(d.weight, 1) for d in open_)
        met = {d.platform_id for d in open_ if d.due * total_weight <= left * max(d.weight, 1)}
        if not met:
            for d in open_:
                given[d.platform_id] = left * max(d.weight, 1) // total_weight
            break
        for d in open_:
            if d.platform_id in met:
                given[d.platform_id] = d.due
                left -= d.due
        open_ = [d for d in open_ if d.platform_id not in met]
    return given


@value_type
class TickLane:
    """The platforms one tick serves.

    A platform whose due work fills a main-lane share in one pass (it has
    more due than a short pass takes: a burst) is *bursting*. The main lane
    (`bulk` False) serves every platform but the bursting ones (`platforms`),
    at most `cap` due jobs of each, so its passes stay short and commit in
    time whatever a burst holds; the bulk lane serves the bursting ones
    alone, a whole batch a pass. Without the split, a pass that fired
    another platform's few slots beside a burst's thousand committed them
    with the thousand, a second or more later on a busy server.
    """

    platforms: frozenset[str] = frozenset()
    bulk: bool = False
    cap: int | None = None

    def capped(self, demands: Sequence[Demand]) -> list[Demand]:
        """The demands of this lane's platforms (the store reads no other),
        each at most `cap`."""
        if self.cap is None:
            return list(demands)
        return [replace(d, due=min(d.due, self.cap)) for d in demands]

    def bursting(self, demand: Mapping[str, int]) -> set[str]:
        """Platforms a main-lane pass saw with a full share (`cap`) or more due."""
        if self.bulk or self.cap is None:
            return set()
        return {platform for platform, due in demand.items() if due >= self.cap}


EVERY_PLATFORM = TickLane()
