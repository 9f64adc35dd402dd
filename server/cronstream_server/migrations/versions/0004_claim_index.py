"""executions: one claim index in claim order

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:30:00

ix_job_executions_claim (platform_id, handler_name, priority DESC, due_at,
id) WHERE pending replaces ix_job_executions_pending (platform_id,
handler_name, priority, due_at). The dispatcher's claim orders by
(priority DESC, due_at, id): with the new index that is one ordered range
scan that stops at its LIMIT, in one query instead of one per priority
level. The old index lacked id, so a backlog due at one instant (a thousand
one-time jobs for 09:00) was sorted whole on every claim.

On Postgres the index is built CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "job_executions"
PENDING = sa.text("status = 'pending'")
CLAIM_COLUMNS = ["platform_id", "handler_name", sa.text("priority DESC"), "due_at", "id"]
OLD_COLUMNS = ["platform_id", "handler_name", "priority", "due_at"]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create(name: str, columns: list[str | sa.TextClause]) -> None:
    if not _postgres():
        op.create_index(name, TABLE, columns, sqlite_where=PENDING)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name, TABLE, columns, postgresql_where=PENDING, postgresql_concurrently=True
        )


def _drop(name: str) -> None:
    if not _postgres():
        op.drop_index(name, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)


def upgrade() -> None:
    _create("ix_job_executions_claim", CLAIM_COLUMNS)
    _drop("ix_job_executions_pending")


def downgrade() -> None:
    _create("ix_job_executions_pending", OLD_COLUMNS)
    _drop("ix_job_executions_claim")
