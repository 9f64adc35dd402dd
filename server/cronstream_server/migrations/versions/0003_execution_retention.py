"""executions: retention index, heartbeat-friendly reaper index, storage

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 04:00:00

- ix_job_executions_completed_at serves the retention's deletes.
- ix_job_executions_leases (lease_expires_at WHERE running) gives way to
  ix_job_executions_deadlines (deadline_at WHERE running): heartbeats change
  lease_expires_at, and while an index holds it no heartbeat can be a HOT
  update.
- Postgres: fillfactor 85 leaves room on each page for those HOT updates
  (new pages only: existing ones fill up as they are rewritten), and
  autovacuum runs after 2% of the rows are dead instead of 20%.

On Postgres the indexes are built CONCURRENTLY, outside the migration's
transaction: the executions table may be large by now, and a plain CREATE
INDEX would hold its writes (every dispatch, result and heartbeat) for as
long as the build takes. A build interrupted half-way leaves an invalid
index, so each one is dropped first if it exists.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
RUNNING = sa.text("status = 'running'")
STORAGE = {
    "fillfactor": "85",
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create(name: str, column: str, where: sa.TextClause | None = None) -> None:
    if not _postgres():
        op.create_index(name, TABLE, [column], sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, TABLE, [column], postgresql_where=where, postgresql_concurrently=True)


def _drop(name: str) -> None:
    if not _postgres():
        op.drop_index(name, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)


def upgrade() -> None:
    _create("ix_job_executions_completed_at", "completed_at")
    _create("ix_job_executions_deadlines", "deadline_at", RUNNING)
    _drop("ix_job_executions_leases")
    if _postgres():
        options = ", ".join(f"{key} = {value}" for key, value in STORAGE.items())
        op.execute(f"ALTER TABLE {TABLE} SET ({options})")


def downgrade() -> None:
    if _postgres():
        op.execute(f"ALTER TABLE {TABLE} RESET ({', '.join(STORAGE)})")
    _create("ix_job_executions_leases", "lease_expires_at", RUNNING)
    _drop("ix_job_executions_deadlines")
    _drop("ix_job_executions_completed_at")
