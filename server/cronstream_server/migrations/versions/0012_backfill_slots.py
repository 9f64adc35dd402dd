"""executions: a slot is unique whether the ticker or a backfill made it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00

uq_job_executions_slot (job_id, scheduled_at) held the ticker's executions
(trigger 'schedule') alone. BackfillJob creates executions of past instants
marked 'backfill', and an instant must have one execution whoever made it:
a backfill skips the instants the ticker fired, a second backfill skips the
first one's, and the ticker, were it to fire an instant a backfill ran,
skips it too. So the index now holds both triggers.

On Postgres the new index is built CONCURRENTLY under a temporary name (see
0003 for why), then the old one is dropped and the new one takes its name:
at every moment one of them serves the ticker's INSERT ... ON CONFLICT,
whose target (`WHERE trigger = 'schedule'`, in code older than this) the
new predicate is implied by. SQLite matches an ON CONFLICT target's
predicate by its text, so code and index change together there (SQLite is
one process, migrated before it serves).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
NAME = "uq_job_executions_slot"
BUILDING = "uq_job_executions_slot_next"
COLUMNS = ["job_id", "scheduled_at"]
SLOTS = "trigger IN ('schedule', 'backfill')"
SCHEDULED = "trigger = 'schedule'"


def _replace(predicate: str) -> None:
    """uq_job_executions_slot anew, with `predicate`."""
    where = sa.text(predicate)
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name=TABLE)
        op.create_index(NAME, TABLE, COLUMNS, unique=True, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index: start afresh.
        op.drop_index(BUILDING, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            BUILDING,
            TABLE,
            COLUMNS,
            unique=True,
            postgresql_where=where,
            postgresql_concurrently=True,
        )
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.execute(f"ALTER INDEX {BUILDING} RENAME TO {NAME}")


def upgrade() -> None:
    _replace(SLOTS)


def downgrade() -> None:
    # Backfilled executions stay; each is unique among the ticker's anyway.
    _replace(SCHEDULED)
