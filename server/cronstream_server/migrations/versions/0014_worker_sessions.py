"""worker_sessions: the registry of the cluster's connected workers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09 09:00:00

Each replica writes the worker streams it serves (inserted at hello, deleted
at close, refreshed every few seconds), so that ListWorkers answers for the
whole cluster from any replica (docs/operations.md#workers). A new, empty
table: nothing is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime, json_type

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "worker_sessions"
INDEXES = (
    ("ix_worker_sessions_platform_id_worker_id_session_id",
     ["platform_id", "worker_id", "session_id"]),
    ("ix_worker_sessions_replica", ["replica"]),
    ("ix_worker_sessions_reported_at", ["reported_at"]),
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("session_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("handler_names", json_type(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("slots_in_use", sa.Integer(), nullable=False),
        sa.Column("connected_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("replica", sa.String(length=200), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_worker_sessions_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_worker_sessions")),
    )
    for name, columns in INDEXES:
        op.create_index(op.f(name), TABLE, columns)


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(op.f(name), table_name=TABLE)
    op.drop_table(TABLE)
