"""docs/api.md is a script: its `sh` blocks run, in order, against a live server."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cronstream.v1 import admin_service_pb2, scheduler_service_pb2

from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
TOOLS = ROOT / ".tools" / "bin"
ADMIN_KEY = "cs_admin_docs"


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.S | re.M)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = start_cronstream(
        ["serve", "--migrate"], tmp_path, {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY}
    )
    try:
        wait_until_serving(process.address)
        yield process
    finally:
        process.terminate()


def test_api_doc_runs_verbatim(server: ServerProcess) -> None:
    if not (TOOLS / "grpcurl").exists():
        pytest.fail("grpcurl is missing: run `make tools` (make test does)")
    script = "\n".join(["set -euo pipefail", *sh_blocks(API_DOC.read_text())])
    env = {
        **os.environ,
        "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}",
        "ADDR": server.address,
        "CRONSTREAM_ADMIN_KEY": ADMIN_KEY,
    }
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # The preview shows the spring-forward rule it describes.
    assert '"2026-03-08T07:00:00Z"' in result.stdout
    assert "Traceback" not in server.log


def test_api_doc_shows_every_rpc() -> None:
    text = "\n".join(sh_blocks(API_DOC.read_text()))
    for module, service in [
        (scheduler_service_pb2, "SchedulerService"),
        (admin_service_pb2, "AdminService"),
    ]:
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            assert f"cronstream.v1.{service}/{method.name}" in text, method.name
