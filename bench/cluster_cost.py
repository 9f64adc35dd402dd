"""What a run cost Postgres, from counters that load on the machine does not
change: transactions committed, WAL written (and how much of it was full
page images), CPU time of the whole cluster, and how many updates of the hot
tables were HOT.

    before = asyncio.run(snapshot(dsn))
    ... the run ...
    cost = asyncio.run(snapshot(dsn)).minus(before, own_transactions=polls)
    cost.per_1000(executions)

The CPU figure needs the cluster on this machine (its postmaster's /proc
entry); on a remote Postgres it is left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

HOT_TABLES = ("job_executions", "scheduled_jobs")


@dataclass(frozen=True)
class Snapshot:
    transactions: int
    wal_bytes: int
    wal_full_page_images: int
    cpu_seconds: float | None
    updates: dict[str, tuple[int, int]]  # table -> (updates, of them HOT)

    def minus(self, earlier: Snapshot, own_transactions: int = 0) -> Cost:
        """The cost of what ran between `earlier` and this; `own_transactions`
        are the harness's own (its polls and these snapshots)."""
        cpu = (
            self.cpu_seconds - earlier.cpu_seconds
            if self.cpu_seconds is not None and earlier.cpu_seconds is not None
            else None
        )
        updates = {
            table: (now[0] - earlier.updates[table][0], now[1] - earlier.updates[table][1])
            for table, now in self.updates.items()
        }
        return Cost(
            transactions=self.transactions - earlier.transactions - own_transactions,
            wal_bytes=self.wal_bytes - earlier.wal_bytes,
            wal_full_page_images=self.wal_full_page_images - earlier.wal_full_page_images,
            cpu_seconds=cpu,
            updates=updates,
        )


@dataclass(frozen=True)
class Cost:
    transactions: int
    wal_bytes: int
    wal_full_page_images: int
    cpu_seconds: float | None
    updates: dict[str, tuple[int, int]]

    def per_1000(self, executions: int) -> dict[str, float | None]:
        """The figures the benchmarks print, per 1,000 executions."""
        per = 1000 / max(executions, 1)
        figures: dict[str, float | None] = {
            "transactions_per_1000": round(self.transactions * per, 1),
            "wal_kib_per_1000": round(self.wal_bytes * per / 1024, 1),
            "wal_full_page_images_per_1000": round(self.wal_full_page_images * per, 1),
            "postgres_cpu_ms_per_1000": (
                round(self.cpu_seconds * per * 1000, 1) if self.cpu_seconds is not None else None
            ),
        }
        for table, (updated, hot) in self.updates.items():
            figures[f"hot_update_share_{table}"] = round(hot / updated, 3) if updated else None
        return figures


# Each snapshot is a transaction of its own in the measured database.
SNAPSHOT_TRANSACTIONS = 1


async def snapshot(dsn: str) -> Snapshot:
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute("select pg_stat_clear_snapshot()")
            row = await connection.fetchrow(
                "select (select xact_commit from pg_stat_database"
                "        where datname = current_database()) as transactions,"
                " pg_current_wal_lsn() - '0/0'::pg_lsn as wal_bytes,"
                " (select wal_fpi from pg_stat_wal) as fpi,"
                " current_setting('data_directory') as data_directory"
            )
            tables = await connection.fetch(
                "select relname, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables"
                " where relname = any($1::text[])",
                list(HOT_TABLES),
            )
    finally:
        await connection.close()
    return Snapshot(
        transactions=int(row["transactions"]),
        wal_bytes=int(row["wal_bytes"]),
        wal_full_page_images=int(row["fpi"]),
        cpu_seconds=cluster_cpu_seconds(Path(row["data_directory"])),
        updates={t["relname"]: (int(t["n_tup_upd"]), int(t["n_tup_hot_upd"])) for t in tables},
    )


def cluster_cpu_seconds(data_directory: Path) -> float | None:
    """User + system CPU of the postmaster, the children it has reaped
    (backends that ended) and the ones alive now; None when the cluster is
    not on this machine."""
    try:
        postmaster = int((data_directory / "postmaster.pid").read_text().split()[0])
        total = _ticks(postmaster, with_reaped_children=True)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent(entry) == postmaster:
                total += _ticks(int(entry.name), with_reaped_children=False)
    except (OSError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces: the fields start after its ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ticks(pid: int, *, with_reaped_children: bool) -> int:
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks


def _parent(entry: Path) -> int | None:
    try:
        return int(_stat_fields(int(entry.name))[1])
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile
