"""Which paths the bridge forwards, and how: read from the contract's descriptors.

Only SchedulerService and AdminService are served to browsers. Their unary and
server-streaming methods are forwarded; a browser cannot send a request stream
over fetch, so client- and bidi-streaming methods (WorkerService's stream, the
only ones today) are left out, like any path the contract does not name.
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
