"""Full-jitter exponential backoff between reconnection attempts."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """The `n`-th consecutive failure (from 0) waits a uniformly random time in
    `[0, min(cap, base * 2**n)]` ("full jitter"), so workers cut off together
    do not all reconnect together: the first wait is under 100 ms, none is
    over 5 s. Times in seconds. All four Cronstream clients use these numbers."""

    base: float = 0.1
    cap: float = 5.0

    def ceiling(self, attempt: int) -> float:
        """The longest wait of `attempt`."""
        ceiling = self.base
        for _ in range(max(attempt, 0)):
            if ceiling >= self.cap:
                break
            ceiling *= 2
        return min(ceiling, self.cap)

    def delay(
        self, attempt: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """A random wait before `attempt`."""
        ceiling = self.ceiling(attempt)
        return uniform(0.0, ceiling) if ceiling > 0 else 0.0
