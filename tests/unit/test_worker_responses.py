"""Batched messages to a worker stay small: assignments group up to a byte
budget, so no batch approaches the gRPC message limit."""

from __future__ import annotations

from datetime import UTC, datetime

from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.worker import BATCH_BYTES, responses
from cronstream_server.api.worker_wire import (
    Built,
    assignment,
    joined,
    prepared_assignment,
    serialize_response,
    stamped,
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


SENT_AT = datetime(2026, 12, 6, 12, 0, 0, 250_000, tzinfo=UTC)


def test_a_lone_assignment_to_a_worker_that_holds_goes_as_a_batch_with_its_sent_at() -> None:
    alone = responses([prepared(1, 200)], batches=True, holds=True)
    [wire] = [
        wpb.ConnectResponse.FromString(serialize_response(stamped(m, SENT_AT))) for m in alone
    ]

    assert wire.WhichOneof("msg") == "assignments"  # where `sent_at` is read
    assert [a.execution_id for a in wire.assignments.assignments] == ["e1"]
    assert wire.assignments.sent_at.ToDatetime(tzinfo=UTC) == SENT_AT
    first = wire.assignments.assignments[0]
    assert first.start_at.ToDatetime(tzinfo=UTC) == start("e1").started_at


def test_a_lone_assignment_to_a_worker_that_does_not_hold_goes_alone() -> None:
    [wire] = sent_as([prepared(1, 200)])

    assert wire.WhichOneof("msg") == "assignment"


def test_stamping_a_batch_built_now_or_ahead_sets_sent_at_and_leaves_the_rest() -> None:
    starts = [start(f"e{n}") for n in range(3)]
    built_now = wpb.ConnectResponse(
        assignments=wpb.Assignments(assignments=map(assignment, starts))
    )
    ahead = joined([prepared_assignment(s)[0] for s in starts])

    for wire in (stamped(built_now, SENT_AT), stamped(ahead, SENT_AT)):
        parsed = wpb.ConnectResponse.FromString(serialize_response(wire))
        assert parsed.assignments.sent_at.ToDatetime(tzinfo=UTC) == SENT_AT
        assert [a.execution_id for a in parsed.assignments.assignments] == ["e0", "e1", "e2"]
    acks = wpb.ConnectResponse(result_acks=wpb.ResultAcks(acks=[wpb.ResultAck(execution_id="e0")]))
    assert stamped(acks, SENT_AT) == acks  # only assignments carry it
