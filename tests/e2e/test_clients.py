"""The same end-to-end scenario in every client language, against one live server.

Each client ships its own scenario (clients/go/e2e_test.go, clients/typescript/
test/e2e.test.ts, clients/java's EndToEndTest; Python's is tests/clients/): create
a job due in about a second, run that language's worker for it (it logs a line
and returns a result), check the execution and the log, page through jobs, see
a bad cron come back as the language's typed invalid-argument error naming
`job.cron.expression`, and see a throwing handler retried. This test starts the
server, makes a key, and runs each scenario with CRONSTREAM_E2E_ADDR and
CRONSTREAM_E2E_API_KEY set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "cs_admin_clients"

# language: (folder, command, a line the output must hold: proof the scenario ran, not skipped)
SCENARIOS = {
    "go": (
        ROOT / "clients" / "go",
        ["go", "test", "-count=1", "-run", "TestE2E", "-v", "./..."],
        "--- PASS: TestE2E",
    ),
    "typescript": (
        ROOT / "clients" / "typescript",
        ["npm", "run", "--silent", "test:e2e"],
        "skipped 0",
    ),
    "java": (
        ROOT / "clients" / "java",
        ["mvn", "-B", "-ntp", "test", "-Dtest=EndToEndTest"],
        "Failures: 0, Errors: 0, Skipped: 0",
    ),
}


# The scheduling controls' scenarios (pause until, bulk pause and resume,
# backfill, the preview's DST marks, rate limits, job limits and dependencies):
# language: (folder, command, proof), as above.
SCHEDULING_SCENARIOS = {
    "go": (
        ROOT / "clients" / "go",
        ["go", "test", "-count=1", "-run", "TestLiveScheduling", "-v", "."],
        "--- PASS: TestLiveScheduling",
    ),
    "typescript": (
        ROOT / "clients" / "typescript",
        ["npm", "run", "--silent", "test:e2e:scheduling"],
        "skipped 0",
    ),
    "java": (
        ROOT / "clients" / "java",
        ["mvn", "-B", "-ntp", "test", "-Dtest=SchedulingEndToEndTest"],
        "Failures: 0, Errors: 0, Skipped: 0",
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("clients"), ADMIN_KEY) as process:
        yield process


@pytest.mark.parametrize("language", sorted(SCENARIOS))
def test_client_scenario(server: ServerProcess, language: str) -> None:
    run_scenario(server, language, *SCENARIOS[language])


@pytest.mark.parametrize("language", sorted(SCHEDULING_SCENARIOS))
def test_client_scheduling_scenario(server: ServerProcess, language: str) -> None:
    run_scenario(server, f"sched-{language}", *SCHEDULING_SCENARIOS[language])


def run_scenario(
    server: ServerProcess, language: str, folder: Path, command: list[str], proof: str
) -> None:
    if not folder.exists():
        pytest.fail(f"{folder} is missing")
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed")
    api_key = make_platform_key(server.address, ADMIN_KEY, f"e2e-{language}")
    env = {**os.environ, "CRONSTREAM_E2E_ADDR": server.address, "CRONSTREAM_E2E_API_KEY": api_key}
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert proof in output, output[-3000:]
