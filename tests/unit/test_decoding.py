"""Requests that do not decode, and JSON values nested too deep: each is named.

A JSON value one level past the limit still decodes in some places (then
`Reader.struct` refuses it) and not in others (then `api.decoding` does): the
caller hears the same either way.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api import decoding
from cronstream_server.api.convert import Reader
from cronstream_server.api.decoding import Undecodable, request_deserializer
from cronstream_server.api.errors import to_status
from cronstream_server.api.nesting import MAX_JSON_DEPTH, TOO_DEEP, json_depth
from cronstream_server.api.worker import parse_hello, salvage_results
from cronstream_server.core.errors import FieldViolation, InvalidArgument
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nested import (
    json_places,
    length_delimited,
    nested,
    nested_lists,
    request_type,
    with_value,
)

SCHEDULER = "/cronstream.v1.SchedulerService/"
CONNECT = "/cronstream.v1.WorkerService/Connect"

# Every place a request holds a JSON value (checked against the contract below).
PLACES = [
    (f"{SCHEDULER}CreateJob", "job.payload"),
    (f"{SCHEDULER}BatchCreateJobs", "requests[3].job.payload"),
    (f"{SCHEDULER}UpdateJob", "job.payload"),
    (f"{SCHEDULER}PreviewSchedule", "job.payload"),
    (f"{SCHEDULER}CreateEventHandler", "event_handler.payload"),
    (f"{SCHEDULER}UpdateEventHandler", "event_handler.payload"),
    (f"{SCHEDULER}TriggerEvent", "payload"),
    (CONNECT, "result.success.result"),
    (CONNECT, "results.results[2].success.result"),
]
IDS = [f"{method.rsplit('/', 1)[1]}:{path}" for method, path in PLACES]


def _decode(method: str, data: bytes) -> Any:
    decode = request_deserializer(method, request_type(method).FromString)
    assert decode is not None
    return decode(data)


def _encoded(method: str, path: str, value: struct_pb2.Struct) -> bytes:
    return with_value(request_type(method)(), path, value).SerializeToString()


def _refusals(method: str, path: str, value: struct_pb2.Struct) -> dict[str, str]:
    """What the server says of `value` at `path`: at decoding, or where the
    handler reads it."""
    decoded = _decode(method, _encoded(method, path, value))
    if isinstance(decoded, Undecodable):
        return {v.field: v.description for v in decoded.violations}
    reader = Reader()
    reader.struct(path, _value_at(decoded, path), max_bytes=1 << 20)
    return {v.field: v.description for v in reader.violations}


def _value_at(request: Any, path: str) -> Any:
    for segment in path.split("."):
        name, _, index = segment.partition("[")
        request = getattr(request, name)
        if index:
            request = request[int(index.rstrip("]"))]
    return request


def test_every_json_place_of_every_request_is_covered() -> None:
    contract = {
        (method, place)
        for method in decoding._INPUT_TYPES
        for place in json_places(request_type(method).DESCRIPTOR)
    }
    assert contract == {(method, re.sub(r"\[\d+\]", "[0]", path)) for method, path in PLACES}


@pytest.mark.parametrize(("method", "path"), PLACES, ids=IDS)
@pytest.mark.parametrize("shape", [nested, nested_lists])
def test_a_value_at_the_limit_decodes_and_is_accepted_everywhere(
    method: str, path: str, shape: Any
) -> None:
    value = shape(MAX_JSON_DEPTH)
    assert json_depth(json_format.MessageToDict(value)) == MAX_JSON_DEPTH
    assert not isinstance(_decode(method, _encoded(method, path, value)), Undecodable)
    assert _refusals(method, path, value) == {}


@pytest.mark.parametrize(("method", "path"), PLACES, ids=IDS)
@pytest.mark.parametrize(
    "value",
    [nested(MAX_JSON_DEPTH + 1), nested_lists(MAX_JSON_DEPTH + 1), nested(40), nested(200)],
    ids=["33", "33-lists", "40", "200"],
)
def test_a_value_past_the_limit_is_refused_with_its_path(
    method: str, path: str, value: struct_pb2.Struct
) -> None:
    assert _refusals(method, path, value) == {path: TOO_DEEP}


def test_past_a_few_levels_more_nothing_decodes() -> None:
    """Where the limit is met by the decoder itself, not by Reader.struct."""
    for method, path in PLACES:
        decoded = _decode(method, _encoded(method, path, nested(MAX_JSON_DEPTH + 2)))
        assert isinstance(decoded, Undecodable), path
        assert decoded.partial is not None


def test_only_the_deep_one_of_several_values_is_named() -> None:
    request = request_type(f"{SCHEDULER}BatchCreateJobs")()
    for index in range(5):
        with_value(request, f"requests[{index}].job.payload", nested(3 if index != 3 else 40))
    decoded = _decode(f"{SCHEDULER}BatchCreateJobs", request.SerializeToString())
    assert isinstance(decoded, Undecodable)
    assert decoded.violations == (FieldViolation("requests[3].job.payload", TOO_DEEP),)


def test_garbage_names_the_request_as_a_whole() -> None:
    decoded = _decode(f"{SCHEDULER}CreateJob", bytes.fromhex("0affffffff0f"))
    assert isinstance(decoded, Undecodable) and decoded.partial is None
    assert decoded.violations == (
        FieldViolation("", "is not a valid cronstream.v1.CreateJobRequest"),
    )
    status = to_status(decoded.error())
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.details == "invalid request: is not a valid cronstream.v1.CreateJobRequest"


def test_a_malformed_json_value_is_named() -> None:
    # job (1) holding payload (5) whose bytes are no Struct: a map entry cut short.
    data = length_delimited(1, length_delimited(5, length_delimited(1, b"abc")))
    decoded = _decode(f"{SCHEDULER}CreateJob", data)
    assert isinstance(decoded, Undecodable)
    assert decoded.violations == (
        FieldViolation("job.payload", "is not a valid google.protobuf.Struct"),
    )


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(sorted(decoding._INPUT_TYPES)), st.binary(max_size=64))
def test_no_bytes_make_a_deserializer_raise(method: str, data: bytes) -> None:
    decoded = _decode(method, data)
    assert isinstance(decoded, Undecodable | request_type(method))


def test_methods_of_other_services_keep_their_deserializer() -> None:
    original = struct_pb2.Struct.FromString
    assert request_deserializer("/grpc.health.v1.Health/Check", original) is original


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("x", 0), ({}, 1), ([], 1), ({"a": 1}, 1), ({"a": [1]}, 2), ([[{"b": {}}]], 4)],
)
def test_json_depth_counts_objects_and_lists(value: Any, depth: int) -> None:
    assert json_depth(value) == depth


# --- the worker stream's results ------------------------------------------------


def _results(*values: struct_pb2.Struct | None) -> Any:
    """A `results` batch: a success per value, a failure for None; decoded."""
    request = wpb.ConnectRequest()
    for index, value in enumerate(values):
        item = request.results.results.add(execution_id=f"e{index}", attempt=1)
        if value is None:
            item.failure.error = "boom"
        else:
            item.success.result.CopyFrom(value)
    return _decode(CONNECT, request.SerializeToString())


def test_a_deep_result_in_a_batch_is_a_final_failure_and_the_rest_apply() -> None:
    decoded = _results(nested(2), nested(40), None)
    assert isinstance(decoded, Undecodable)
    salvaged = salvage_results(decoded, "p", max_bytes=1 << 20)
    reports = [report for report, _ in salvaged]
    assert [(r.execution_id, r.succeeded, r.retryable) for r in reports] == [
        ("e0", True, True),
        ("e1", False, False),
        ("e2", False, True),
    ]
    assert reports[0].result == {"a": {"a": 1}}
    assert reports[1].error == f"result rejected: results.results[1].success.result {TOO_DEEP}"
    sizes = [size for _, size in salvaged]
    assert sizes == [item.ByteSize() for item in decoded.partial.results.results]  # type: ignore[union-attr]


def test_a_deep_single_result_is_a_final_failure() -> None:
    request = wpb.ConnectRequest()
    request.result.execution_id, request.result.attempt = "e", 2
    request.result.success.result.CopyFrom(nested(40))
    decoded = _decode(CONNECT, request.SerializeToString())
    [(report, _)] = salvage_results(decoded, "p", max_bytes=1 << 20)
    assert (report.execution_id, report.attempt, report.succeeded) == ("e", 2, False)
    assert report.error == f"result rejected: result.success.result {TOO_DEEP}"


def test_a_deep_result_without_its_execution_is_refused() -> None:
    request = wpb.ConnectRequest()
    request.result.attempt = 1
    request.result.success.result.CopyFrom(nested(40))
    decoded = _decode(CONNECT, request.SerializeToString())
    with pytest.raises(InvalidArgument) as refused:
        salvage_results(decoded, "p", max_bytes=1 << 20)
    assert [v.field for v in refused.value.violations] == ["result.execution_id"]


def test_other_undecodable_worker_messages_are_refused() -> None:
    garbage = _decode(CONNECT, bytes.fromhex("0affffffff0f"))
    with pytest.raises(InvalidArgument):
        salvage_results(garbage, "p", max_bytes=1 << 20)
    with pytest.raises(InvalidArgument):
        parse_hello(garbage)
    first = _results(nested(40))
    with pytest.raises(InvalidArgument) as refused:
        parse_hello(first)  # a result first: still no hello
    assert refused.value.violations[0].description == TOO_DEEP
