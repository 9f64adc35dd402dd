"""Hypothesis strategies for the bytes of a request, as a hostile client sends them.

Four kinds, drawn alike: the encoding of a random message (`tests.messages`),
random bytes, a valid encoding mutated (bytes flipped, cut, inserted,
repeated, truncated), and a random message holding a JSON value nested near
and far past the limit (see `cronstream_server.api.nesting`) in one of its
places.
"""

from __future__ import annotations

import re

from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.nesting import MAX_JSON_DEPTH
from google.protobuf import message
from hypothesis import strategies as st

from tests.messages import messages
from tests.nested import json_places, nested, nested_lists, with_value

HANDLERS = ["fuzz", "UTC", "🚀"]  # a few names the fuzzed jobs may also run


def request_bytes(cls: type[message.Message]) -> st.SearchStrategy[bytes]:
    valid = messages(cls).map(lambda m: m.SerializeToString())
    kinds = [valid, st.binary(max_size=64), _mutated(valid)]
    if places := json_places(cls.DESCRIPTOR):
        kinds.append(_deep(cls, places))
    return st.one_of(*kinds)


def worker_streams() -> st.SearchStrategy[list[bytes]]:
    """What a worker sends on Connect: a hello (mostly a valid one), then a few
    messages of any kind."""
    hello = st.one_of(_valid_hellos(), _valid_hellos(), messages(wpb.WorkerHello))
    first = hello.map(lambda h: wpb.ConnectRequest(hello=h).SerializeToString())
    rest = st.lists(st.one_of(request_bytes(wpb.ConnectRequest), _plausible()), max_size=6)
    return st.tuples(first, rest).map(lambda drawn: [drawn[0], *drawn[1]])


def _valid_hellos() -> st.SearchStrategy[message.Message]:
    return st.builds(
        wpb.WorkerHello,
        worker_id=st.sampled_from(["fuzz-1", "fuzz-2"]),
        handler_names=st.lists(st.sampled_from(HANDLERS), min_size=1, max_size=3),
        slots=st.integers(0, 3),
        accepts_batches=st.booleans(),
    )


@st.composite
def _plausible(draw: st.DrawFn) -> bytes:
    """A worker message that passes the stream's checks, so that the fuzz goes
    past them: a result (its value nested up to far past the limit), a batch
    of them, a heartbeat or a capacity."""
    request = wpb.ConnectRequest()
    ids = st.sampled_from(["0b7f5c3e-0000-4000-8000-000000000001", "e1", "x" * 40])
    match draw(st.sampled_from(["result", "results", "heartbeat", "capacity"])):
        case "result" | "results" as kind:
            count = 1 if kind == "result" else draw(st.integers(1, 4))
            for _ in range(count):
                item = request.result if kind == "result" else request.results.results.add()
                item.execution_id, item.attempt = draw(ids), draw(st.integers(1, 3))
                depth = draw(st.one_of(st.integers(1, 4), st.integers(MAX_JSON_DEPTH, 60)))
                item.success.result.CopyFrom(nested(depth))
        case "heartbeat":
            request.heartbeat.execution_ids.extend(draw(st.lists(ids, max_size=3)))
        case "capacity":
            request.capacity.slots = draw(st.integers(0, 3))
    return request.SerializeToString()


@st.composite
def _mutated(draw: st.DrawFn, encodings: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(encodings))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"])):
            case "flip" if data:
                data[at % len(data)] ^= draw(st.integers(1, 255))
            case "cut":
                del data[at : at + draw(st.integers(1, 8))]
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            case "repeat":
                data[at:at] = data[at : at + draw(st.integers(1, 16))]
            case "truncate":
                del data[at:]
    return bytes(data)


@st.composite
def _deep(draw: st.DrawFn, cls: type[message.Message], places: list[str]) -> bytes:
    request = draw(messages(cls))
    place = re.sub(
        r"\[0\]", lambda _: f"[{draw(st.integers(0, 3))}]", draw(st.sampled_from(places))
    )
    shape = draw(st.sampled_from([nested, nested_lists]))
    depth = draw(
        st.one_of(st.integers(MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH + 3), st.integers(1, 150))
    )
    return with_value(request, place, shape(depth)).SerializeToString()
