"""The Python client's README holds as written: `pip install ./clients/python`
in a fresh venv outside the checkout, then its first example, run as a file
against a live `cronstream serve`, sees an execution reach SUCCESS."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key
from tests.e2e.venvs import INSTALL_TIMEOUT, ROOT, clean_env, run

README = ROOT / "clients" / "python" / "README.md"
ADMIN_KEY = "cs_admin_install"
EXAMPLE_TIMEOUT = 60.0


def first_block(markdown: str, language: str) -> str:
    found = re.search(rf"^```{language}\n(.*?)^```", markdown, flags=re.S | re.M)
    assert found, f"no {language} block"
    return found.group(1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with serving(tmp_path, ADMIN_KEY) as process:
        yield process


def test_the_readme_installs_and_its_example_runs(server: ServerProcess, tmp_path: Path) -> None:
    text = README.read_text()
    install = first_block(text, "sh").split("#")[0].split()
    assert install == ["pip", "install", "./clients/python"], install

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], tmp_path, clean_env(), 120.0)
    # From the repository's root, as the README says: the same command, its pip.
    # setuptools builds in the source tree; what it leaves there is removed.
    build = ROOT / "clients" / "python" / "build"
    built_before = build.exists()
    try:
        run([venv / "bin" / "python", "-m", *install], ROOT, clean_env(), INSTALL_TIMEOUT)
    finally:
        if not built_before:
            shutil.rmtree(build, ignore_errors=True)

    example = tmp_path / "example.py"
    example.write_text(first_block(text, "python"))
    env = clean_env(
        CRONSTREAM_ADDR=server.address,
        CRONSTREAM_API_KEY=make_platform_key(server.address, ADMIN_KEY, "install"),
        PYTHONUNBUFFERED="1",
    )
    done = subprocess.run(
        [venv / "bin" / "python", example],
        cwd=tmp_path,  # outside the checkout: only the installed package is importable
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "hello, Ada" in done.stdout
    assert "JobStatus.ACTIVE" in done.stdout
    assert "ExecutionStatus.SUCCESS" in done.stdout, done.stdout
    assert "Traceback" not in server.log
