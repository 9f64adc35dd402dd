"""event deliveries: an index on created_at, for their retention

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:00:00

TriggerEvent's idempotency records (`event_deliveries`) are now deleted
with the executions they name, once older than the execution retention
(`store.retention.delete_old_deliveries`). Each batch takes the oldest
records: a range scan of this index that stops at its LIMIT, rather than a
scan of the whole table. On Postgres it is built CONCURRENTLY (see 0003).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "event_deliveries"
NAME = "ix_event_deliveries_created_at"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, TABLE, ["created_at"])
        return
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(NAME, TABLE, ["created_at"], postgresql_concurrently=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
