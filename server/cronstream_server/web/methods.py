"""Which paths the bridge forwards, how, and where: read from the contract's descriptors.

Only SchedulerService and AdminService are served to browsers. Their unary and
server-streaming methods are forwarded; a browser cannot send a request stream
over fetch, so client- and bidi-streaming methods (WorkerService's stream, the
only ones today) are left out, like any path the contract does not name.

The reads in READS go to the read server in the port's own process
(read_server.py); every other path to the server, which fires the executions.
"""

from __future__ import annotations

import enum

from cronstream.v1 import admin_service_pb2, scheduler_service_pb2
from google.protobuf.descriptor import ServiceDescriptor


class Kind(enum.Enum):
    UNARY = "unary"
    SERVER_STREAMING = "server-streaming"


SERVED = (
    scheduler_service_pb2.DESCRIPTOR.services_by_name["SchedulerService"],
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"],
)


_SCHEDULER = "cronstream.v1.SchedulerService"
# SchedulerService's unary calls that only read the database. GetHealth and
# GetMetrics read the engine's own state, the webhook reads its webhook use
# cases, WatchAlerts waits rather than works: those go to the server.
READS = frozenset(
    f"/{_SCHEDULER}/{name}"
    for name in (
        "GetJob",
        "ListJobs",
        "ListExecutions",
        "GetExecution",
        "ListExecutionLogs",
        "GetEventHandler",
        "ListEventHandlers",
        "PreviewSchedule",
        "GetJobStats",
        "GetRecentRuns",
        "ListWorkers",
        "ListAlerts",
        "GetHealthDefaults",
        "ListRateLimits",
    )
)


def method_kinds(services: tuple[ServiceDescriptor, ...] = SERVED) -> dict[str, Kind]:
    """ "/package.Service/Method" -> its kind, for every method the bridge forwards."""
    kinds: dict[str, Kind] = {}
    for service in services:
        for method in service.methods:
            if method.client_streaming:
                continue
            kind = Kind.SERVER_STREAMING if method.server_streaming else Kind.UNARY
            kinds[f"/{service.full_name}/{method.name}"] = kind
    return kinds
