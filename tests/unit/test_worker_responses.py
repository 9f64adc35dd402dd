"""Batched messages to a worker stay small: assignments group up to a byte
budget, so no batch approaches the gRPC message limit."""

from __future__ import annotations

from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.worker import BATCH_BYTES, responses
from cronstream_server.engine.session import Ack, Prepared

from tests.unit.test_session_hand import start

ASSIGNMENT_BYTES = 100 * 1024


def prepared(n: int) -> Prepared:
    message = wpb.Assignment(execution_id=f"e{n}", handler_name="h")
    return Prepared(start(f"e{n}"), message, ASSIGNMENT_BYTES)


def test_assignments_group_up_to_the_byte_budget() -> None:
    sent = responses([prepared(n) for n in range(12)], batches=True)

    sizes = [len(m.assignments.assignments) for m in sent]
    assert sizes == [5, 5, 2]  # 5 x 100 KiB fit in 512 KiB, a sixth would not
    assert BATCH_BYTES // ASSIGNMENT_BYTES == 5
    ids = [a.execution_id for m in sent for a in m.assignments.assignments]
    assert ids == [f"e{n}" for n in range(12)]  # in order, each once


def test_acks_and_small_assignments_still_go_together() -> None:
    small = [Prepared(start(f"e{n}"), wpb.Assignment(execution_id=f"e{n}"), 200) for n in range(3)]
    sent = responses([*small, Ack("e0"), Ack("e1")], batches=True)

    assert [m.WhichOneof("msg") for m in sent] == ["assignments", "result_acks"]
    assert [a.execution_id for a in sent[1].result_acks.acks] == ["e0", "e1"]
