"""The enum values options take, by the names users type (`--status paused`);
the client maps each name to its protobuf value."""

from __future__ import annotations

import enum


class JobStatusName(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobTypeName(enum.StrEnum):
    CRON = "cron"
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    EVENT = "event"


class HealthName(enum.StrEnum):
    HEALTHY = "healthy"
    LATE = "late"
    MISSED = "missed"
    OVERRUNNING = "overrunning"
    FAILING = "failing"


class ExecutionStatusName(enum.StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class AlertStateName(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class BackfillOverlap(enum.StrEnum):
    ALLOW = "allow"
    BUFFER_ONE = "buffer_one"
