"""What a run cost Postgres, from counters that load on the machine does not
change: transactions committed, WAL written (and how much of it was full
page images), and how many updates of the hot tables were HOT. (Its CPU
comes from /proc: bench.procfs.)

    before = asyncio.run(snapshot(dsn))
    ... the run ...
    cost = asyncio.run(snapshot(dsn)).minus(before, own_transactions=polls)
    cost.per_1000(executions)
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

HOT_TABLES = ("job_executions", "scheduled_jobs")


@dataclass(frozen=True)
class Snapshot:
    transactions: int
    wal_bytes: int
    wal_full_page_images: int
    updates: dict[str, tuple[int, int]]  # table -> (updates, of them HOT)

    def minus(self, earlier: Snapshot, own_transactions: int = 0) -> Cost:
        """The cost of what ran between `earlier` and this; `own_transactions`
        are the harness's own (its polls and these snapshots)."""
        updates = {
            table: (now[0] - earlier.updates[table][0], now[1] - earlier.updates[table][1])
            for table, now in self.updates.items()
        }
        return Cost(
            transactions=self.transactions - earlier.transactions - own_transactions,
            wal_bytes=self.wal_bytes - earlier.wal_bytes,
            wal_full_page_images=self.wal_full_page_images - earlier.wal_full_page_images,
            updates=updates,
        )


@dataclass(frozen=True)
class Cost:
    transactions: int
    wal_bytes: int
    wal_full_page_images: int
    updates: dict[str, tuple[int, int]]

    def per_1000(self, executions: int) -> dict[str, float | None]:
        """The figures the benchmarks print, per 1,000 executions."""
        per = 1000 / max(executions, 1)
        figures: dict[str, float | None] = {
            "transactions_per_1000": round(self.transactions * per, 1),
            "wal_kib_per_1000": round(self.wal_bytes * per / 1024, 1),
            "wal_full_page_images_per_1000": round(self.wal_full_page_images * per, 1),
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
                " (select wal_fpi from pg_stat_wal) as fpi"
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
        updates={t["relname"]: (int(t["n_tup_upd"]), int(t["n_tup_hot_upd"])) for t in tables},
    )
