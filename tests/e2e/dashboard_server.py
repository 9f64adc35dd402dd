"""What the dashboard's browser tests share, whatever the browser: a real
server with its HTTP port on a fresh SQLite copy, a platform, and a real worker
whose handler logs one line and greets the payload's `who`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cronstream import Client, Context, Worker
from cronstream_server.config import Settings

from tests import databases
from tests.conftest import ADMIN_KEY, Tenant, make_tenant, serving_live

HANDLER = "dashboard.hello"
LOG_LINE = "hello from the worker"


@dataclass(frozen=True)
class Dashboard:
    url: str
    tenant: Tenant
    client: Client


def require_browser(executable: Path) -> Path:
    """The browser's path; the test fails when it is missing under `make test`
    (CRONSTREAM_REQUIRE_SERVICES=1) and is skipped otherwise."""
    if not executable.exists():
        if os.environ.get("CRONSTREAM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{executable} is missing: run `scripts/services.sh install`")
        pytest.skip(f"{executable} is missing (scripts/services.sh install installs it)")
    return executable


@contextlib.asynccontextmanager
async def serving_dashboard(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Dashboard]:
    """The server (in this event loop, so a browser must be driven without
    blocking it) and a worker for HANDLER, both stopped on exit."""
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=databases.sqlite_copy(sqlite_template, tmp_path),
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
        http_listen="127.0.0.1:0",
    )
    async with serving_live(settings) as live:
        tenant = await make_tenant(live, "acme")
        worker = Worker(api_key=tenant.secret, target=live.address, slots=4, grace_period=2.0)

        @worker.handler(HANDLER)
        async def hello(ctx: Context[dict[str, object]]) -> dict[str, object]:
            await ctx.log(LOG_LINE)
            return {"greeted": ctx.payload.get("who", "nobody")}

        running = asyncio.create_task(worker.run())
        client = Client(live.channel, tenant.secret)
        try:
            yield Dashboard(f"http://127.0.0.1:{live.running.http_port}", tenant, client)
        finally:
            running.cancel()
            with contextlib.suppress(BaseException):
                await running
