"""Wheels built from this checkout, and fresh venvs outside it that install
them at the lowest versions their pyproject files allow (tests/e2e/test_packaging.py).

The floors are installed with a constraints file pinning each declared
dependency to its lower bound (`>=1.85.1` becomes `==1.85.1`), so a floor
must be a release that exists; whatever those pull in resolves as pip
chooses. The build does the same for `build-system.requires`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVER_PROJECT = ROOT / "pyproject.toml"
CLIENT_PROJECT = ROOT / "clients" / "python" / "pyproject.toml"
# What the venvs must not inherit from the suite's environment: they import
# only what they installed, and resolve only what they are told.
SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV")
INSTALL_TIMEOUT = 480.0


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def run(args: Sequence[str | Path], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Runs a command to completion; its output, or a failure that shows it."""
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}"
    )
    return done.stdout


def project(path: Path) -> dict[str, object]:
    loaded: dict[str, object] = tomllib.loads(path.read_text())
    return loaded


def dependencies(path: Path) -> list[str]:
    listed: list[str] = project(path)["project"]["dependencies"]  # type: ignore[index]
    return listed


def build_requires(path: Path) -> list[str]:
    listed: list[str] = project(path)["build-system"]["requires"]  # type: ignore[index]
    return listed


def dev_requirement(name: str) -> str:
    """The server's `dev` extra's line for `name` (the test tools, as pinned there)."""
    extras: dict[str, list[str]] = project(SERVER_PROJECT)["project"]["optional-dependencies"]  # type: ignore[index]
    return next(line for line in extras["dev"] if Requirement(line).name == name)


def floor_pins(requirements: Iterable[str], skip: Iterable[str] = ()) -> list[str]:
    """`name==lower-bound` for each requirement that has one (extras dropped:
    constraints name distributions)."""
    pins = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name in skip:
            continue
        lows = [s.version for s in requirement.specifier if s.operator in (">=", "~=", "==")]
        assert lows, f"{line!r} declares no lower bound"
        pins.append(f"{requirement.name}=={lows[0]}")
    return pins


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@dataclass(frozen=True)
class Wheels:
    client: Path
    server: Path


def build_wheels(work: Path) -> Wheels:
    """Builds both wheels from copies of the sources (a build writes `build/`
    and egg-info beside them; the checkout stays as it is), with setuptools at
    the floor that both projects declare."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    server_src, client_src = work / "server-src", work / "client-src"
    shutil.copytree(ROOT / "server", server_src / "server", ignore=ignore)
    shutil.copy2(SERVER_PROJECT, server_src / "pyproject.toml")
    shutil.copytree(CLIENT_PROJECT.parent, client_src, ignore=ignore)
    pins = floor_pins([*build_requires(SERVER_PROJECT), *build_requires(CLIENT_PROJECT)])
    # Build isolation installs the build requirements with a pip of its own,
    # which reads PIP_CONSTRAINT from the environment.
    env = clean_env(PIP_CONSTRAINT=str(write_lines(work / "build-floors.txt", sorted(set(pins)))))
    out = work / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out]
    run([*pip_wheel, client_src, server_src], work, env, INSTALL_TIMEOUT)
    return Wheels(
        client=next(out.glob("cronstream-*.whl")), server=next(out.glob("cronstream_server-*.whl"))
    )


@dataclass(frozen=True)
class Venv:
    path: Path

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    @property
    def python(self) -> Path:
        return self.bin("python")

    def install(self, requirements: Sequence[str | Path], constraints: Path) -> None:
        pip = [
            self.python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--constraint",
            constraints,
        ]
        run([*pip, *requirements], self.path, clean_env(), INSTALL_TIMEOUT)


def create_venv(path: Path, requirements: Sequence[str | Path], floors: Sequence[str]) -> Venv:
    """A new venv at `path` holding `requirements`, with `floors` as constraints."""
    path.mkdir(parents=True)
    constraints = write_lines(path.parent / f"{path.name}-floors.txt", floors)
    run([sys.executable, "-m", "venv", path], path.parent, clean_env(), 120.0)
    venv = Venv(path)
    venv.install(requirements, constraints)
    return venv
