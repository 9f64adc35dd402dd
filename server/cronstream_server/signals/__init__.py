"""Signal adapters: in-process (one replica) and Redis (several)."""

from __future__ import annotations

from cronstream_server.signals.local import LocalSignals
from cronstream_server.signals.redis import RedisSignals

JOBS = "jobs"
WORK = "work"
CANCEL = "cancel"

__all__ = ["CANCEL", "JOBS", "WORK", "LocalSignals", "RedisSignals"]
