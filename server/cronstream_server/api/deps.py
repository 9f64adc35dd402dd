"""What the servicers work with, built once by the server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from cronstream_server.store.executions import SqlExecutionStore
from cronstream_server.store.jobs import SqlJobStore

Context = grpc.aio.ServicerContext[Any, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SchedulerDeps:
    jobs: SqlJobStore
    executions: SqlExecutionStore
    max_payload_bytes: int = 256 * 1024
    now: Callable[[], datetime] = field(default=utc_now)
