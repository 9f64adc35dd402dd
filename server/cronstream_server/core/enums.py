"""The domain's enumerations; their values are what the database stores."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class JobType(StrEnum):
    CRON = "cron"
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    EVENT = "event"


class JobStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class HandlerType(StrEnum):
    FUNCTION = "function"
    AGENT = "agent"
    WORKFLOW = "workflow"


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class OverlapPolicy(StrEnum):
    ALLOW = "allow"
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    CANCEL_PREVIOUS = "cancel_previous"


class MisfirePolicy(StrEnum):
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"
    SKIP = "skip"


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    # Created for a slot whose dependencies have not succeeded yet: neither
    # claimable nor final.
    WAITING = "waiting"

    @property
    def is_final(self) -> bool:
        return self not in (
            ExecutionStatus.PENDING,
            ExecutionStatus.RUNNING,
            ExecutionStatus.WAITING,
        )


class ExecutionTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    EVENT = "event"
    BACKFILL = "backfill"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class HealthState(StrEnum):
    """How a job stands against its health policy; the kinds of alert are
    all but HEALTHY."""

    HEALTHY = "healthy"
    LATE = "late"
    MISSED = "missed"
    OVERRUNNING = "overrunning"
    FAILING = "failing"


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
