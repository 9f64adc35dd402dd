"""Event rules and insight arithmetic, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cronstream.v1 import event_pb2
from cronstream_server.api.convert_events import apply_handler_mask
from cronstream_server.core import events as rules
from cronstream_server.core.enums import (
    ExecutionStatus,
    ExecutionTrigger,
    JobStatus,
    Priority,
)
from cronstream_server.core.errors import FieldViolation, InvalidArgument
from cronstream_server.core.events import Event, EventHandlerSpec
from cronstream_server.core.insight import (
    ComponentHealth,
    HealthStatus,
    nearest_rank,
    overall,
    success_rate,
)
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.triggers import EventTrigger

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def fields_of(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def test_merge_puts_the_event_over_the_listener_shallowly() -> None:
    own = {"a": 1, "nested": {"x": 1, "y": 2}}
    event = {"nested": {"x": 9}, "b": 2}
    assert rules.merge_payload(own, event) == {"a": 1, "nested": {"x": 9}, "b": 2}
    assert rules.merge_payload(None, None) is None
    assert rules.merge_payload(own, None) == own
    assert rules.merge_payload(None, event) == event
    assert rules.merge_payload({}, None) == {}


def test_validate_spec_names_every_bad_field() -> None:
    spec = EventHandlerSpec(
        event_name="",
        handler_name="x" * 201,
        max_retries=101,
        retry_delay=timedelta(0),
        timeout=timedelta(days=400),
    )
    with pytest.raises(InvalidArgument) as caught:
        rules.validate_spec(spec, "event_handler", [])
    assert fields_of(caught.value) == {
        "event_handler.event_name",
        "event_handler.handler_name",
        "event_handler.max_retries",
        "event_handler.retry_delay",
        "event_handler.timeout",
    }
    rules.validate_spec(EventHandlerSpec("e", "h", max_retries=0), "event_handler", [])
    rules.validate_spec(EventHandlerSpec("e", "h", max_retries=100), "event_handler", [])


def test_validate_spec_raises_the_violations_collected_before() -> None:
    earlier = [FieldViolation("event_handler.priority", "7 is not a known value")]
    with pytest.raises(InvalidArgument) as caught:
        rules.validate_spec(EventHandlerSpec("e", "h"), "event_handler", earlier)
    assert fields_of(caught.value) == {"event_handler.priority"}


def test_validate_event() -> None:
    rules.validate_event("order.paid", "", [])
    rules.validate_event("order.paid", "r" * 200, [])
    with pytest.raises(InvalidArgument) as caught:
        rules.validate_event("", "r" * 201, [])
    assert fields_of(caught.value) == {"event_name", "request_id"}
    with pytest.raises(InvalidArgument) as caught:
        rules.validate_event("ok", "tab\there", [])
    assert fields_of(caught.value) == {"request_id"}


def _event_job(payload: dict[str, object] | None) -> Job:
    spec = JobSpec(
        name="j",
        handler_name="job-handler",
        trigger=EventTrigger("order.paid"),
        payload=payload,
        max_retries=7,
        priority=Priority.LOW,
    )
    return Job("job-1", "p1", spec, JobStatus.ACTIVE, "k", NOW, NOW)


def test_deliveries_make_handler_runs_then_job_runs() -> None:
    spec = EventHandlerSpec(
        "order.paid",
        "mailer",
        payload={"template": "paid", "to": "ops"},
        priority=Priority.HIGH,
        max_retries=1,
        retry_delay=timedelta(seconds=5),
        timeout=timedelta(seconds=9),
    )
    handler = rules.new_handler(spec, "p1", NOW - timedelta(days=1))
    event = Event("p1", "order.paid", {"to": "customer"}, "req", NOW)

    made = rules.deliveries(event, [handler], [_event_job({"to": "job", "k": 1})])

    first, second = made
    assert (first.job_id, first.event_handler_id) == (None, handler.id)
    assert first.handler_name == "mailer" and first.priority is Priority.HIGH
    assert (first.max_retries, first.retry_delay, first.timeout) == (
        1,
        timedelta(seconds=5),
        timedelta(seconds=9),
    )
    assert first.payload == {"template": "paid", "to": "customer"}
    assert (second.job_id, second.event_handler_id) == ("job-1", None)
    assert second.handler_name == "job-handler" and second.max_retries == 7
    assert second.payload == {"to": "customer", "k": 1}
    for run in made:
        assert run.trigger is ExecutionTrigger.EVENT
        assert run.status is ExecutionStatus.PENDING
        assert run.scheduled_at == run.due_at == run.created_at == NOW
        assert run.platform_id == "p1" and run.attempt == 1
    assert first.id != second.id


def test_deliveries_without_payloads_carry_none() -> None:
    handler = rules.new_handler(EventHandlerSpec("e", "h"), "p1", NOW)
    event = Event("p1", "e", None, None, NOW)
    (handler_run, job_run) = rules.deliveries(event, [handler], [_event_job(None)])
    assert handler_run.payload is None and job_run.payload is None
    assert rules.deliveries(event, [], []) == []


def test_respec_keeps_identity_and_bumps_updated_at() -> None:
    handler = rules.new_handler(EventHandlerSpec("e", "h"), "p1", NOW)
    later = NOW + timedelta(minutes=1)
    changed = rules.respec(handler, EventHandlerSpec("e", "h", enabled=False), later)
    assert (changed.id, changed.created_at, changed.updated_at) == (handler.id, NOW, later)
    assert changed.spec.enabled is False


def test_handler_mask_takes_defaults_for_absent_masked_fields() -> None:
    handler = rules.new_handler(
        EventHandlerSpec("e", "h", enabled=False, max_retries=9, payload={"a": 1}), "p1", NOW
    )
    spec = apply_handler_mask(
        handler, event_pb2.EventHandler(), ["enabled", "max_retries", "payload"], 1024
    )
    assert (spec.enabled, spec.max_retries, spec.payload) == (True, 3, None)
    assert (spec.event_name, spec.handler_name) == ("e", "h")
    every = apply_handler_mask(
        handler, event_pb2.EventHandler(event_name="f", handler_name="g"), ["*"], 1024
    )
    assert every == EventHandlerSpec("f", "g")
    with pytest.raises(InvalidArgument) as caught:
        apply_handler_mask(handler, event_pb2.EventHandler(), ["*", "enabled", "nope"], 1024)
    assert fields_of(caught.value) == {"update_mask.paths"}
    with pytest.raises(InvalidArgument) as caught:
        apply_handler_mask(handler, event_pb2.EventHandler(), ["enabled", "nope"], 1024)
    assert fields_of(caught.value) == {"update_mask.paths[1]"}


@pytest.mark.parametrize(
    ("values", "percentile", "expected"),
    [
        ([], 95, None),
        ([7], 95, 7),
        ([3, 1, 2], 50, 2),
        (list(range(1, 21)), 95, 19),  # rank ceil(19.0) = 19
        (list(range(1, 22)), 95, 20),  # rank ceil(19.95) = 20
        (list(range(1, 101)), 95, 95),
        ([5, 5, 5, 100], 95, 100),
        ([10, 20], 0, 10),
        ([10, 20], 100, 20),
    ],
)
def test_nearest_rank(values: list[int], percentile: float, expected: int | None) -> None:
    assert nearest_rank(values, percentile) == expected


def test_success_rate_counts_only_finished_runs() -> None:
    assert success_rate({}) == 0.0
    assert success_rate({ExecutionStatus.PENDING: 4, ExecutionStatus.CANCELLED: 2}) == 0.0
    assert (
        success_rate(
            {
                ExecutionStatus.SUCCESS: 3,
                ExecutionStatus.FAILED: 1,
                ExecutionStatus.TIMEOUT: 0,
                ExecutionStatus.SKIPPED: 5,
                ExecutionStatus.RUNNING: 5,
            }
        )
        == 0.75
    )
    assert success_rate({ExecutionStatus.TIMEOUT: 2}) == 0.0


def test_overall_health_is_the_worst_component() -> None:
    serving = ComponentHealth("a", HealthStatus.SERVING)
    degraded = ComponentHealth("b", HealthStatus.DEGRADED, "polling")
    down = ComponentHealth("c", HealthStatus.NOT_SERVING, "gone")
    assert overall([serving, serving]) is HealthStatus.SERVING
    assert overall([serving, degraded]) is HealthStatus.DEGRADED
    assert overall([down, degraded, serving]) is HealthStatus.NOT_SERVING
    assert overall([]) is HealthStatus.SERVING
