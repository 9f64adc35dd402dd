"""`cronstream`'s client commands as a user runs them: the real console script
(a process per command) against one `cronstream serve` on SQLite and one
worker process (tests/e2e/cli_worker.py), for the whole module.

Each command's table shows the real values, its `--output json` parses with
the contract's field names, and a failed call exits with its status's code
(docs/cli.md): NOT_FOUND 15, INVALID_ARGUMENT 13 with the field violation on
stderr, UNAUTHENTICATED 26; a usage error exits 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from cronstream import Client, HealthPolicy, Job

from tests.certs import Authority
from tests.e2e.processes import CRONSTREAM, ServerProcess, serving, start_cronstream
from tests.e2e.test_docs import make_platform_key, sh_blocks

ADMIN_KEY = "cs_admin_cli"
WORKER = Path(__file__).with_name("cli_worker.py")
CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE, UNAUTHENTICATED, USAGE = 15, 13, 24, 26, 2
YEARLY = "0 0 1 1 *"  # a schedule that does not fire during the test


@dataclass
class Cli:
    server: ServerProcess
    key: str
    other_key: str  # another platform's

    def env(self, key: str | None) -> dict[str, str]:
        return {
            **os.environ,
            "CRONSTREAM_ADDRESS": self.server.address,
            "CRONSTREAM_API_KEY": self.key if key is None else key,
            # Wide enough that help and the boxed usage errors (Typer's) keep
            # each line whole; a user's terminal wraps them to its width.
            "TERMINAL_WIDTH": "200",
        }

    def __call__(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CRONSTREAM), *args],
            env=self.env(key),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--output", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CRONSTREAM), *args],
            env=self.env(None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def client_job(self, **fields: Any) -> Job:
        """A job made through the Python client, for what no flag sets."""

        async def create() -> Job:
            async with Client.connect(self.server.address, self.key) as client:
                return await client.create_job(**fields)

        return asyncio.run(create())


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    cwd = tmp_path_factory.mktemp("cli")
    with serving(cwd, ADMIN_KEY) as server:
        key = make_platform_key(server.address, ADMIN_KEY, "cli")
        other = make_platform_key(server.address, ADMIN_KEY, "cli-other")
        with worker(server.address, key, cwd / "worker.log"):
            yield Cli(server, key, other)


@contextlib.contextmanager
def worker(address: str, key: str, log: Path) -> Iterator[None]:
    """tests/e2e/cli_worker.py for the key's platform while the block runs."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(WORKER), address, key], stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(20)


def _job(cli: Cli, *args: str) -> dict[str, Any]:
    created: dict[str, Any] = cli.json("jobs", "create", *args)
    return created


# --- help (each command's: tests/unit/test_cli.py) -----------------------------------


def test_the_installed_script_shows_a_command_s_help_with_its_example(cli: Cli) -> None:
    shown = cli.ok("jobs", "backfill", "--help")
    assert "Usage: cronstream jobs backfill [OPTIONS] {JOB_ID}" in shown
    assert "Example:  cronstream jobs backfill " in shown


# --- jobs ------------------------------------------------------------------------------


def test_jobs_create_shows_the_job_and_get_and_list_find_it(cli: Cli) -> None:
    created = _job(
        cli, "--name", "nightly report", "--handler", "send_report",
        "--cron", "30 2 * * *", "--timezone", "Europe/Berlin", "--tag", "nightly",
        "--tag", "ops", "--payload", '{"team": "ops"}', "--max-retries", "2", "--timeout", "5m",
    )  # fmt: skip
    assert created["cron"] == {"expression": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert (created["name"], created["handlerName"]) == ("nightly report", "send_report")
    assert (created["tags"], created["payload"]) == (["nightly", "ops"], {"team": "ops"})
    assert (created["maxRetries"], created["timeout"]) == (2, "300s")
    assert created["status"] == "JOB_STATUS_ACTIVE"

    shown = cli.ok("jobs", "get", created["id"])
    for value in (
        "nightly report",
        "cron 30 2 * * * (Europe/Berlin)",
        "nightly, ops",
        '{"team": "ops"}',
        "active",
        "5m",
        created["nextRun"].replace(".000", ""),
    ):
        assert value in shown, (value, shown)  # fmt: skip

    listed = cli.ok("jobs", "list", "--tag", "nightly")
    row = next(line for line in listed.splitlines() if created["id"] in line)
    assert "nightly report" in row and "send_report" in row and "active" in row
    as_json = cli.json("jobs", "list", "--tag", "nightly", "--status", "active")
    assert [job["id"] for job in as_json] == [created["id"]]
    assert cli.json("jobs", "list", "--tag", "nightly", "--status", "paused") == []
    by_text = cli.json("jobs", "list", "--text", "NIGHTLY REP")
    assert [job["id"] for job in by_text] == [created["id"]]


def test_jobs_create_takes_each_kind_of_trigger(cli: Cli) -> None:
    every = _job(cli, "--name", "poll", "--handler", "poll", "--every", "1h30m")
    assert every["interval"]["every"] == "5400s"
    at = _job(cli, "--name", "once", "--handler", "once", "--at", "2030-01-31T09:00:00+01:00")
    assert at["once"]["runAt"] == "2030-01-31T08:00:00Z"
    event = _job(cli, "--name", "on signup", "--handler", "welcome", "--event", "user.signup")
    assert event["event"]["eventName"] == "user.signup"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", YEARLY, "--every", "5m"], "give one trigger, not --cron and --every"),
        ([], "give one of --cron, --every, --at and --event"),
        (["--every", "soon"], "'soon' is not a duration"),
        (["--at", "2030-01-31T09:00:00"], "is not an RFC 3339 time with an offset"),
        (["--every", "5m", "--payload", "[1]"], "a JSON object is needed"),
    ],
)
def test_a_bad_flag_is_a_usage_error_before_any_call(
    cli: Cli, args: list[str], message: str
) -> None:
    done = cli("jobs", "create", "--name", "n", "--handler", "h", *args)
    assert done.returncode == USAGE, done.stderr
    assert message in done.stderr


def test_invalid_argument_exits_13_naming_the_field(cli: Cli) -> None:
    done = cli("jobs", "create", "--name", "bad", "--handler", "h", "--cron", "61 * * * *")
    assert done.returncode == INVALID_ARGUMENT, done.stderr
    assert "error: INVALID_ARGUMENT" in done.stderr
    assert "job.cron.expression:" in done.stderr
    assert done.stdout == ""


def test_not_found_exits_15_and_another_platform_s_job_is_not_found(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    for command in (["jobs", "get", missing], ["executions", "get", missing]):
        done = cli(*command)
        assert done.returncode == NOT_FOUND, done.stderr
        assert "error: NOT_FOUND" in done.stderr
    theirs = _job(cli, "--name", "mine", "--handler", "h", "--cron", YEARLY)
    for command in ("get", "pause", "delete"):
        done = cli("jobs", command, theirs["id"], key=cli.other_key)
        assert done.returncode == NOT_FOUND, (command, done.stderr)
    assert cli.json("jobs", "get", theirs["id"])["status"] == "JOB_STATUS_ACTIVE"


def test_the_admin_key_acts_for_the_platform_it_names(cli: Cli) -> None:
    job = _job(cli, "--name", "seen by the admin", "--handler", "h", "--cron", YEARLY)
    shown = cli(
        "--platform", job["platformId"], "jobs", "get", job["id"], "-o", "json", key=ADMIN_KEY
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "seen by the admin"
    assert cli("jobs", "get", job["id"], key=ADMIN_KEY).returncode == UNAUTHENTICATED


def test_tls_trusts_the_ca_given(cli: Cli, tmp_path: Path) -> None:
    authority = Authority("cli CA")
    cert, key, ca = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    authority.server().write(cert, key)
    ca.write_bytes(authority.cert_pem)
    tls_env = {"CRONSTREAM_TLS_CERT": str(cert), "CRONSTREAM_TLS_KEY": str(key)}
    server = start_cronstream(["serve", "--migrate"], tmp_path, tls_env)
    try:
        server.read_until("serving on")
        at = ["--address", server.address]
        # The server answers (a key it does not know) only over TLS it trusts.
        trusted = cli(*at, "--tls-ca", str(ca), "jobs", "list", key="cs_unknown")
        assert trusted.returncode == UNAUTHENTICATED, trusted.stderr
        for untrusted in ([], ["--tls"]):
            done = cli(*at, *untrusted, "jobs", "list", key="cs_unknown")
            assert done.returncode == UNAVAILABLE, (untrusted, done.stderr)
    finally:
        assert server.terminate() == 0


def test_a_wrong_key_exits_26(cli: Cli) -> None:
    done = cli("jobs", "list", key="cs_wrong")
    assert done.returncode == UNAUTHENTICATED
    assert "error: UNAUTHENTICATED" in done.stderr
    no_key = cli("alerts", "list", key="")
    assert no_key.returncode == UNAUTHENTICATED
    assert "set CRONSTREAM_API_KEY or pass --api-key" in no_key.stderr


def test_pause_until_resume_cancel_and_delete_one_job(cli: Cli) -> None:
    job = _job(cli, "--name", "steered", "--handler", "h", "--cron", YEARLY)
    paused = cli.json("jobs", "pause", job["id"], "--until", "2030-01-01T00:00:00Z")
    assert (paused["status"], paused["pausedUntil"]) == (
        "JOB_STATUS_PAUSED",
        "2030-01-01T00:00:00Z",
    )
    resumed = cli.ok("jobs", "resume", job["id"])
    assert "active" in resumed and "paused until" not in resumed
    assert cli.json("jobs", "cancel", job["id"])["status"] == "JOB_STATUS_CANCELLED"
    assert cli.ok("jobs", "delete", job["id"]).strip() == f"deleted job {job['id']}"
    assert cli("jobs", "get", job["id"]).returncode == NOT_FOUND


def test_pause_and_resume_many_by_a_selection(cli: Cli) -> None:
    ids = {_job(cli, "--name", f"bulk {n}", "--handler", "bulk", "--cron", YEARLY)["id"]
           for n in range(3)}  # fmt: skip
    assert cli.ok("jobs", "pause", "--handler", "bulk").strip() == "paused 3 jobs"
    paused = cli.json("jobs", "list", "--handler", "bulk", "--status", "paused")
    assert {job["id"] for job in paused} == ids
    assert cli.json("jobs", "resume", "--handler", "bulk") == {"changed": 3, "remaining": 0}
    both = cli("jobs", "pause", next(iter(ids)), "--handler", "bulk")
    assert both.returncode == USAGE and "not both" in both.stderr


def test_preview_marks_the_instant_a_jump_forward_shifted(cli: Cli) -> None:
    args = ["jobs", "preview", "--cron", "30 2 * * *", "--timezone", "Europe/Berlin",
            "--after", "2026-03-27T12:00:00Z", "--count", "3"]  # fmt: skip
    table = cli.ok(*args).splitlines()
    rows = [line.split() for line in table if line.strip().startswith("2026-")]
    assert [row[:2] for row in rows] == [
        ["2026-03-28T01:30:00Z", "2026-03-28T02:30:00+01:00"],
        ["2026-03-29T01:00:00Z", "2026-03-29T03:00:00+02:00"],
        ["2026-03-30T00:30:00Z", "2026-03-30T02:30:00+02:00"],
    ]
    shifted = next(line for line in table if "2026-03-29T01:00:00Z" in line)
    assert "shifted: 02:30 does not exist that day" in shifted
    assert "clock change at 2026-03-29T01:00:00Z: UTC+01:00 -> UTC+02:00" in "\n".join(table)
    shown = cli.json(*args)
    assert [i["shifted"] for i in shown["instants"]] == [False, True, False]


def test_backfill_waits_until_released_and_counts_what_exists(cli: Cli) -> None:
    job = _job(cli, "--name", "hourly", "--handler", "cli.nobody", "--cron", "0 * * * *")
    window = ["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T05:00:00Z"]
    done = cli.ok("jobs", "backfill", job["id"], *window)
    assert done.strip() == "5 instants: 5 executions created, 0 had one already; 5 released"
    waiting = cli.json("executions", "list", "--job", job["id"], "--status", "waiting")
    assert waiting == []
    again = cli.json("jobs", "backfill", job["id"], *window, "--no-wait")
    assert again == {"instants": 5, "created": 0, "existing": 5, "released": 0}


# --- executions ------------------------------------------------------------------------


def test_run_then_follow_its_logs_until_it_ends(cli: Cli) -> None:
    job = _job(cli, "--name", "echo", "--handler", "send_report", "--cron", YEARLY,
               "--payload", '{"n": 7}')  # fmt: skip
    execution = cli.json("jobs", "run", job["id"])
    assert (execution["jobId"], execution["trigger"]) == (job["id"], "EXECUTION_TRIGGER_MANUAL")
    followed = cli.ok("executions", "logs", execution["id"], "--follow")
    messages = [line.split(": ", 1)[1] for line in followed.splitlines()]
    assert messages == ["step 1", "step 2", "step 3"]
    assert " INFO attempt 1: " in followed

    finished = cli.json("executions", "get", execution["id"])
    assert finished["status"] == "EXECUTION_STATUS_SUCCESS"
    assert finished["result"] == {"echo": {"n": 7}}
    shown = cli.ok("executions", "get", execution["id"])
    for value in ("success", "manual", "cli-worker", '{"echo": {"n": 7}}', "1 of "):
        assert value in shown, (value, shown)
    lines = [
        json.loads(line)
        for line in cli.ok("executions", "logs", execution["id"], "-o", "json").splitlines()
    ]
    assert [line["message"] for line in lines] == ["step 1", "step 2", "step 3"]
    listed = cli.ok("executions", "list", "--job", job["id"])
    assert any(execution["id"] in row and "success" in row for row in listed.splitlines())


def test_retry_a_failed_execution_and_cancel_a_pending_one(cli: Cli) -> None:
    failing = _job(cli, "--name", "fails", "--handler", "cli.fail", "--cron", YEARLY,
                   "--max-retries", "0")  # fmt: skip
    execution = cli.json("jobs", "run", failing["id"])
    cli.ok("executions", "logs", execution["id"], "--follow")  # returns once it has ended
    failed = cli.json("executions", "get", execution["id"])
    assert (failed["status"], failed["error"]) == ("EXECUTION_STATUS_FAILED", "boom")
    retried = cli.json("executions", "retry", execution["id"])
    assert retried["status"] in ("EXECUTION_STATUS_PENDING", "EXECUTION_STATUS_RUNNING")

    idle = _job(cli, "--name", "nobody runs it", "--handler", "cli.nobody", "--cron", YEARLY)
    pending = cli.json("jobs", "run", idle["id"])
    cancelled = cli.ok("executions", "cancel", pending["id"])
    assert "cancelled" in cancelled and pending["id"] in cancelled
    assert cli("executions", "retry", str(uuid.uuid4())).returncode == NOT_FOUND


# --- alerts ----------------------------------------------------------------------------


def test_alerts_watch_prints_an_opened_alert_then_ends_on_ctrl_c_and_list_shows_it(
    cli: Cli,
) -> None:
    watch = cli.popen("alerts", "watch", "--output", "json")
    try:
        assert watch.stderr is not None and watch.stdout is not None
        assert "watching alerts" in watch.stderr.readline()
        lines = _lines_of(watch.stdout)
        event, job_ids = None, []
        # The stream has been asked for, but the server may subscribe it a
        # moment later: a failure before then is not shown, so fail another
        # job until one is (one failure opens a FAILING alert with this policy).
        while event is None and len(job_ids) < 5:
            job = cli.client_job(
                name=f"alerting {len(job_ids)}", handler="cli.fail", cron=YEARLY,
                max_retries=0, health_policy=HealthPolicy(consecutive_failures=1),
            )  # fmt: skip
            job_ids.append(job.id)
            cli.ok("jobs", "run", job.id)
            with contextlib.suppress(queue.Empty):
                event = json.loads(lines.get(timeout=10))
    finally:
        watch.send_signal(signal.SIGINT)
        code = watch.wait(20)
        stderr = watch.stderr.read() if watch.stderr else ""
        for stream in (watch.stdout, watch.stderr):
            if stream is not None:
                stream.close()
    assert code == 0, stderr
    assert event is not None, "no alert event printed"
    assert (event["type"], event["alert"]["kind"]) == (
        "ALERT_EVENT_TYPE_OPENED",
        "HEALTH_STATE_FAILING",
    )
    assert event["alert"]["jobId"] in job_ids

    shown = event["alert"]["jobId"]
    opened = cli.json("alerts", "list", "--state", "open", "--job", shown)
    assert [(a["jobId"], a["kind"]) for a in opened] == [(shown, "HEALTH_STATE_FAILING")]
    table = cli.ok("alerts", "list", "--kind", "failing")
    row = next(line for line in table.splitlines() if shown in line or "alerting" in line)
    assert "failing" in row and "open" in row


def _lines_of(stream: IO[str]) -> queue.Queue[str]:
    """The stream's lines as they come, readable with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


# --- workers ---------------------------------------------------------------------------


def test_workers_list_shows_the_connected_worker(cli: Cli) -> None:
    workers = cli.json("workers", "list")
    assert [(w["workerId"], w["slots"]) for w in workers] == [("cli-worker", 4)]
    assert sorted(workers[0]["handlerNames"]) == ["cli.fail", "send_report"]
    row = next(line for line in cli.ok("workers", "list").splitlines() if "cli-worker" in line)
    assert workers[0]["sessionId"] in row and " of 4" in row
    assert cli.json("workers", "list", "--handler", "cli.fail")[0]["workerId"] == "cli-worker"
    assert cli.json("workers", "list", "--handler", "nobody") == []


# --- docs/cli.md -----------------------------------------------------------------------


def test_the_cli_doc_runs_verbatim(cli: Cli, tmp_path: Path) -> None:
    """docs/cli.md's sh blocks, in order in one bash, on a platform of their
    own (so its counts are a fresh platform's) with a worker of its own."""
    blocks = sh_blocks(CLI_DOC.read_text())
    key = make_platform_key(cli.server.address, ADMIN_KEY, "cli-docs")
    env = {**cli.env(key), "PATH": f"{CRONSTREAM.parent}{os.pathsep}{os.environ['PATH']}"}
    with worker(cli.server.address, key, tmp_path / "worker.log"):
        done = subprocess.run(
            ["bash", "-c", "\n".join(["set -euo pipefail", *blocks])],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    for shown in (
        "nightly report",
        "2030-01-01T00:00:00Z",
        "paused 1 job",
        '{"changed": 1, "remaining": 0}',
        "shifted: 02:30 does not exist that day",
        "5 instants: 5 executions created, 0 had one already; 5 released",
        '{"instants": 5, "created": 0, "existing": 5, "released": 0}',
        "INFO attempt 1: step 3",
        '["EXECUTION_STATUS_SUCCESS",{"echo":{"team":"ops"}}]',
        "EXECUTION_STATUS_FAILED",
        "cli-worker",
    ):
        assert shown in done.stdout, shown
