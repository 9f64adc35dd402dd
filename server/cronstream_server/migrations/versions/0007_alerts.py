"""alerts: job health policies, platform defaults, alerts and their events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00

A job's health policy and derived health (columns of scheduled_jobs), the
alerts opened when a job departs from its policy, and the stream of their
openings and resolutions that WatchAlerts resumes from (docs/alerts.md).
The new tables are empty and the new columns nullable or defaulted, so
nothing is rewritten on Postgres.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime, json_type

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state = 'open'")


PLATFORM_DEFAULTS = (
    ("default_max_start_delay_ms", sa.BigInteger),
    ("default_max_duration_ms", sa.BigInteger),
    ("default_consecutive_failures", sa.Integer),
    ("default_alert_on_missed", sa.Boolean),
    ("default_pause_on_failure", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        for name, kind in PLATFORM_DEFAULTS:
            batch_op.add_column(sa.Column(name, kind(), nullable=True))
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_start_delay_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_duration_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("consecutive_failures", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alert_on_missed", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("pause_on_failure", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("failure_streak", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("health", sa.String(length=16), server_default="healthy", nullable=False)
        )
        batch_op.add_column(sa.Column("health_since", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("health_reason", sa.Text(), nullable=True))
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("job_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("job_name", sa.String(length=200), nullable=False),
        sa.Column("handler_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("execution_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("scheduled_at", UtcDateTime(), nullable=True),
        sa.Column("paused_job", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["scheduled_jobs.id"],
            name=op.f("fk_alerts_job_id_scheduled_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_alerts_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "ix_alerts_open",
        "alerts",
        ["job_id", "kind"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        op.f("ix_alerts_platform_id_opened_at_id"),
        "alerts",
        ["platform_id", "opened_at", "id"],
    )
    op.create_table(
        "alert_events",
        sa.Column(
            "cursor",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("alert_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("alert", json_type(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_events_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_alert_events_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_alert_events")),
    )
    op.create_index(
        op.f("ix_alert_events_platform_id_cursor"), "alert_events", ["platform_id", "cursor"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_events_platform_id_cursor"), table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index(op.f("ix_alerts_platform_id_opened_at_id"), table_name="alerts")
    op.drop_index("ix_alerts_open", table_name="alerts", postgresql_where=OPEN, sqlite_where=OPEN)
    op.drop_table("alerts")
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        for column in (
            "health_reason",
            "health_since",
            "health",
            "failure_streak",
            "pause_on_failure",
            "alert_on_missed",
            "consecutive_failures",
            "max_duration_ms",
            "max_start_delay_ms",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        for name, _ in reversed(PLATFORM_DEFAULTS):
            batch_op.drop_column(name)
