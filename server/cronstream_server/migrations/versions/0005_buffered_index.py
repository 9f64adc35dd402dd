"""executions: an index of the buffered executions alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:20:00

Every batch of results releases the BUFFER_ONE execution waiting behind
each finished one (`store.buffered.release_buffered`): an UPDATE of the
pending rows of up to 1,000 jobs whose due_at is the far-future marker.
Through ix_job_executions_job_id_created_at that was a probe of every job's
executions, 10-60 ms a batch under load, for rows that almost never exist.
This partial index holds only the buffered rows, so the probes find nothing
at once, however long each job's history and however large the backlog.

On Postgres it is built CONCURRENTLY (see 0003 for why). SQLite keeps times
as ISO text, so its predicate names the marker in that form.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
NAME = "ix_job_executions_buffered"
BUFFERED = sa.text("status = 'pending' AND due_at = '9999-12-31 00:00:00+00'")
BUFFERED_SQLITE = sa.text("status = 'pending' AND due_at = '9999-12-31 00:00:00.000000'")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, TABLE, ["job_id"], sqlite_where=BUFFERED_SQLITE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            NAME, TABLE, ["job_id"], postgresql_where=BUFFERED, postgresql_concurrently=True
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
