"""executions: backfilled ones wait for their release outside the claim's index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 09:00:00

BackfillJob's executions are stored WAITING, due at their release time,
with no wait deadline, and the gate makes them PENDING when released
(docs/scheduling.md, "Backfill"). Until then they are outside
ix_job_executions_claim, whose range scan used to read through every one not
yet due. What the gate needs, each a partial index of the rows it reads:

- `sequential`: the execution belongs to a BUFFER_ONE backfill (released
  only once no earlier backfilled execution of its job is unfinished);
  a constant default, which Postgres adds without rewriting the table;
- ix_job_executions_release: the waiting backfilled executions of ALLOW
  backfills by release time;
- ix_job_executions_backfill_open: the unfinished backfilled executions by
  job and instant (a BUFFER_ONE backfill's next one, and whether an earlier
  one still runs);
- ix_job_executions_waiting, rebuilt to hold the slots waiting for their
  dependencies alone (those with a deadline), not the backfilled ones.

On Postgres the indexes are built CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
WAITING = "ix_job_executions_waiting"
# (name, columns, predicate) as store.tables writes them.
NEW = (
    (
        "ix_job_executions_release",
        ["due_at", "id"],
        "status = 'waiting' AND trigger = 'backfill' AND NOT sequential",
    ),
    (
        "ix_job_executions_backfill_open",
        ["job_id", "scheduled_at"],
        "trigger = 'backfill' AND status IN ('waiting', 'pending', 'running')",
    ),
)
WAITING_BEFORE = "status = 'waiting'"
WAITING_AFTER = "status = 'waiting' AND wait_deadline IS NOT NULL"


def _create(name: str, columns: list[str], predicate: str) -> None:
    where = sa.text(predicate)
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(name, TABLE, columns, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index: start afresh.
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, TABLE, columns, postgresql_where=where, postgresql_concurrently=True)


def _drop(name: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)


def upgrade() -> None:
    op.add_column(
        TABLE, sa.Column("sequential", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    for name, columns, predicate in NEW:
        _create(name, columns, predicate)
    # Dropped first, then built anew: for that moment the gate's pass reads
    # waiting rows through the status index, no worse than a slow pass.
    _drop(WAITING)
    _create(WAITING, ["wait_deadline"], WAITING_AFTER)


def downgrade() -> None:
    _drop(WAITING)
    _create(WAITING, ["wait_deadline"], WAITING_BEFORE)
    for name, _, _ in NEW:
        _drop(name)
    op.drop_column(TABLE, "sequential")
