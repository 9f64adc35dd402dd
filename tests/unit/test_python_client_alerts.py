"""The Python client's alerts, without I/O: the health policy and health on a
job, alerts and events as Python types, the webhook signature, and
`watch_alerts`' resumption against scripted streams."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cronstream import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertState,
    AlertWatch,
    Backoff,
    ExpiredWebhookError,
    HealthPolicy,
    HealthState,
    InvalidArgumentError,
    InvalidWebhookError,
    Job,
    JobHealth,
    JobStats,
    UnauthenticatedError,
    verify_webhook,
)
from cronstream._build import alert_states, health_states, job_message
from cronstream._convert import timestamp
from cronstream.v1 import alert_pb2, insight_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.webhooks import signature
from google.protobuf import json_format

AT = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)

# --- the health policy and the job's health -----------------------------------------


def test_a_health_policy_is_sent_with_only_what_it_sets() -> None:
    policy = HealthPolicy(
        max_start_delay=timedelta(seconds=30), consecutive_failures=1, pause_on_failure=True
    )
    message, paths = job_message({"name": "n", "health_policy": policy})
    assert paths == ["name", "health_policy"]
    sent = message.health_policy
    assert sent.max_start_delay.ToTimedelta() == timedelta(seconds=30)
    assert (sent.consecutive_failures, sent.pause_on_failure) == (1, True)
    assert not sent.HasField("max_duration") and not sent.HasField("alert_on_missed")
    assert Job.from_proto(message).health_policy == policy  # and reads back the same


def test_false_and_zero_are_sent_not_left_to_the_default() -> None:
    message, _ = job_message({"health_policy": HealthPolicy(alert_on_missed=False)})
    assert message.health_policy.HasField("alert_on_missed")
    assert message.health_policy.alert_on_missed is False


def test_the_health_policy_must_be_a_health_policy() -> None:
    with pytest.raises(TypeError, match="HealthPolicy"):
        job_message({"health_policy": {"consecutive_failures": 1}})  # type: ignore[typeddict-item]


def test_a_job_reads_its_health() -> None:
    message = job_pb2.Job(
        health=job_pb2.JobHealth(
            state=job_pb2.HEALTH_STATE_FAILING, since=timestamp(AT), reason="3 failures in a row"
        )
    )
    job = Job.from_proto(message)
    assert job.health == JobHealth(HealthState.FAILING, AT, "3 failures in a row")
    assert job.health.since is not None and job.health.since.tzinfo is UTC
    assert str(job.health.state) == "HealthState.FAILING"
    assert job.health_policy == HealthPolicy()  # all the server's defaults
    assert Job.from_proto(job_pb2.Job()).health is None  # a server without health


def test_job_stats_read_the_health_too() -> None:
    stats = JobStats.from_proto(
        insight_pb2.JobStats(health=job_pb2.JobHealth(state=job_pb2.HEALTH_STATE_HEALTHY))
    )
    assert stats.health == JobHealth(HealthState.HEALTHY, None, "")


def test_health_and_alert_filters_take_names_enums_and_numbers() -> None:
    assert health_states(["failing", HealthState.LATE, 3]) == [
        job_pb2.HEALTH_STATE_FAILING,
        job_pb2.HEALTH_STATE_LATE,
        job_pb2.HEALTH_STATE_MISSED,
    ]
    assert alert_states(["open", "RESOLVED"]) == [
        alert_pb2.ALERT_STATE_OPEN,
        alert_pb2.ALERT_STATE_RESOLVED,
    ]
    with pytest.raises(ValueError, match="late, missed"):
        health_states(["sleepy"])  # type: ignore[list-item]


# --- alerts and events ---------------------------------------------------------------


def alert_message(**fields: Any) -> alert_pb2.Alert:
    message = alert_pb2.Alert(
        id="a1",
        job_id="j1",
        job_name="nightly",
        handler_name="report",
        kind=job_pb2.HEALTH_STATE_FAILING,
        state=alert_pb2.ALERT_STATE_OPEN,
        reason="1 failed attempt in a row",
        execution_id="e1",
        paused_job=True,
        **fields,
    )
    message.opened_at.CopyFrom(timestamp(AT))
    return message


def test_an_alert_reads_as_python_types() -> None:
    alert = Alert.from_proto(alert_message())
    assert (alert.kind, alert.state) == (HealthState.FAILING, AlertState.OPEN)
    assert alert.opened_at == AT and alert.opened_at.tzinfo is UTC
    assert alert.resolved_at is None and alert.scheduled_at is None  # unset, not the epoch
    assert (alert.job_name, alert.execution_id, alert.paused_job) == ("nightly", "e1", True)
    assert "proto" not in repr(alert)


def test_an_event_reads_as_python_types() -> None:
    message = alert_pb2.AlertEvent(
        cursor=7, type=alert_pb2.ALERT_EVENT_TYPE_RESOLVED, alert=alert_message()
    )
    event = AlertEvent.from_proto(message)
    assert (event.cursor, event.type) == (7, AlertEventType.RESOLVED)
    assert f"{event.type}" == "AlertEventType.RESOLVED"
    assert event.alert.id == "a1" and event.proto is message
    assert AlertEventType.of(99) is AlertEventType.UNSPECIFIED  # a newer server's


# --- the webhook signature --------------------------------------------------------------

SECRET = "whsec_test_secret"
NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
T = int(NOW.timestamp())


def webhook_body(event_type: str = "alert.opened", cursor: int = 12) -> bytes:
    """A body as the server writes it: the alert in protobuf's JSON mapping."""
    alert = json_format.MessageToDict(alert_message())
    document = {"type": event_type, "cursor": cursor, "alert": alert}
    return json.dumps(document, separators=(",", ":")).encode()


def header(body: bytes, *, t: int = T, secrets: tuple[str, ...] = (SECRET,)) -> str:
    return ",".join([f"t={t}", *(f"v1={signature(s, t, body)}" for s in secrets)])


def test_a_signed_body_verifies_and_reads_as_an_event() -> None:
    body = webhook_body()
    event = verify_webhook(SECRET, header(body), body, now=NOW)
    assert (event.cursor, event.type) == (12, AlertEventType.OPENED)
    assert (event.alert.kind, event.alert.state) == (HealthState.FAILING, AlertState.OPEN)
    assert event.alert.opened_at == AT and event.alert.paused_job is True


def test_the_signature_is_stripes_scheme() -> None:
    # HMAC-SHA256 over "<t>.<body>", keyed by the whole secret, as hex.
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signature("whsec_k", 1700000000, b'{"a":1}') == expected


def test_any_of_several_v1_entries_may_match() -> None:
    body = webhook_body()
    rotated = header(body, secrets=("whsec_old", SECRET))
    assert verify_webhook(SECRET, rotated, body, now=NOW).cursor == 12
    assert verify_webhook("whsec_old", rotated, body, now=NOW).cursor == 12
    # Unknown schemes and spaces are ignored.
    spaced = f"t={T}, v0=abc, v1={signature(SECRET, T, body)}"
    assert verify_webhook(SECRET, spaced, body, now=NOW).cursor == 12


@pytest.mark.parametrize(
    ("signed_with", "received"),
    [
        ("whsec_other", webhook_body()),  # another secret
        (SECRET, webhook_body(cursor=13)),  # a body changed after signing
    ],
)
def test_a_signature_that_does_not_match_is_refused(signed_with: str, received: bytes) -> None:
    signed = header(webhook_body(), secrets=(signed_with,))
    with pytest.raises(InvalidWebhookError, match="no v1 signature matches"):
        verify_webhook(SECRET, signed, received, now=NOW)


def test_a_timestamp_outside_the_tolerance_is_refused() -> None:
    body = webhook_body()
    old = header(body, t=T - 301)
    with pytest.raises(ExpiredWebhookError, match="301 s from now"):
        verify_webhook(SECRET, old, body, now=NOW)
    assert verify_webhook(SECRET, old, body, now=NOW, tolerance=timedelta(minutes=6))
    with pytest.raises(ExpiredWebhookError):
        verify_webhook(SECRET, header(body, t=T + 301), body, now=NOW)  # far ahead too
    assert verify_webhook(SECRET, header(body, t=T - 300), body, now=NOW)  # the edge holds
    # A stale timestamp is refused before its signature is even looked at.
    assert issubclass(ExpiredWebhookError, InvalidWebhookError)


def test_the_tolerance_is_measured_from_the_current_time_by_default() -> None:
    body = webhook_body()
    assert verify_webhook(SECRET, header(body, t=int(datetime.now(UTC).timestamp())), body)
    with pytest.raises(ExpiredWebhookError):
        verify_webhook(SECRET, header(body), body)  # signed in 2030


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "no Cronstream-Signature header"),
        ("", "no Cronstream-Signature header"),
        ("v1=abc", "exactly one t="),
        (f"t={T},t={T},v1=abc", "exactly one t="),
        ("t=yesterday,v1=abc", "exactly one t="),
        ("t=１２,v1=abc", "exactly one t="),  # non-ASCII digits
        (f"t={T}", "no v1 signature"),
        (f"t={T},v1=", "no v1 signature"),
        (f"t={T},v1=é", "no v1 signature matches"),  # not hex: refused, not a crash
    ],
)
def test_a_malformed_header_is_refused(value: str | None, problem: str) -> None:
    with pytest.raises(InvalidWebhookError, match=problem):
        verify_webhook(SECRET, value, webhook_body(), now=NOW)


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"type":"alert.opened"}', b'{"cursor":1,"alert":{}}']
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhookError, match="not a Cronstream event"):
        verify_webhook(SECRET, header(body), body, now=NOW)


def test_an_unknown_event_type_and_unknown_fields_still_read() -> None:
    document = json.loads(webhook_body("alert.snoozed"))
    document["alert"]["snoozedUntil"] = "2030-01-01T00:00:00Z"
    body = json.dumps(document).encode()
    event = verify_webhook(SECRET, header(body), body, now=NOW)
    assert event.type is AlertEventType.UNSPECIFIED and event.alert.id == "a1"


def test_the_event_may_be_in_protobufs_json_mapping_too() -> None:
    # docs/alerts.md shows an event that way: enum names, the int64 cursor a string.
    document = json.loads(webhook_body())
    document.update(type="ALERT_EVENT_TYPE_RESOLVED", cursor="42")
    body = json.dumps(document).encode()
    event = verify_webhook(SECRET, header(body), body, now=NOW)
    assert (event.type, event.cursor) == (AlertEventType.RESOLVED, 42)


def test_the_body_must_be_the_raw_bytes() -> None:
    text = webhook_body().decode()
    with pytest.raises(TypeError, match="raw request bytes"):
        verify_webhook(SECRET, header(webhook_body()), text, now=NOW)  # type: ignore[arg-type]


# --- watch_alerts' resumption, against scripted streams ------------------------------------


def event(cursor: int, kind: int = alert_pb2.ALERT_EVENT_TYPE_OPENED) -> pb.WatchAlertsResponse:
    return pb.WatchAlertsResponse(
        event=alert_pb2.AlertEvent(cursor=cursor, type=kind, alert=alert_message())  # type: ignore[arg-type]
    )


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class ScriptedCall:
    """A WatchAlerts stream that reads its script, then blocks (or raises what
    the script ends with); `cancel()` is recorded, as grpc's would be."""

    def __init__(self, script: list[Any]) -> None:
        self.script = deque(script)
        self.cancelled = False

    async def read(self) -> Any:
        if not self.script:
            await asyncio.Event().wait()  # a stream with nothing more to say
        step = self.script.popleft()
        if isinstance(step, BaseException):
            raise step
        return step

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class Streams:
    """Opens one scripted stream per connection, recording each cursor asked."""

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = deque(scripts)
        self.cursors: list[int] = []
        self.calls: list[ScriptedCall] = []

    def __call__(self, cursor: int) -> Any:
        self.cursors.append(cursor)
        call = ScriptedCall(self.scripts.popleft() if self.scripts else [])
        self.calls.append(call)
        return call


def watch(streams: Streams, after_cursor: int = 0) -> AlertWatch:
    return AlertWatch(streams, after_cursor=after_cursor, backoff=Backoff(base=0.001, cap=0.002))


async def cursors_of(alerts: AlertWatch, count: int) -> list[int]:
    async with asyncio.timeout(5):
        return [(await anext(alerts)).cursor for _ in range(count)]


async def test_a_broken_stream_resumes_after_the_last_event_returned() -> None:
    streams = Streams(
        [event(1), event(2), rpc_error(grpc.StatusCode.UNAVAILABLE, "connection reset")],
        # The server repeats one (dropped), then ends cleanly: reconnect too.
        [event(2), event(3), grpc.aio.EOF],
        [rpc_error(grpc.StatusCode.INTERNAL, "proxy reset")],  # nothing on this one
        [event(4)],
    )
    alerts = watch(streams)
    assert await cursors_of(alerts, 4) == [1, 2, 3, 4]
    assert streams.cursors == [0, 2, 3, 3]
    assert alerts.cursor == 4
    assert all(call.cancelled for call in streams.calls[:3])


async def test_a_watch_from_now_resumes_from_where_it_started_before_any_event() -> None:
    streams = Streams(
        [pb.WatchAlertsResponse(cursor=7), rpc_error(grpc.StatusCode.UNAVAILABLE, "reset")],
        [event(8)],
    )
    alerts = watch(streams)
    assert await cursors_of(alerts, 1) == [8]
    assert streams.cursors == [0, 7]  # the reconnect resumed after the start, not from now


async def test_it_starts_after_the_cursor_given() -> None:
    streams = Streams([event(41), event(42)])
    assert await cursors_of(watch(streams, after_cursor=40), 2) == [41, 42]
    assert streams.cursors == [40]
    with pytest.raises(ValueError, match="negative"):
        watch(streams, after_cursor=-1)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
    ],
)
async def test_what_reconnecting_cannot_fix_ends_it(code: grpc.StatusCode, kind: type) -> None:
    streams = Streams([event(1), rpc_error(code, "no")])
    alerts = watch(streams)
    assert await cursors_of(alerts, 1) == [1]
    with pytest.raises(kind):
        await anext(alerts)
    with pytest.raises(StopAsyncIteration):
        await anext(alerts)
    assert streams.cursors == [0]


async def test_a_cancelled_read_closes_the_stream_and_the_next_resumes() -> None:
    streams = Streams([event(1)], [event(2)])
    alerts = watch(streams)
    assert await cursors_of(alerts, 1) == [1]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await anext(alerts)  # the first stream has nothing more
    assert await cursors_of(alerts, 1) == [2]
    assert streams.cursors == [0, 1]


async def test_the_backoff_grows_while_streams_fail_and_resets_after_an_event() -> None:
    waits: list[int] = []

    class Recording(Backoff):
        def delay(self, attempt: int, uniform: Any = None) -> float:
            waits.append(attempt)
            return 0.0

    unavailable = rpc_error(grpc.StatusCode.UNAVAILABLE)
    streams = Streams([unavailable], [unavailable], [event(1), unavailable], [event(2)])
    alerts = AlertWatch(streams, backoff=Recording())
    assert await cursors_of(alerts, 2) == [1, 2]
    assert waits == [0, 1, 0]


async def test_closing_ends_the_watch_and_its_stream() -> None:
    streams = Streams([event(1)])
    async with watch(streams) as alerts:
        assert streams.cursors == [0]  # opened on entering, before any read
        assert [e.cursor async for e in _take(alerts, 1)] == [1]
    assert streams.calls[0].cancelled
    assert [e async for e in alerts] == []


async def _take(alerts: AlertWatch, count: int) -> Any:
    async for item in alerts:
        yield item
        count -= 1
        if count == 0:
            return
