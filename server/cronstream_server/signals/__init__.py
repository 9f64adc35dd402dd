"""Signal adapters: in-process (one replica) and Redis (several)."""

from __future__ import annotations

from cronstream_server.core.signals import CANCEL, DUE, JOBS, REVOKED, WORK
from cronstream_server.signals.local import LocalSignals
from cronstream_server.signals.redis import RedisSignals

__all__ = ["CANCEL", "DUE", "JOBS", "REVOKED", "WORK", "LocalSignals", "RedisSignals"]
