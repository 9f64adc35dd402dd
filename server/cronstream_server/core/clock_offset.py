"""How far the database's clock is from this process's, estimated so that
the estimate of the database's time never runs ahead of it.

Each claim reads the database's clock inside a query: this process read its
own clock just before sending the query (`sent`) and just after its answer
(`received`), so the database's reading was taken somewhere between the two,
and the offset (database minus ours) lies between `database - received` (the
lower bound) and `database - sent` (the upper bound). Using a lower bound
means a time told as the database's (a due instant's timer, an assignment's
`sent_at`) is never ahead of it: a start can come late, never early.

One reading's lower bound is as far below the truth as the event loop was
slow to take the answer (a long tick of other work, a collection). So the
estimate is the highest lower bound seen in the last `window`: the
tightest that is still safe, so long as neither clock jumped. A jump shows
as a reading whose upper bound is below the estimate (the database's clock
went back, or ours forward): the older readings then say nothing, and the
estimate starts again from the new one.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from cronstream_server.core.values import value_type

WINDOW = timedelta(seconds=30)


@value_type
class _Reading:
    at: datetime  # our clock, when it was taken
    low: timedelta
    high: timedelta


class OffsetEstimate:
    def __init__(self, window: timedelta = WINDOW) -> None:
        self._window = window
        self._readings: deque[_Reading] = deque()
        self.offset = timedelta(0)  # before any reading: the clocks agree

    def read(self, database: datetime, sent: datetime, received: datetime) -> timedelta:
        """Takes one reading of the database's clock (`database`), made
        between `sent` and `received` on ours; returns the new estimate."""
        reading = _Reading(received, database - received, database - sent)
        if self._readings and reading.high < self.offset:
            self._readings.clear()  # a clock jumped: what came before is void
        self._readings.append(reading)
        while self._readings[0].at < received - self._window:
            self._readings.popleft()
        self.offset = max(r.low for r in self._readings)
        return self.offset
