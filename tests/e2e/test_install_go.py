"""The Go client installed as clients/go/README.md says, outside the checkout.

A fresh module in a temporary directory is set up with the README's own commands
(`go mod edit -replace` to this checkout's clients/go, then `go get`), its
Quickstart program becomes main.go, and the built program runs against a live
`cronstream serve`: the job it creates must end in an execution that succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import execution_pb2, scheduler_service_pb2, scheduler_service_pb2_grpc

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "go"
README = CLIENT / "README.md"
ADMIN_KEY = "cs_admin_install_go"
README_ADDRESS = "127.0.0.1:50051"
CHECKOUT_PLACEHOLDER = "/path/to/cronstream/clients/go"

pytestmark = pytest.mark.timeout(150)


def readme_install_commands() -> list[str]:
    """The README's install commands (its first sh block), comments dropped."""
    block = re.search(r"## Install.*?```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "the README has no sh block under ## Install"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def readme_program() -> str:
    blocks = re.findall(r"```go\n(.*?)```", README.read_text(), re.DOTALL)
    programs = [b for b in blocks if b.startswith("package main")]
    assert programs, "the README has no Go program (a block starting with `package main`)"
    return programs[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("server"), ADMIN_KEY) as process:
        yield process


def go_env(home: Path) -> dict[str, str]:
    """The module cache and build cache stay shared (fast, offline for what
    they hold); GOFLAGS=-mod=mod lets go.mod be updated; no workspace leaks in."""
    return {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOWORK": "off",
        "HOME": os.environ.get("HOME", str(home)),
    }


def set_up_module(app: Path) -> None:
    commands = readme_install_commands()
    assert any("go mod edit -replace" in c for c in commands), commands
    env = go_env(app)
    for command in commands:
        command = command.replace(CHECKOUT_PLACEHOLDER, str(CLIENT))
        result = subprocess.run(
            command,
            shell=True,
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"


def wait_for_success(address: str, api_key: str, execution_id: str, timeout: float = 20.0) -> None:
    auth = (("authorization", f"Bearer {api_key}"),)
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        while True:
            execution = scheduler.GetExecution(
                scheduler_service_pb2.GetExecutionRequest(id=execution_id), metadata=auth
            ).execution
            if execution.status == execution_pb2.EXECUTION_STATUS_SUCCESS:
                assert execution.result["greeting"] == "hello, Ada"
                return
            assert time.monotonic() < deadline, f"execution still {execution}"
            time.sleep(0.2)


@contextmanager
def running(binary: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def executed_id(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """Reads the program's output until it prints an execution's id."""
    output: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if match := re.search(r"execution (\S+) says hello to Ada", line):
            return match.group(1)
    raise AssertionError("the program ran no execution:\n" + "".join(output))


def test_readme_install_and_quickstart(server: ServerProcess, tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.fail("go is not installed")
    app = tmp_path / "hello"
    app.mkdir()
    assert not app.resolve().is_relative_to(ROOT)
    set_up_module(app)
    program = readme_program()
    assert program.count(README_ADDRESS) == 1, "the Quickstart should dial the `make run` address"
    (app / "main.go").write_text(program.replace(README_ADDRESS, server.address))
    build = subprocess.run(
        ["go", "build", "-o", "hello", "."],
        cwd=app,
        env=go_env(app),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr

    api_key = make_platform_key(server.address, ADMIN_KEY, "install-go")
    with running(app / "hello", {**os.environ, "CRONSTREAM_API_KEY": api_key}) as program_process:
        execution_id = executed_id(program_process)
        wait_for_success(server.address, api_key, execution_id)
