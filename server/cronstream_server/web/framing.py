"""gRPC-web's wire format (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md).

A body is a run of frames: one flag byte, a 4-byte big-endian length, then that
many bytes. Flag 0x00 carries a message; 0x80 carries the trailers, written as
HTTP/1 header lines, because a browser's fetch cannot read real HTTP trailers.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Sequence

HEADER = struct.Struct(">BI")
DATA = 0x00
COMPRESSED = 0x01
TRAILERS = 0x80
# Bytes a grpc-message keeps as they are (the gRPC spec: printable ASCII but '%').
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("%")}


class FramingError(ValueError):
    """The body is not one well-formed, uncompressed gRPC-web message."""


def data_frame(message: bytes) -> bytes:
    return HEADER.pack(DATA, len(message)) + message


def trailer_frame(trailers: Sequence[tuple[str, str]]) -> bytes:
    block = "".join(f"{name}: {value}\r\n" for name, value in trailers).encode("ascii")
    return HEADER.pack(TRAILERS, len(block)) + block


def single_message(body: bytes) -> bytes:
    """The one message of a unary or server-streaming request's body."""
    if len(body) < HEADER.size:
        raise FramingError("the body is shorter than a gRPC-web frame header")
    flag, length = HEADER.unpack_from(body)
    if flag & COMPRESSED:
        # Nothing is advertised in grpc-accept-encoding, so no client compresses.
        raise FramingError("compressed messages are not accepted")
    if flag != DATA:
        raise FramingError(f"the first frame is not a message (flag {flag:#04x})")
    if len(body) != HEADER.size + length:
        raise FramingError("the body is not exactly one message frame")
    return body[HEADER.size :]


def status_trailers(
    code: int, message: str, metadata: Iterable[tuple[str, str | bytes]] = ()
) -> list[tuple[str, str]]:
    """grpc-status, grpc-message (percent-encoded) and the binary details
    (`grpc-status-details-bin`, base64) that carry google.rpc.BadRequest."""
    trailers = [("grpc-status", str(code))]
    if message:
        trailers.append(("grpc-message", percent_encode(message)))
    for name, value in metadata:
        if name == "grpc-status-details-bin" and isinstance(value, bytes):
            # Unpadded, as the gRPC spec asks senders; readers accept both.
            trailers.append((name, base64.b64encode(value).decode("ascii").rstrip("=")))
    return trailers


def percent_encode(message: str) -> str:
    return "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in message.encode("utf-8"))
