"""The dashboard in Firefox: test_dashboard.py's two journeys (a wrong key shows
the server's message; create a job, watch its first execution appear without a
reload, read its logs, pause it and see it paused through the gRPC API) in
Debian's firefox-esr, headless. Playwright's Firefox needs Playwright's own
patched build, so dashboard/e2e/firefox.mjs drives the stock one with Puppeteer
over WebDriver BiDi, and prints what it saw as one JSON line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cronstream import JobStatus

from tests.e2e.dashboard_server import (
    HANDLER,
    LOG_LINE,
    Dashboard,
    require_browser,
    serving_dashboard,
)

FIREFOX = Path("/usr/bin/firefox-esr")
DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
SCRIPT = DASHBOARD / "e2e" / "firefox.mjs"
# The script's own bound on a run, and ours a little above it, so a stuck
# Firefox is closed by the script (which knows its step) before we kill it.
DEADLINE_S = 50
WAIT_MS = 15_000


@pytest.fixture
def firefox() -> Path:
    path = require_browser(FIREFOX)
    if not (DASHBOARD / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("dashboard/node_modules lacks puppeteer-core: run `make dashboard`")
    if shutil.which("node") is None:
        pytest.fail("node is missing: the Firefox test runs dashboard/e2e/firefox.mjs")
    return path


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A throwaway Firefox profile, gone with the test's tmp_path."""
    path = tmp_path / "firefox-profile"
    path.mkdir()
    return path


@pytest.fixture
async def dashboard(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with serving_dashboard(sqlite_template, tmp_path) as served:
        yield served


async def drive(firefox: Path, profile: Path, key: str, *args: str) -> dict[str, Any]:
    """Runs the script without blocking this loop (the server lives in it)."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        f"--firefox={firefox}",
        f"--profile={profile}",
        f"--wait-ms={WAIT_MS}",
        f"--deadline-ms={DEADLINE_S * 1000}",
        *args,
        cwd=DASHBOARD,
        env={**os.environ, "CRONSTREAM_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), DEADLINE_S + 10)
    except TimeoutError:
        # SIGTERM: Puppeteer closes its Firefox on it, which SIGKILL would orphan.
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        raise AssertionError("firefox.mjs outlived its own deadline") from None
    assert process.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out.decode())
    assert seen["browser"].startswith("firefox/"), seen
    return seen


async def test_a_wrong_key_shows_the_servers_message(
    dashboard: Dashboard, firefox: Path, profile: Path
) -> None:
    expected = ["Could not sign in", "Unauthenticated", "unknown or revoked API key"]
    flags = [f"--expect-alert={text}" for text in expected]
    seen = await drive(
        firefox,
        profile,
        "cs_not_a_key",
        "--scenario=wrong-key",
        f"--url={dashboard.url}",
        *flags,
    )
    assert seen["alert"].startswith("Could not sign in (Unauthenticated)"), seen
    assert "unknown or revoked API key" in seen["alert"]
    assert seen["sessionStorageLength"] == 0
    assert "cs_not_a_key" not in seen["url"]


async def test_create_a_job_watch_it_run_read_its_logs_and_pause_it(
    dashboard: Dashboard, firefox: Path, profile: Path
) -> None:
    job = {
        "name": "every two seconds",
        "handler": HANDLER,
        "cron": "*/2 * * * * *",
        "timezone": "Europe/Berlin",
        "payload": {"who": "the browser"},
    }
    seen = await drive(
        firefox,
        profile,
        dashboard.tenant.secret,
        "--scenario=job-lifecycle",
        f"--url={dashboard.url}",
        f"--job={json.dumps(job)}",
        "--expect-spec=Every 2 seconds, Europe/Berlin",
        f"--expect-log={LOG_LINE}",
        '--expect-result="greeted": "the browser"',
    )
    assert dashboard.tenant.secret not in seen["urlAfterSignIn"]
    assert "Every 2 seconds, Europe/Berlin" in seen["spec"]
    assert seen["notReloaded"] is True
    assert LOG_LINE in seen["logs"]
    assert '"greeted": "the browser"' in seen["result"]
    assert "Paused" in seen["pausedSpec"]
    job_id = seen["jobId"]
    created = await dashboard.client.get_job(job_id)
    assert created.name == "every two seconds"
    assert created.status == JobStatus.PAUSED
    assert created.success_count >= 1
