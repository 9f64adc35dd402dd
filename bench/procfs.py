"""What the benchmarks read from /proc: CPU time of a process or a process
tree, and whether a process listens on a port. Linux only, like the harness."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"  # the TCP state column of /proc/net/tcp


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid`, of its live children, and of the children it has
    reaped (cutime, cstime): a parent that reaps its children, as the
    postmaster does its backends, keeps their time when they exit."""
    fields = _stat_fields(pid)
    total = sum(int(fields[index]) for index in (11, 12, 13, 14)) / TICKS
    for child in _children(pid):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            pass  # exited between the listing and the read: in cutime next time
    return total


def parent(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def children_cpu_seconds(pid: int, marker: str) -> float:
    """CPU time of the live children of `pid` whose command line holds
    `marker` (the benchmark's worker processes, read before they stop)."""
    total = 0.0
    for child in _children(pid):
        try:
            if marker.encode() in Path(f"/proc/{child}/cmdline").read_bytes():
                total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found


def listens(pid: int, port: int) -> bool:
    """True once the process holds a listening TCP socket on `port`: on a
    port shared with SO_REUSEPORT, a health check may be answered by another
    process, so this is how to know that this one has bound it."""
    try:
        mine = {
            os.readlink(link).removeprefix("socket:[").removesuffix("]")
            for link in Path(f"/proc/{pid}/fd").iterdir()
            if os.readlink(link).startswith("socket:[")
        }
    except FileNotFoundError:  # exited, or an fd closed under the listing
        return False
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            columns = line.split()
            local, state, inode = columns[1], columns[3], columns[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port and inode in mine:
                return True
    return False
