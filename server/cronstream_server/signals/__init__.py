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
# An API key was revoked or a platform deleted: replicas re-check the keys of
# their open worker streams at once (they also do every few seconds).
REVOKED = "revoked"

__all__ = ["CANCEL", "DUE", "JOBS", "REVOKED", "WORK", "LocalSignals", "RedisSignals"]
