"""platforms: a weight; jobs: due jobs indexed per platform (fair ticker claims)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12 09:00:00

The ticker claimed due jobs of every platform by due time alone, so 20,000
one-time jobs one platform made due at one instant came before every other
platform's jobs due a second later, which started seconds late. It now
shares each batch between the platforms with due jobs, by weight
(core.fairness): `platforms.weight` (default 1, set with UpdatePlatform),
and an index of each platform's active jobs by next_run, so a platform's
share is one range scan however many jobs the others have due.

On Postgres the index is built CONCURRENTLY (see 0003 for why); adding a
column with a constant default rewrites nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOBS = "scheduled_jobs"
INDEX = "ix_scheduled_jobs_platform_due"
COLUMNS = ["platform_id", "next_run"]
ACTIVE = sa.text("status = 'active'")  # as store.tables writes it


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(
        "platforms", sa.Column("weight", sa.Integer(), nullable=False, server_default=sa.text("1"))
    )
    if not _postgres():
        op.create_index(INDEX, JOBS, COLUMNS, sqlite_where=ACTIVE)
        return
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index: start afresh.
        op.drop_index(INDEX, table_name=JOBS, postgresql_concurrently=True, if_exists=True)
        op.create_index(INDEX, JOBS, COLUMNS, postgresql_where=ACTIVE, postgresql_concurrently=True)


def downgrade() -> None:
    if not _postgres():
        op.drop_index(INDEX, table_name=JOBS, if_exists=True)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=JOBS, postgresql_concurrently=True, if_exists=True)
    with op.batch_alter_table("platforms") as batch:
        batch.drop_column("weight")
