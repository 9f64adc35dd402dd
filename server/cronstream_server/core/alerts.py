"""Alerts as data: what is opened, what is stored, and the public JSON form
that WatchAlerts' events and webhooks carry (docs/alerts.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cronstream_server.core.enums import AlertState, HealthState
from cronstream_server.core.values import value_type


@value_type
class Opening:
    """An alert to open, unless the job has one of that kind open already."""

    platform_id: str
    job_id: str
    job_name: str
    handler_name: str
    kind: HealthState
    reason: str
    execution_id: str | None = None
    scheduled_at: datetime | None = None
    paused_job: bool = False


@value_type
class Alert:
    id: str
    platform_id: str
    job_id: str
    job_name: str
    handler_name: str
    kind: HealthState
    state: AlertState
    opened_at: datetime
    reason: str
    resolved_at: datetime | None = None
    execution_id: str | None = None
    scheduled_at: datetime | None = None
    paused_job: bool = False

    @property
    def created_at(self) -> datetime:
        """Lists page on (opened_at, id), as other lists on (created_at, id)."""
        return self.opened_at


@value_type
class AlertFilter:
    """ListAlerts' filters; they combine with AND."""

    job_id: str | None = None
    kinds: tuple[HealthState, ...] = ()
    states: tuple[AlertState, ...] = ()


class AlertEventType:
    OPENED = "opened"
    RESOLVED = "resolved"


@value_type
class AlertEvent:
    cursor: int
    type: str  # AlertEventType
    alert: Alert


@value_type
class Checked:
    """One check of the clock-decided alerts (LATE, OVERRUNNING, MISSED's
    resolution): the events it recorded, and whether the next check may
    find anything (some platform or job sets a LATE or OVERRUNNING limit,
    or such an alert, or a MISSED one, is open). When not, nothing can
    change until someone sets a limit or a tick opens a MISSED alert."""

    events: list[AlertEvent]
    watching: bool


def public_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON, in the protobuf JSON mapping of cronstream.v1.Alert
    (camelCase names, enum names, RFC 3339 times, absent fields left out), so
    a stored event, a webhook body and a gRPC client all see the same."""
    found: dict[str, Any] = {
        "id": alert.id,
        "platformId": alert.platform_id,
        "jobId": alert.job_id,
        "jobName": alert.job_name,
        "handlerName": alert.handler_name,
        "kind": f"HEALTH_STATE_{alert.kind.name}",
        "state": f"ALERT_STATE_{alert.state.name}",
        "openedAt": _rfc3339(alert.opened_at),
        "reason": alert.reason,
    }
    if alert.resolved_at is not None:
        found["resolvedAt"] = _rfc3339(alert.resolved_at)
    if alert.execution_id:
        found["executionId"] = alert.execution_id
    if alert.scheduled_at is not None:
        found["scheduledAt"] = _rfc3339(alert.scheduled_at)
    if alert.paused_job:
        found["pausedJob"] = True
    return found


def from_public_json(data: dict[str, Any]) -> Alert:
    return Alert(
        id=data["id"],
        platform_id=data["platformId"],
        job_id=data["jobId"],
        job_name=data["jobName"],
        handler_name=data["handlerName"],
        kind=HealthState[data["kind"].removeprefix("HEALTH_STATE_")],
        state=AlertState[data["state"].removeprefix("ALERT_STATE_")],
        opened_at=_parse(data["openedAt"]),
        reason=data["reason"],
        resolved_at=_parse(data["resolvedAt"]) if "resolvedAt" in data else None,
        execution_id=data.get("executionId"),
        scheduled_at=_parse(data["scheduledAt"]) if "scheduledAt" in data else None,
        paused_job=bool(data.get("pausedJob", False)),
    )


def _rfc3339(value: datetime) -> str:
    """As protobuf's JSON mapping writes a Timestamp: UTC, Z, 0/3/6 digits."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        micros = f"{value.microsecond:06d}"
        text += "." + (micros[:3] if micros.endswith("000") else micros)
    return text + "Z"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
