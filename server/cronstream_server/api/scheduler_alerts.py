"""SchedulerService: the alert RPCs (docs/alerts.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cronstream.v1 import alert_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import (
    HEALTH_STATE,
    Reader,
    health_policy,
    health_policy_message,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.core.alerts import Alert, AlertEvent, AlertEventType, AlertFilter
from cronstream_server.core.enums import AlertState, HealthState
from cronstream_server.core.health import check_policy
from cronstream_server.core.paging import fingerprint, next_page_token, page_request
from cronstream_server.core.validation import raise_if_any

ALERT_STATE = {
    AlertState.OPEN: alert_pb2.ALERT_STATE_OPEN,
    AlertState.RESOLVED: alert_pb2.ALERT_STATE_RESOLVED,
}
EVENT_TYPE = {
    AlertEventType.OPENED: alert_pb2.ALERT_EVENT_TYPE_OPENED,
    AlertEventType.RESOLVED: alert_pb2.ALERT_EVENT_TYPE_RESOLVED,
}
ALERT_KINDS: dict[HealthState, int] = {
    kind: n for kind, n in HEALTH_STATE.items() if kind is not HealthState.HEALTHY
}
# How often an open WatchAlerts looks for new events, and how many it reads at once.
WATCH_POLL_SECONDS = 0.25
WATCH_BATCH = 100


def alert_message(alert: Alert) -> alert_pb2.Alert:
    message = alert_pb2.Alert(
        id=alert.id,
        platform_id=alert.platform_id,
        job_id=alert.job_id,
        job_name=alert.job_name,
        handler_name=alert.handler_name,
        kind=HEALTH_STATE[alert.kind],
        state=ALERT_STATE[alert.state],
        reason=alert.reason,
        execution_id=alert.execution_id or "",
        paused_job=alert.paused_job,
    )
    message.opened_at.FromDatetime(alert.opened_at)
    if alert.resolved_at is not None:
        message.resolved_at.FromDatetime(alert.resolved_at)
    if alert.scheduled_at is not None:
        message.scheduled_at.FromDatetime(alert.scheduled_at)
    return message


def event_message(event: AlertEvent) -> alert_pb2.AlertEvent:
    return alert_pb2.AlertEvent(
        cursor=event.cursor, type=EVENT_TYPE[event.type], alert=alert_message(event.alert)
    )


class AlertRpcs:
    deps: SchedulerDeps

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Context
    ) -> pb.ListAlertsResponse:
        platform_id = current_platform().platform_id
        reader = Reader()
        where = AlertFilter(
            job_id=request.job_id or None,
            kinds=reader.enums("kinds", request.kinds, ALERT_KINDS),
            states=reader.enums("states", request.states, ALERT_STATE),
        )
        raise_if_any(reader.violations)
        if request.job_id:
            await self.deps.jobs.get_job(platform_id, request.job_id)  # NOT_FOUND if not ours
        scope = fingerprint("alerts", platform_id, where)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.alerts.list_alerts(platform_id, where, page)
        fitted = fit_page(
            found,
            alert_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListAlertsResponse(
            alerts=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Context
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        platform_id = current_platform().platform_id
        reader = Reader()
        if request.after_cursor < 0:
            reader.bad("after_cursor", "must not be negative")
        raise_if_any(reader.violations)
        cursor = request.after_cursor
        if not cursor:  # from now: say where now is, so a reconnect can resume from it
            cursor = await self.deps.alerts.last_cursor(platform_id)
            yield pb.WatchAlertsResponse(cursor=cursor)
        while True:
            events = await self.deps.alerts.events_after(platform_id, cursor, WATCH_BATCH)
            for event in events:
                yield pb.WatchAlertsResponse(event=event_message(event), cursor=event.cursor)
                cursor = event.cursor
            if len(events) < WATCH_BATCH:
                await asyncio.sleep(WATCH_POLL_SECONDS)

    async def GetHealthDefaults(
        self, request: pb.GetHealthDefaultsRequest, context: Context
    ) -> pb.GetHealthDefaultsResponse:
        policy = await self.deps.alerts.health_defaults(current_platform().platform_id)
        return pb.GetHealthDefaultsResponse(policy=health_policy_message(policy))

    async def SetHealthDefaults(
        self, request: pb.SetHealthDefaultsRequest, context: Context
    ) -> pb.SetHealthDefaultsResponse:
        reader = Reader()
        policy = health_policy(reader, request.policy, "policy")
        check_policy(reader.violations, "policy", policy)
        raise_if_any(reader.violations)
        stored = await self.deps.alerts.set_health_defaults(current_platform().platform_id, policy)
        return pb.SetHealthDefaultsResponse(policy=health_policy_message(stored))
