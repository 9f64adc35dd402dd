"""Batched messages to a worker stay small: assignments group up to a byte
budget, so no batch approaches the gRPC message limit."""

from __future__ import annotations

from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.worker import BATCH_BYTES, responses
from cronstream_server.api.worker_wire import (
    Built,
    assignment,
    prepared_assignment,
    serialize_response,
)
from cronstream_server.engine.session import Ack, Outgoing, Prepared

from tests.unit.test_session_hand import start

ASSIGNMENT_BYTES = 100 * 1024


def prepared(n: int, size: int = ASSIGNMENT_BYTES) -> Prepared:
    built, _ = prepared_assignment(start(f"e{n}"))
    return Prepared(start(f"e{n}"), built, size)


def sent_as(ready: list[Outgoing]) -> list[wpb.ConnectResponse]:
    """What the worker receives: the responses as the stream serializes them."""
    return [
        wpb.ConnectResponse.FromString(serialize_response(m))
        for m in responses(ready, batches=True)
    ]


def test_assignments_group_up_to_the_byte_budget() -> None:
    sent = sent_as([prepared(n) for n in range(12)])

    sizes = [len(m.assignments.assignments) for m in sent]
    assert sizes == [5, 5, 2]  # 5 x 100 KiB fit in 512 KiB, a sixth would not
    assert BATCH_BYTES // ASSIGNMENT_BYTES == 5
    ids = [a.execution_id for m in sent for a in m.assignments.assignments]
    assert ids == [f"e{n}" for n in range(12)]  # in order, each once


def test_acks_and_small_assignments_still_go_together() -> None:
    small = [prepared(n, 200) for n in range(3)]
    sent = sent_as([*small, Ack("e0"), Ack("e1")])

    assert [m.WhichOneof("msg") for m in sent] == ["assignments", "result_acks"]
    assert [a.execution_id for a in sent[1].result_acks.acks] == ["e0", "e1"]


def test_assignments_encoded_ahead_reach_the_worker_as_one_batch_built_now_would() -> None:
    starts = [start(f"e{n}") for n in range(300)]
    ahead = [Prepared(s, prepared_assignment(s)[0], 200) for s in starts]

    [wire] = responses(ahead, batches=True)

    assert isinstance(wire, bytes)  # joined, not built again at the instant
    now = wpb.ConnectResponse(assignments=wpb.Assignments(assignments=map(assignment, starts)))
    assert wpb.ConnectResponse.FromString(wire) == now
    assert [a.execution_id for a in now.assignments.assignments] == [f"e{n}" for n in range(300)]


def test_a_lone_assignment_encoded_ahead_goes_in_its_own_field() -> None:
    one = prepared(0, 200)

    [sent] = sent_as([one])

    assert sent.WhichOneof("msg") == "assignment"
    assert isinstance(one.message, Built)
    assert sent.assignment == one.message.message


def test_the_serializer_passes_an_encoding_through_and_serializes_messages() -> None:
    ack = wpb.ConnectResponse(result_acks=wpb.ResultAcks(acks=[wpb.ResultAck(execution_id="e")]))

    assert serialize_response(b"\x0a\x00") == b"\x0a\x00"
    assert serialize_response(ack) == ack.SerializeToString()
