"""The dashboard in a real browser (Debian's chromium, headless, driven by
Playwright) against a real server with its HTTP port and a real worker: sign
in, create a job through the form, watch its first execution appear without a
reload, read its logs, pause it and see it paused through the gRPC API; a wrong
key shows the server's message. Another test visits every page and saves a
screenshot of each for docs/dashboard.md."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cronstream import Client, JobStatus
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ADMIN_KEY
from tests.e2e.dashboard_server import (
    HANDLER,
    LOG_LINE,
    Dashboard,
    require_browser,
    serving_dashboard,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard"
# Page waits: a poll is every 2 s and the job fires every 2 s.
WAIT_MS = 15_000


@pytest.fixture
def chromium() -> Path:
    return require_browser(CHROMIUM)


@pytest.fixture
async def dashboard(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with serving_dashboard(sqlite_template, tmp_path) as served:
        yield served


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    # A viewer zone unlike the jobs' own, so both columns of times show.
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="America/New_York"
    )
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        await context.close()


async def sign_in(page: Page, url: str, key: str) -> None:
    await page.goto(url)
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_wrong_key_shows_the_servers_message(dashboard: Dashboard, page: Page) -> None:
    await sign_in(page, dashboard.url, "cs_not_a_key")
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("Could not sign in")
    await expect(error).to_contain_text("Unauthenticated")
    await expect(error).to_contain_text("unknown or revoked API key")
    assert await page.evaluate("sessionStorage.length") == 0
    assert "cs_not_a_key" not in page.url


async def test_create_a_job_watch_it_run_read_its_logs_and_pause_it(
    dashboard: Dashboard, page: Page
) -> None:
    await sign_in(page, dashboard.url, dashboard.tenant.secret)
    await expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    assert dashboard.tenant.secret not in page.url

    await page.get_by_role("link", name="New job").click()
    await page.get_by_label("Name").fill("every two seconds")
    await page.get_by_label("Handler").fill(HANDLER)
    await page.get_by_label("Cron expression").fill("*/2 * * * * *")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_label("Payload (JSON)").fill('{"who": "the browser"}')
    await page.get_by_role("button", name="Create job").click()

    await expect(page.get_by_role("heading", name="every two seconds")).to_be_visible()
    await expect(page.locator("dl.spec")).to_contain_text("Every 2 seconds, Europe/Berlin")
    job_id = page.url.rsplit("/", 1)[1]
    # A mark that a reload would wipe: the execution must come by polling.
    await page.evaluate("window.__notReloaded = true")
    executions = page.get_by_role("table", name="Executions")
    await expect(executions.get_by_text("Success").first).to_be_visible()
    assert await page.evaluate("window.__notReloaded === true")

    await executions.get_by_role("link").last.click()
    await expect(page.get_by_role("heading", name="Execution")).to_be_visible()
    await expect(page.get_by_role("table", name="Logs")).to_contain_text(LOG_LINE)
    await expect(page.get_by_label("Result")).to_contain_text('"greeted": "the browser"')

    await page.get_by_role("link", name="← Job").click()
    await page.get_by_role("button", name="Pause", exact=True).click()
    await expect(page.locator("dl.spec")).to_contain_text("Paused")
    job = await dashboard.client.get_job(job_id)
    assert job.status == JobStatus.PAUSED


async def _seed(client: Client) -> str:
    """A few jobs of each kind, one run to the end; returns the cron job's id."""
    cron = await client.create_job(
        name="nightly report",
        handler=HANDLER,
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        payload={"who": "the nightly report"},
        tags=["reports"],
    )
    await client.create_job(name="heartbeat", handler=HANDLER, every=timedelta(minutes=5))
    await client.create_job(name="on signup", handler=HANDLER, event="user.signup")
    await client.run_job(cron.id)
    # The jobs page reads once: let the run end first, so its outcome shows.
    for _ in range(WAIT_MS // 100):
        if (await client.get_job(cron.id)).success_count >= 1:
            return cron.id
        await asyncio.sleep(0.1)
    raise AssertionError("the seeded run did not succeed in time")


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_every_page_renders_and_is_photographed(dashboard: Dashboard, page: Page) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    job_id = await _seed(dashboard.client)
    await page.goto(dashboard.url)
    await expect(page.get_by_role("heading", name="Sign in to Cronstream")).to_be_visible()
    await _shot(page, "signin")
    await sign_in(page, dashboard.url, dashboard.tenant.secret)

    jobs = page.get_by_role("table", name="Jobs")
    await expect(jobs).to_contain_text("At 02:30, Europe/Berlin")
    await expect(jobs).to_contain_text("Every 5 min")
    await expect(jobs.get_by_role("link", name="Success")).to_be_visible()
    await _shot(page, "jobs")

    await page.get_by_role("link", name="nightly report").click()
    await expect(page.get_by_role("table", name="Next runs").get_by_role("row")).to_have_count(21)
    await expect(page.get_by_role("table", name="Executions")).to_contain_text("Success")
    await _shot(page, "job")

    await page.get_by_role("table", name="Executions").get_by_role("link").first.click()
    await expect(page.get_by_role("table", name="Logs")).to_contain_text(LOG_LINE)
    await _shot(page, "execution")

    await page.goto(f"{dashboard.url}/#/jobs/new")
    await expect(page.get_by_role("heading", name="New job")).to_be_visible()
    await expect(page.locator(".preview li")).to_have_count(5)
    await _shot(page, "new-job")

    await page.get_by_role("link", name="Workers").click()
    await expect(page.get_by_role("table", name=f"Workers of {HANDLER}")).to_contain_text("/ 4")
    await _shot(page, "workers")

    await page.get_by_role("link", name="Alerts").click()
    await expect(page.get_by_role("heading", name="Webhook deliveries")).to_be_visible()
    await _shot(page, "alerts")
    assert job_id
    for name in ("signin", "jobs", "job", "execution", "new-job", "workers", "alerts"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, name


async def test_the_admin_key_picks_a_platform_and_sees_its_jobs(
    dashboard: Dashboard, page: Page
) -> None:
    await dashboard.client.create_job(name="acme's own", handler=HANDLER, event="acme.ping")
    await sign_in(page, dashboard.url, ADMIN_KEY)
    await page.get_by_label("Platform").select_option(label="acme")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text("Admin key, as acme")).to_be_visible()
    await expect(page.get_by_role("table", name="Jobs")).to_contain_text("acme's own")
    assert ADMIN_KEY not in page.url
