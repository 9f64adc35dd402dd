"""The enums of `cronstream.models`, mirroring the generated ones.

Each is an `IntEnum` named as the proto values without their prefix
(`JobStatus.ACTIVE` for `JOB_STATUS_ACTIVE`): it prints by name and still
compares equal to the generated value.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from cronstream.v1 import alert_pb2, execution_pb2, insight_pb2, job_pb2

__all__ = [
    "MIRRORS",
    "AlertEventType",
    "AlertState",
    "ExecutionStatus",
    "ExecutionTrigger",
    "HandlerType",
    "HealthState",
    "HealthStatus",
    "JobStatus",
    "JobType",
    "LogLevel",
    "MisfirePolicy",
    "OverlapPolicy",
    "Priority",
]


class _ProtoEnum(enum.IntEnum):
    """An IntEnum that prints as `JobStatus.ACTIVE` (IntEnum prints `2`)."""

    __str__ = enum.Enum.__str__
    __format__ = enum.Enum.__format__

    @classmethod
    def of(cls, value: int) -> Self:
        """The member for `value`; UNSPECIFIED for a number this client does
        not know (a newer server's)."""
        try:
            return cls(value)
        except ValueError:
            return cls(0)


class JobStatus(_ProtoEnum):
    UNSPECIFIED = 0
    PENDING = 1
    ACTIVE = 2
    PAUSED = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6


class JobType(_ProtoEnum):
    UNSPECIFIED = 0
    CRON = 1
    ONE_TIME = 2
    RECURRING = 3
    EVENT = 4


class HandlerType(_ProtoEnum):
    UNSPECIFIED = 0
    FUNCTION = 1
    AGENT = 2
    WORKFLOW = 3


class Priority(_ProtoEnum):
    UNSPECIFIED = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class OverlapPolicy(_ProtoEnum):
    UNSPECIFIED = 0
    ALLOW = 1
    SKIP = 2
    BUFFER_ONE = 3
    CANCEL_PREVIOUS = 4


class MisfirePolicy(_ProtoEnum):
    UNSPECIFIED = 0
    RUN_ONCE = 1
    RUN_ALL = 2
    SKIP = 3


class ExecutionStatus(_ProtoEnum):
    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    SUCCESS = 3
    FAILED = 4
    TIMEOUT = 5
    CANCELLED = 6
    SKIPPED = 7
    #: Waits for the jobs it depends on (`Execution.waiting_for`): not final.
    WAITING = 8

    @property
    def final(self) -> bool:
        """Whether the execution has ended: success, failed, timeout,
        cancelled or skipped. PENDING, RUNNING and WAITING are not."""
        return self in _FINAL_EXECUTION_STATUSES


_FINAL_EXECUTION_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.SKIPPED,
    }
)


class ExecutionTrigger(_ProtoEnum):
    UNSPECIFIED = 0
    SCHEDULE = 1
    MANUAL = 2
    EVENT = 3
    BACKFILL = 4


class LogLevel(_ProtoEnum):
    UNSPECIFIED = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class HealthStatus(_ProtoEnum):
    UNSPECIFIED = 0
    SERVING = 1
    DEGRADED = 2
    NOT_SERVING = 3


class HealthState(_ProtoEnum):
    """How a job stands against its health policy; also an alert's kind."""

    UNSPECIFIED = 0
    HEALTHY = 1
    LATE = 2
    MISSED = 3
    OVERRUNNING = 4
    FAILING = 5


class AlertState(_ProtoEnum):
    UNSPECIFIED = 0
    OPEN = 1
    RESOLVED = 2


class AlertEventType(_ProtoEnum):
    UNSPECIFIED = 0
    OPENED = 1
    RESOLVED = 2


# Each Python enum and the generated enum (and prefix) it mirrors; a unit test
# checks they agree, name for name.
MIRRORS: tuple[tuple[type[_ProtoEnum], Any, str], ...] = (
    (JobStatus, job_pb2.JobStatus, "JOB_STATUS_"),
    (JobType, job_pb2.JobType, "JOB_TYPE_"),
    (HandlerType, job_pb2.HandlerType, "HANDLER_TYPE_"),
    (Priority, job_pb2.Priority, "PRIORITY_"),
    (OverlapPolicy, job_pb2.OverlapPolicy, "OVERLAP_POLICY_"),
    (MisfirePolicy, job_pb2.MisfirePolicy, "MISFIRE_POLICY_"),
    (ExecutionStatus, execution_pb2.ExecutionStatus, "EXECUTION_STATUS_"),
    (ExecutionTrigger, execution_pb2.ExecutionTrigger, "EXECUTION_TRIGGER_"),
    (LogLevel, execution_pb2.LogLevel, "LOG_LEVEL_"),
    (HealthStatus, insight_pb2.HealthStatus, "HEALTH_STATUS_"),
    (HealthState, job_pb2.HealthState, "HEALTH_STATE_"),
    (AlertState, alert_pb2.AlertState, "ALERT_STATE_"),
    (AlertEventType, alert_pb2.AlertEventType, "ALERT_EVENT_TYPE_"),
)
