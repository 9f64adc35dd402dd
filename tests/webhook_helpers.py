"""For the webhook tests: a real HTTP receiver on 127.0.0.1 (asyncio streams,
HTTP/1.1 enough for one request per connection), and alert events written
as the alert store writes them (an alert row, then its event row)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronstream_server.core.alerts import Alert, public_json
from cronstream_server.core.enums import AlertState, HealthState
from cronstream_server.core.ids import new_id
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import alert_events, alerts
from sqlalchemy.ext.asyncio import AsyncEngine

REASONS = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each request with the next of `codes`, then with `then`."""

    codes: list[int] = field(default_factory=list)
    then: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(request_line.split()[1], headers, body))
            code = self.codes.pop(0) if self.codes else self.then
            answer = f"failure {code}".encode() if code >= 300 else b"ok"
            # A redirect points where a webhook must never be sent.
            location = "Location: http://169.254.169.254/\r\n" if 300 <= code < 400 else ""
            writer.write(
                f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\n{location}"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def receiving(
    codes: list[int] | None = None, then: int = 200, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    receiver = Receiver(list(codes or []), then)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=tls)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


async def add_alert_event(
    database: str | AsyncEngine,
    platform_id: str,
    job_id: str,
    event_type: str,
    alert_id: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Opens (or resolves, for `event_type` "resolved") a FAILING alert of
    the job with its event; the event's cursor and the alert's JSON. FAILING:
    the alert watch leaves it alone (only a success resolves it), where it
    would resolve a LATE one that no firing holds up."""
    now = datetime.now(UTC)
    alert = Alert(
        id=alert_id or new_id(),
        platform_id=platform_id,
        job_id=job_id,
        job_name="webhook test",
        handler_name="h",
        kind=HealthState.FAILING,
        state=AlertState.RESOLVED if event_type == "resolved" else AlertState.OPEN,
        opened_at=now,
        reason="failing for the test",
        resolved_at=now if event_type == "resolved" else None,
    )
    document = public_json(alert)
    engine = create_engine(database) if isinstance(database, str) else database
    try:
        async with engine.begin() as conn:
            if alert_id is None:
                await conn.execute(alerts.insert().values(_alert_row(alert)))
            else:
                await conn.execute(
                    alerts.update()
                    .where(alerts.c.id == alert_id)
                    .values(state=alert.state.value, resolved_at=alert.resolved_at)
                )
            inserted = await conn.execute(
                alert_events.insert()
                .values(
                    platform_id=platform_id,
                    alert_id=alert.id,
                    type=event_type,
                    at=now,
                    alert=document,
                )
                .returning(alert_events.c.cursor)
            )
            cursor = int(inserted.scalar_one())
    finally:
        if isinstance(database, str):
            await engine.dispose()
    return cursor, document


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "platform_id": alert.platform_id,
        "job_id": alert.job_id,
        "job_name": alert.job_name,
        "handler_name": alert.handler_name,
        "kind": alert.kind.value,
        "state": alert.state.value,
        "opened_at": alert.opened_at,
        "reason": alert.reason,
    }
