"""A gRPC-web client in a few lines, written from the spec for the tests, so that
the server's bridge is checked against an independent reading of the format."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

GRPC_WEB = "application/grpc-web+proto"
SCHEDULER = "/cronstream.v1.SchedulerService/"


def frame(message: Message) -> bytes:
    data = message.SerializeToString()
    return struct.pack(">BI", 0, len(data)) + data


def headers(key: str | None = None, **extra: str) -> dict[str, str]:
    sent = {"content-type": GRPC_WEB, "x-grpc-web": "1", **extra}
    if key is not None:
        sent["authorization"] = f"Bearer {key}"
    return sent


@dataclass
class Reply:
    """A gRPC-web reply, its frames read: the messages and the status."""

    http_status: int
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return int(self.trailers["grpc-status"])

    @property
    def message(self) -> str:
        return unquote(self.trailers.get("grpc-message", ""))

    def violations(self) -> dict[str, str]:
        """The google.rpc.BadRequest field violations in grpc-status-details-bin."""
        encoded = self.trailers["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
        found: dict[str, str] = {}
        for detail in status.details:
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad):
                found.update({v.field: v.description for v in bad.field_violations})
        return found


def read_frames(body: bytes, reply: Reply) -> bytes:
    """Adds the whole frames of `body` to `reply`; the bytes left over."""
    while len(body) >= 5:
        flag, length = struct.unpack_from(">BI", body)
        if len(body) < 5 + length:
            break
        payload, body = body[5 : 5 + length], body[5 + length :]
        if flag == 0x80:
            for line in payload.decode("ascii").split("\r\n"):
                if line:
                    name, _, value = line.partition(":")
                    reply.trailers[name.strip().lower()] = value.strip()
        else:
            assert flag == 0, f"unexpected frame flag {flag:#x}"
            reply.messages.append(payload)
    return body


def parse(response: httpx.Response) -> Reply:
    reply = Reply(response.status_code)
    if "grpc-status" in response.headers:  # trailers-only
        reply.trailers = {k: v for k, v in response.headers.items() if k.startswith("grpc-")}
        return reply
    assert response.headers["content-type"] == GRPC_WEB
    assert read_frames(response.content, reply) == b""
    return reply


async def call(
    client: httpx.AsyncClient, path: str, request: Message, key: str | None, **extra: str
) -> Reply:
    response = await client.post(path, content=frame(request), headers=headers(key, **extra))
    return parse(response)
