"""The status codes the contract lists, read from the proto comments.

Each RPC's comment ends with one line of the form
`Errors: CODE (when), CODE (when), CODE.` (or `Errors: none of its own.`),
and a service's comment may hold `Errors of every call: ...` in the same form:
the codes any of its calls may return besides its own. Parentheses may hold
commas; a code outside them must be a gRPC status code's name.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import grpc

PROTO_DIR = Path(__file__).resolve().parents[1] / "proto" / "cronstream" / "v1"

RPC_MARKER = "Errors:"
SERVICE_MARKER = "Errors of every call:"
NONE = "none of its own"

_DECLARATION = re.compile(r"\s*(service|rpc)\s+(\w+)")
_ITEM = re.compile(r"([A-Z_]+)(?: \((.+)\))?", re.DOTALL)
_CODES = frozenset(code.name for code in grpc.StatusCode)


@dataclass
class Service:
    name: str
    every_call: frozenset[str]
    rpcs: dict[str, frozenset[str]] = field(default_factory=dict)  # rpc -> its own codes

    def listed(self, rpc: str) -> frozenset[str]:
        """Every code `rpc` may return: its own and those of every call."""
        return self.rpcs[rpc] | self.every_call


def read_contract(proto_dir: Path = PROTO_DIR) -> dict[str, Service]:
    """Every service of the .proto files in `proto_dir`, by name."""
    services: dict[str, Service] = {}
    for path in sorted(proto_dir.glob("*.proto")):
        current: Service | None = None
        for kind, name, comment in declarations(path.read_text()):
            where = f"{path.name}: {kind} {name}"
            if kind == "service":
                every_call = errors_clause(comment, SERVICE_MARKER, where)
                current = Service(name, every_call or frozenset())
                services[name] = current
            else:
                assert current is not None, f"{where} outside a service"
                codes = errors_clause(comment, RPC_MARKER, where)
                assert codes is not None, f"{where}: its comment has no `{RPC_MARKER}` line"
                current.rpcs[name] = codes
    return services


def declarations(text: str) -> list[tuple[str, str, str]]:
    """(kind, name, comment) of each `service` and `rpc`, with the `//` lines
    right above it as its comment."""
    found: list[tuple[str, str, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comment.append(stripped[2:].removeprefix(" "))
            continue
        match = _DECLARATION.match(line)
        if match:
            found.append((match[1], match[2], "\n".join(comment)))
        comment = []
    return found


def errors_clause(comment: str, marker: str, where: str) -> frozenset[str] | None:
    """The codes of the comment's `marker` line (which runs to the comment's
    end); None when it has none."""
    lines = comment.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(marker)]
    if not starts:
        return None
    assert len(starts) == 1, f"{where}: more than one `{marker}` line"
    body = " ".join(lines[starts[0] :])[len(marker) :].strip()
    assert body.endswith("."), f"{where}: `{marker}` must end the comment, with a full stop"
    body = body[:-1]
    if body == NONE:
        return frozenset()
    codes: list[str] = []
    for item in split_outside_parentheses(body):
        match = _ITEM.fullmatch(item.strip())
        assert match, f"{where}: {item.strip()!r} is not `CODE` or `CODE (when)`"
        assert match[1] in _CODES, f"{where}: {match[1]} is not a gRPC status code"
        codes.append(match[1])
    assert len(codes) == len(set(codes)), f"{where}: a code is listed twice"
    return frozenset(codes)


def split_outside_parentheses(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        assert depth >= 0, f"unbalanced parentheses in {text!r}"
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    assert depth == 0, f"unbalanced parentheses in {text!r}"
    return [*parts, text[start:]]


def status_table_codes(markdown: str) -> frozenset[str]:
    """The codes of the `| status | when |` table of docs/api.md."""
    lines = markdown.splitlines()
    start = lines.index("| status | when |")
    codes: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        codes.add(line.split("|")[1].strip().strip("`"))
    return frozenset(codes)


def transition_table(markdown: str, heading: str) -> dict[tuple[str, str], str]:
    """The cells of the first table under `heading`, by (row, column): the
    row is the first cell without its backquotes, the column its header."""
    lines = markdown.splitlines()[markdown.splitlines().index(heading) :]
    lines = list(itertools.dropwhile(lambda line: not line.startswith("|"), lines))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines))
    header, _, *rows = [_cells(line) for line in table]
    cells: dict[tuple[str, str], str] = {}
    for row in rows:
        for column, cell in zip(header[1:], row[1:], strict=True):
            cells[row[0].strip("`"), column] = cell
    return cells


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]
