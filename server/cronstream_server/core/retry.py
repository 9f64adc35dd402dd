"""Retry backoff: how long a failed attempt waits before the next one.

The delay doubles with every retry from the job's `retry_delay`, is capped
(default one hour, `CRONSTREAM_RETRY_CAP_SECONDS`), then scaled by a jitter
drawn uniformly from [0.8, 1.2] so that executions which failed together (a
dependency went down for all of them) do not come back together. The jitter
is applied after the cap, so a capped delay varies too.
"""

from __future__ import annotations

import random
from datetime import timedelta

DEFAULT_RETRY_CAP = timedelta(hours=1)
JITTER_LOW = 0.8
JITTER_HIGH = 1.2
# 2**64 times any delay is past every cap; stopping there keeps floats finite.
_MAX_DOUBLINGS = 64


def retry_delay(
    base: timedelta,
    retry_count: int,
    rng: random.Random,
    cap: timedelta = DEFAULT_RETRY_CAP,
) -> timedelta:
    """The wait before retry number `retry_count + 1`.

    `retry_count` is how many retries already ran (0 before the first one):
    `base * 2**retry_count`, at most `cap`, times uniform(0.8, 1.2).
    """
    base_ms = max(0.0, base / timedelta(milliseconds=1))
    grown_ms = base_ms * 2.0 ** min(max(retry_count, 0), _MAX_DOUBLINGS)
    capped_ms = min(grown_ms, max(0.0, cap / timedelta(milliseconds=1)))
    return timedelta(milliseconds=capped_ms * rng.uniform(JITTER_LOW, JITTER_HIGH))
