"""jobs: indexes of the jobs with a start delay or a duration limit

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 11:00:00

The alert check (store.alerts) runs four times a second and, before it
reads the pending or running executions, asks whether any job (or any
platform's defaults) sets a max_start_delay or a max_duration at all. Most
jobs set neither: these partial indexes hold only those that do, so the
question is one probe of an index that is usually empty, and a backlog of
pending executions is not read for nothing. On Postgres they are built
CONCURRENTLY (see 0003).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "scheduled_jobs"
INDEXES = {
    "ix_scheduled_jobs_max_start_delay": sa.text("max_start_delay_ms > 0"),
    "ix_scheduled_jobs_max_duration": sa.text("max_duration_ms > 0"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, where in INDEXES.items():
            op.create_index(name, TABLE, ["id"], sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        for name, where in INDEXES.items():
            op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
            op.create_index(
                name, TABLE, ["id"], postgresql_where=where, postgresql_concurrently=True
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name in INDEXES:
            op.drop_index(name, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
