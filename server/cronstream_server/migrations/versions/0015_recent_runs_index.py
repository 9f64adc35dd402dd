"""executions: the runs that ended, by job and instant, for GetRecentRuns

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-09 09:00:00

GetRecentRuns reads the latest runs of up to 200 jobs at once, newest
instant first. No index held a job's runs by instant (uq_job_executions_slot
leaves manual runs out, ix_job_executions_job_id_created_at orders by
creation, which a backfill of past instants does not follow), so each job
cost a read of its whole history and a sort. ix_job_executions_runs holds
only the rows that ended: a row enters with the update that finishes it,
which changes the indexed `status` and so was never a HOT update anyway.

On Postgres the index is built CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
NAME = "ix_job_executions_runs"
COLUMNS = ["job_id", "scheduled_at", "id"]
# As store.tables.FINAL_RUNS writes it.
PREDICATE = "status IN ('success', 'failed', 'timeout', 'cancelled', 'skipped')"


def upgrade() -> None:
    where = sa.text(PREDICATE)
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, TABLE, COLUMNS, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index: start afresh.
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(NAME, TABLE, COLUMNS, postgresql_where=where, postgresql_concurrently=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
