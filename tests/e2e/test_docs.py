"""docs/api.md is a script: its `sh` blocks run, in order, against a live server."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import admin_service_pb2, admin_service_pb2_grpc, scheduler_service_pb2

from tests.e2e.processes import ServerProcess, serving

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
# The README's grpcurl session, as written for `make run`'s address.
README_ADDRESS = "127.0.0.1:50051"
GRPCURL_DOC = ROOT / "docs" / "grpcurl.md"
SCHEDULING_DOC = ROOT / "docs" / "scheduling.md"
TOOLS = ROOT / ".tools" / "bin"
ADMIN_KEY = "cs_admin_docs"


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.S | re.M)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with serving(tmp_path, ADMIN_KEY) as process:
        yield process


def run_doc(
    doc: Path, server: ServerProcess, env: dict[str, str], blocks: list[str] | None = None
) -> str:
    """Runs the page's `sh` blocks (or `blocks` of it) in one bash, failing on
    the first error."""
    if not (TOOLS / "grpcurl").exists():
        pytest.fail("grpcurl is missing: run `make tools` (make test does)")
    script = "\n".join(["set -euo pipefail", *(blocks or sh_blocks(doc.read_text()))])
    full_env = {
        **os.environ,
        "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}",
        "ADDR": server.address,
        **env,
    }
    result = subprocess.run(
        ["bash", "-c", script],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_api_doc_runs_verbatim(server: ServerProcess) -> None:
    output = run_doc(API_DOC, server, {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY})
    # The preview shows the spring-forward rule it describes.
    assert '"2026-03-08T07:00:00Z"' in output
    assert "Traceback" not in server.log


def test_scheduling_doc_runs_verbatim(server: ServerProcess) -> None:
    """docs/scheduling.md's examples (backfill, preview, pause until, limits,
    dependencies) run in order against a fresh server, with a platform key."""
    blocks = sh_blocks(SCHEDULING_DOC.read_text())
    assert blocks, "docs/scheduling.md shows its features with grpcurl"
    api_key = make_platform_key(server.address, ADMIN_KEY, name="scheduling")
    run_doc(SCHEDULING_DOC, server, {"CRONSTREAM_API_KEY": api_key})
    assert "Traceback" not in server.log


def test_grpcurl_session_runs_verbatim(server: ServerProcess) -> None:
    api_key = make_platform_key(server.address, ADMIN_KEY)
    output = run_doc(GRPCURL_DOC, server, {"CRONSTREAM_API_KEY": api_key})
    assert "executions so far: 3" in output
    assert "JOB_STATUS_COMPLETED after 3 executions" in output


def test_readme_grpcurl_session_runs_verbatim(server: ServerProcess) -> None:
    # The README's blocks but the first (`make run`, `make test`), with the
    # keys its banner has the reader export, at this server's address.
    blocks = [b.replace(README_ADDRESS, server.address) for b in sh_blocks(README.read_text())]
    session = [b for b in blocks if "grpcurl" in b]
    api_key = make_platform_key(server.address, ADMIN_KEY, name="default")
    env = {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY, "CRONSTREAM_API_KEY": api_key}
    output = run_doc(README, server, env, blocks=session)
    assert '"name": "nightly report"' in output
    assert '"status": "SERVING"' in output


def make_platform_key(address: str, admin_key: str, name: str = "docs") -> str:
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {admin_key}"),)
        platform = admin.CreatePlatform(
            admin_service_pb2.CreatePlatformRequest(platform=admin_service_pb2.Platform(name=name)),
            metadata=auth,
        ).platform
        secret: str = admin.CreateApiKey(
            admin_service_pb2.CreateApiKeyRequest(platform_id=platform.id, name=name),
            metadata=auth,
        ).secret
    return secret


def test_api_doc_shows_every_rpc() -> None:
    text = "\n".join(sh_blocks(API_DOC.read_text()))
    for module, service in [
        (scheduler_service_pb2, "SchedulerService"),
        (admin_service_pb2, "AdminService"),
    ]:
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            assert f"cronstream.v1.{service}/{method.name}" in text, method.name
