"""The Java client installed and used exactly as clients/java/README.md says.

Outside the checkout: the README's install command puts the client in the local
Maven repository, a fresh Maven project gets the README's pom.xml and the README's
quickstart (its first Java block) as its main class, and the README's run
command runs it against a live `cronstream serve` with a platform's API key. The
quickstart's job must have executions that succeeded, as the server reports them.
The local repository (~/.m2) is reused, so only a first run downloads anything.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import execution_pb2, scheduler_service_pb2, scheduler_service_pb2_grpc

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "clients" / "java" / "README.md"
ADMIN_KEY = "cs_admin_install_java"
BUDGET = 180.0  # seconds for install, build and run together
# Output control only: no colours, no download progress, the same build.
BATCH = ["-B", "-ntp"]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def command(prefix: str) -> list[str]:
    """The README's shell line that starts with `prefix`, as argv."""
    for block in blocks("sh"):
        for line in block.splitlines():
            if line.startswith(prefix):
                return shlex.split(line.split("#")[0])
    raise AssertionError(f"clients/java/README.md has no `{prefix}...` command")


def new_project(folder: Path) -> None:
    """A fresh Maven project: the README's pom.xml, the quickstart as main class."""
    pom = next(b for b in blocks("xml") if "<project" in b)
    assert "<artifactId>cronstream-client</artifactId>" in pom
    (folder / "pom.xml").write_text(pom)
    quickstart = blocks("java")[0]
    assert "public class Quickstart" in quickstart, (
        "the README's first Java block is the quickstart"
    )
    source = folder / "src" / "main" / "java"
    source.mkdir(parents=True)
    (source / "Quickstart.java").write_text(quickstart)


def run(argv: list[str], cwd: Path, deadline: float, env: dict[str, str] | None = None) -> str:
    remaining = deadline - time.monotonic()
    assert remaining > 0, f"out of time before {argv}"
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=remaining, check=False
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # Maven's colour resets
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("install-java-server"), ADMIN_KEY) as process:
        yield process


def executions(address: str, api_key: str, job_id: str) -> list[execution_pb2.Execution]:
    with grpc.insecure_channel(address) as channel:
        scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        response = scheduler.ListExecutions(
            scheduler_service_pb2.ListExecutionsRequest(job_id=job_id),
            metadata=(("authorization", f"Bearer {api_key}"),),
        )
    return list(response.executions)


@pytest.mark.timeout(BUDGET + 30)
def test_readme_install_and_quickstart(server: ServerProcess, tmp_path: Path) -> None:
    if shutil.which("mvn") is None:
        pytest.fail("mvn is not installed")
    assert not tmp_path.is_relative_to(ROOT), "the project must live outside the checkout"
    deadline = time.monotonic() + BUDGET

    install = command("mvn -f clients/java install")
    run([*install, *BATCH, "-q"], ROOT, deadline)

    new_project(tmp_path)
    api_key = make_platform_key(server.address, ADMIN_KEY, "install-java")
    env = {**os.environ, "CRONSTREAM_ADDRESS": server.address, "CRONSTREAM_API_KEY": api_key}
    output = run([*command("mvn -q compile exec:java"), *BATCH], tmp_path, deadline, env)

    created = re.search(r"^created (\S+): ACTIVE, next run \S+T\S+Z$", output, flags=re.M)
    assert created, f"no `created <id>: ACTIVE` line:\n{output[-4000:]}"
    assert "hello, world" in output, output[-4000:]
    assert "status=SUCCESS" in output, output[-4000:]
    statuses = [e.status for e in executions(server.address, api_key, created.group(1))]
    assert execution_pb2.EXECUTION_STATUS_SUCCESS in statuses, (statuses, output[-4000:])
