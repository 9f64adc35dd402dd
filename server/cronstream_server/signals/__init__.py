"""Signal adapters: in-process (one replica) and Redis (several)."""

from __future__ import annotations

from cronstream_server.signals.local import LocalSignals
from cronstream_server.signals.redis import RedisSignals

JOBS = "jobs"
WORK = "work"
CANCEL = "cancel"
# An execution becomes due at the instant carried (ISO 8601): the ticker fired
# its slot ahead, and dispatchers claim it then.
DUE = "due"

__all__ = ["CANCEL", "DUE", "JOBS", "WORK", "LocalSignals", "RedisSignals"]
