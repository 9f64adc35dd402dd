"""The dashboard's client stack against a real `cronstream serve`: the TypeScript
client's generated SchedulerService code over @connectrpc/connect-node's
gRPC-web transport (HTTP/1.1), through the HTTP port's bridge
(clients/typescript/test/e2e-web-bridge.test.ts)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "clients" / "typescript"
ADMIN_KEY = "cs_admin_web_bridge"


def test_the_connect_grpc_web_client_works_through_the_bridge(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed")
    with serving(tmp_path, ADMIN_KEY, http=True) as server:
        key = make_platform_key(server.address, ADMIN_KEY, "web-bridge")
        env = {
            **os.environ,
            "CRONSTREAM_E2E_HTTP_URL": f"http://{server.http_address}",
            "CRONSTREAM_E2E_API_KEY": key,
        }
        result = subprocess.run(
            ["npm", "run", "--silent", "test:e2e:web"],
            cwd=FOLDER,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "pass 3" in output and "skipped 0" in output, output[-3000:]
