"""The server and every client carry the contract's version (VERSION): they move together."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / "VERSION").read_text().strip()


def _pyproject(path: Path) -> str:
    version: str = tomllib.loads(path.read_text())["project"]["version"]
    return version


def _match(path: Path, pattern: str) -> str:
    found = re.search(pattern, path.read_text(), flags=re.M)
    assert found, f"no version in {path}"
    return found.group(1)


def test_every_package_has_the_contract_version() -> None:
    versions = {
        "server": _pyproject(ROOT / "pyproject.toml"),
        "python client": _pyproject(ROOT / "clients" / "python" / "pyproject.toml"),
        "python __version__": _match(
            ROOT / "clients" / "python" / "cronstream" / "_version.py", r'__version__ = "([^"]+)"'
        ),
        "go client": _match(
            ROOT / "clients" / "go" / "cronstream.go", r'const Version = "([^"]+)"'
        ),
        "typescript client": json.loads(
            (ROOT / "clients" / "typescript" / "package.json").read_text()
        )["version"],
    }
    pom = ROOT / "clients" / "java" / "pom.xml"
    if pom.exists():
        versions["java client"] = _match(
            pom, r"<artifactId>cronstream-client</artifactId>\s*<version>([^<]+)</version>"
        )
    assert versions == dict.fromkeys(versions, VERSION)
