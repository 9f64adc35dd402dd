"""jobs: paused_until, and the index the ticker's self-resume reads

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 13:00:00

scheduled_jobs.paused_until holds PauseJob's `until`: when a paused job
resumes by itself (docs/scheduling.md#pause-and-resume). A nullable column
with no default: adding it rewrites no row.

ix_scheduled_jobs_resume (paused_until WHERE paused_until IS NOT NULL) holds
only the jobs paused that way, so the ticker finds those whose instant has
come, and its sleep the earliest of them, by reading that many entries.
On Postgres it is built CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "scheduled_jobs"
INDEX = "ix_scheduled_jobs_resume"
PAUSED_UNTIL = sa.text("paused_until IS NOT NULL")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("paused_until", UtcDateTime(), nullable=True))
    if not _postgres():
        op.create_index(INDEX, TABLE, ["paused_until"], sqlite_where=PAUSED_UNTIL)
        return
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX,
            TABLE,
            ["paused_until"],
            postgresql_where=PAUSED_UNTIL,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    if _postgres():
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(INDEX, table_name=TABLE)
    op.drop_column(TABLE, "paused_until")
