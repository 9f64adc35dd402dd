"""Both packages as a user installs them: wheels built from this checkout,
installed into fresh venvs outside it at the lowest versions their
pyproject files declare (tests/e2e/venvs.py), run from a folder outside it.

- the server's venv: both wheels at the server's floors. Its `cronstream
  serve` refuses an empty Postgres database, naming the command to run; with
  `--migrate` it migrates (the migrations ship in the wheel) and serves;
  every module of both packages imports.
- the client's venv: the client wheel alone at the client's floors (its
  opentelemetry-api floor is below the server's), with the test tools. The
  client's unit tests pass there, and it runs a job end to end against the
  server above.

The venvs and wheels are built once for the module (pip's cache keeps the
downloads); about 40 s on two cores with a warm cache.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from cronstream_server import migrate
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests import databases
from tests.e2e.processes import ServerProcess, free_port, wait_until_serving
from tests.e2e.venvs import (
    CLIENT_PROJECT,
    ROOT,
    SERVER_PROJECT,
    Venv,
    Wheels,
    build_wheels,
    clean_env,
    create_venv,
    dependencies,
    dev_requirement,
    floor_pins,
    run,
)

# Building and installing dominate; a cold pip cache downloads everything.
pytestmark = pytest.mark.timeout(900)

ADMIN_KEY = "cs_admin_packaging"
CLIENT_TEST_TOOLS = ("pytest", "pytest-asyncio", "pytest-timeout")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    return build_wheels(tmp_path_factory.mktemp("wheels"))


@dataclass(frozen=True)
class Venvs:
    server: Venv
    client: Venv


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory, wheels: Wheels) -> Venvs:
    """Both venvs, installed side by side (pip waits on the network and the disk)."""
    work = tmp_path_factory.mktemp("venvs")
    server_floors = floor_pins(dependencies(SERVER_PROJECT), skip=["cronstream"])
    client_floors = floor_pins(dependencies(CLIENT_PROJECT))
    test_tools = [dev_requirement(name) for name in CLIENT_TEST_TOOLS]
    with ThreadPoolExecutor(2) as pool:
        server = pool.submit(
            create_venv, work / "server", [wheels.client, wheels.server], server_floors
        )
        client = pool.submit(
            create_venv, work / "client", [wheels.client, *test_tools], client_floors
        )
        return Venvs(server=server.result(), client=client.result())


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    with databases.sync_empty_postgres_database(databases.require_postgres()) as url:
        yield url


def test_the_server_wheel_carries_its_migrations(wheels: Wheels) -> None:
    with zipfile.ZipFile(wheels.server) as wheel:
        names = set(wheel.namelist())
    versions = ROOT / "server" / "cronstream_server" / "migrations" / "versions"
    expected = {
        "cronstream_server/migrations/env.py",
        "cronstream_server/migrations/script.py.mako",
        *(f"cronstream_server/migrations/versions/{p.name}" for p in versions.glob("*.py")),
    }
    assert expected <= names


def test_the_server_wheel_carries_the_dashboard_s_bundle(wheels: Wheels) -> None:
    with zipfile.ZipFile(wheels.server) as wheel:
        names = set(wheel.namelist())
    package = ROOT / "server" / "cronstream_server"
    bundle = {
        f"cronstream_server/{path.relative_to(package)}"
        for path in (package / "web" / "static").rglob("*")
        if path.is_file() and path.name != ".gitkeep"
    }
    assert bundle <= names


def test_every_module_imports_from_the_installed_wheels(venvs: Venvs, tmp_path: Path) -> None:
    script = (
        "import importlib, pkgutil, cronstream, cronstream_server\n"
        "for package in (cronstream, cronstream_server):\n"
        "    print(package.__file__)\n"
        "    for found in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if '.migrations' not in found.name:\n"
        "            importlib.import_module(found.name)\n"
    )
    output = run([venvs.server.python, "-c", script], tmp_path, clean_env(), 120.0)
    assert all(Path(line).is_relative_to(venvs.server.path) for line in output.split()), output


def test_client_unit_tests_pass_at_the_client_floors(venvs: Venvs, tmp_path: Path) -> None:
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest"]
    config = ["-c", ROOT / "pyproject.toml", "--rootdir", ROOT]
    tests = ROOT / "tests" / "unit" / "test_python_client_units.py"
    output = run([venvs.client.python, *pytest_args, *config, tests], tmp_path, clean_env(), 300.0)
    assert re.search(r"\d+ passed", output), output


def test_installed_server_refuses_an_empty_database_then_migrates_serves_and_runs_a_job(
    venvs: Venvs, empty_postgres: str, tmp_path: Path
) -> None:
    address, http = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = clean_env(
        CRONSTREAM_LISTEN=address,
        CRONSTREAM_HTTP_LISTEN=http,  # the dashboard's port, on aiohttp's floor
        CRONSTREAM_DATABASE_URL=empty_postgres,
        CRONSTREAM_ADMIN_KEY=ADMIN_KEY,
        PYTHONUNBUFFERED="1",
    )
    cronstream = str(venvs.server.bin("cronstream"))
    refused = subprocess.run(
        [cronstream, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused
    assert (
        f"the database has no Cronstream schema yet, this server needs {migrate.head()}: "
        "run 'cronstream migrate' (or 'cronstream serve --migrate')"
    ) in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr

    server = ServerProcess(_popen([cronstream, "serve", "--migrate"], tmp_path, env), address)
    try:
        server.read_until("serving on")
        wait_until_serving(address)
        assert _health(address) == health_pb2.HealthCheckResponse.SERVING
        config = httpx.get(f"http://{http}/config.json", timeout=10).json()
        assert config == {"traceUrl": None, "version": "0.1.0"}
        client_script = [venvs.client.python, ROOT / "tests" / "e2e" / "installed_client.py"]
        output = run([*client_script, address, ADMIN_KEY], tmp_path, clean_env(), 120.0)
        assert "round trip ok" in output
        imported_from = output.split()[2]
        assert Path(imported_from).is_relative_to(venvs.client.path), output
    finally:
        assert server.terminate() == 0, server.log
    assert "Traceback" not in server.log


def _popen(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    status: int = response.status
    return status
