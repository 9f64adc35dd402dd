"""The layers of docs/architecture.md, read from the package's imports.

Every import statement of every module counts, wherever it stands (inside a
function, under TYPE_CHECKING): a layer that names another depends on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cronstream_server

PACKAGE = Path(cronstream_server.__file__).parent
NAME = "cronstream_server"

SQL = ("sqlalchemy", "asyncpg", "aiosqlite", f"{NAME}.store")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import mod` may name a module: both count.
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


@cache
def _imports_of(folder: str) -> tuple[tuple[str, int, str], ...]:
    found = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        found += [(str(path.relative_to(PACKAGE)), line, name) for line, name in _imported(path)]
    return tuple(found)


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        {
            f"{file}:{line} imports {name}"
            for file, line, name in _imports_of(folder)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        }
    )


def test_the_walker_sees_every_kind_of_import() -> None:
    names = {name for _, _, name in _imports_of("engine")}
    assert f"{NAME}.core.ports" in names  # absolute `from ... import`
    assert "asyncio" in names  # plain `import`
    assert f"{NAME}.core.ports.DispatchStore" in names


def test_the_engine_speaks_to_ports_not_to_sql() -> None:
    assert _violations("engine", SQL) == []


def test_signal_adapters_do_not_reach_into_the_engine() -> None:
    assert _violations("signals", (f"{NAME}.engine",)) == []


def test_the_core_is_pure() -> None:
    outside = (
        *("grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.protobuf"),
        *("cronstream.v1", "sqlalchemy", "asyncpg", "aiosqlite", "redis"),
        *(f"{NAME}.{layer}" for layer in ("engine", "store", "api", "service", "signals")),
    )
    assert _violations("core", outside) == []


def test_the_api_speaks_to_services_and_ports_not_to_sql() -> None:
    assert _violations("api", SQL) == []


def test_the_web_port_speaks_grpc_only() -> None:
    # The bridge forwards bytes to gRPC servers (the server's, and the read
    # server beside it): it reaches no use case, store or servicer, so the
    # HTTP port cannot bypass the gRPC edge.
    inside = tuple(
        f"{NAME}.{layer}" for layer in ("api", "service", "store", "engine", "signals", "core")
    )
    assert _violations("web", (*SQL, *inside)) == []
