"""Exit codes, translated once: one per gRPC status, so a script tells a
missing job (15) from a server it cannot reach (24) without reading text.

0 is success, 1 an error of the command itself (a server command that cannot
start), 2 a usage error (Click's own: an unknown option, a bad value), and a
call that failed with a gRPC status exits with 10 + the status's number
(docs/cli.md has the table).
"""

from __future__ import annotations

import grpc
from cronstream.errors import CronstreamError, InvalidArgumentError
from rich.console import Console
from rich.markup import escape

OK = 0
ERROR = 1
USAGE = 2
#: The shell's convention for a command ended by SIGINT (128 + 2).
INTERRUPTED = 130
#: Added to a gRPC status's number (NOT_FOUND = 5 -> 15).
STATUS_BASE = 10


def status_exit_code(code: grpc.StatusCode) -> int:
    number: int = code.value[0]
    return STATUS_BASE + number


def report(error: CronstreamError, console: Console) -> int:
    """Prints the error to `console` (stderr): its status and message, and
    each field violation of an INVALID_ARGUMENT on a line of its own; returns
    the exit code."""
    console.print(f"error: {escape(error.code.name)}: {escape(error.message)}", highlight=False)
    if isinstance(error, InvalidArgumentError):
        for violation in error.violations:
            console.print(
                f"  {escape(violation.field)}: {escape(violation.description)}", highlight=False
            )
    return status_exit_code(error.code)
