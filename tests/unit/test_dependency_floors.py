"""The declared version floors cover what the committed code checks at
import: regenerating the Python code with newer tools fails here first (the
e2e test tests/e2e/test_packaging.py then installs the floors for real)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "clients" / "python" / "cronstream" / "v1"
PROJECTS = {
    "server": ROOT / "pyproject.toml",
    "client": ROOT / "clients" / "python" / "pyproject.toml",
}
# setuptools reads `license = "<SPDX expression>"` (PEP 639) from 77.0 on.
SPDX_LICENSE_SETUPTOOLS = Version("77.0")


def _project(name: str) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = tomllib.loads(PROJECTS[name].read_text())
    return loaded


def _specifier(name: str, distribution: str, section: str = "dependencies") -> SpecifierSet:
    table = _project(name)["build-system" if section == "requires" else "project"]
    lines: list[str] = table[section]  # type: ignore[assignment]
    return next(r.specifier for r in map(Requirement, lines) if r.name == distribution)


def _floor(specifier: SpecifierSet) -> Version:
    return Version(next(s.version for s in specifier if s.operator == ">="))


def _gencode_versions() -> set[Version]:
    """The protobuf runtime each *_pb2.py asks for (major must match, and at least this)."""
    call = re.compile(r"ValidateProtobufRuntimeVersion\(\s*\S+,\s*(\d+),\s*(\d+),\s*(\d+),")
    found = set()
    for path in GENERATED.glob("*_pb2.py"):
        match = call.search(path.read_text())
        assert match, f"no runtime check in {path.name}"
        found.add(Version(".".join(match.groups())))
    return found


def _grpc_generated_versions() -> set[Version]:
    pattern = re.compile(r"^GRPC_GENERATED_VERSION = '([^']+)'", re.M)
    found = set()
    for path in GENERATED.glob("*_pb2_grpc.py"):
        match = pattern.search(path.read_text())
        assert match, f"no GRPC_GENERATED_VERSION in {path.name}"
        found.add(Version(match.group(1)))
    return found


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_protobuf_range_holds_what_the_generated_code_accepts(name: str) -> None:
    specifier = _specifier(name, "protobuf")
    for gencode in _gencode_versions():
        assert _floor(specifier) >= gencode, f"{name}: protobuf floor below gencode {gencode}"
        assert specifier.contains(f"{gencode.major}.999"), f"{name}: {specifier} too narrow"
        assert not specifier.contains(f"{gencode.major + 1}.0"), f"{name}: allows another major"


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_grpcio_floor_is_what_the_generated_stubs_check(name: str) -> None:
    floor = _floor(_specifier(name, "grpcio"))
    assert all(floor >= generated for generated in _grpc_generated_versions())


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_setuptools_floor_reads_an_spdx_license(name: str) -> None:
    assert isinstance(_project(name)["project"]["license"], str)
    assert _floor(_specifier(name, "setuptools", "requires")) >= SPDX_LICENSE_SETUPTOOLS


def test_server_requires_the_client_of_its_own_version() -> None:
    client_version = _project("client")["project"]["version"]
    assert str(_specifier("server", "cronstream")) == f"=={client_version}"
