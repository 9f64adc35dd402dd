"""webhooks: URLs that receive alert events, their deliveries and attempts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00

Webhooks per platform (with their signing secret, kept as issued: the
server signs with it), how far each platform's alert events were fanned
out to them, one delivery per webhook and event, and every attempt of a
delivery (docs/alerts.md#webhooks). New, empty tables only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime, json_type

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", json_type(), nullable=False),
        sa.Column("description", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("starts_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_webhooks_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(
        op.f("ix_webhooks_platform_id_created_at_id"),
        "webhooks",
        ["platform_id", "created_at", "id"],
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("last_cursor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_webhook_cursors_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", name=op.f("pk_webhook_cursors")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("webhook_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("event_cursor", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("alert", json_type(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id",
            "event_cursor",
            name=op.f("uq_webhook_deliveries_webhook_id_event_cursor"),
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("delivery_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("attempted_at", UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "attempt", name=op.f("pk_webhook_attempts")),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_index(
        "ix_webhook_deliveries_due",
        table_name="webhook_deliveries",
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_cursors")
    op.drop_index(op.f("ix_webhooks_platform_id_created_at_id"), table_name="webhooks")
    op.drop_table("webhooks")
