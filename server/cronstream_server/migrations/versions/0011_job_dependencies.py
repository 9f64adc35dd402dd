"""dependencies: schedules that wait for each other

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00

A job may depend on other jobs of its platform (docs/scheduling.md,
"Dependencies"): the edges (`job_dependencies`, gone with either job), how
long a slot waits (`scheduled_jobs.max_wait_ms`, 1 h unless set), and on a
WAITING execution what it still waits for and until when. New columns are
NULL or a constant default, which Postgres adds without rewriting a table.

The gate's partial index holds the waiting executions alone; on Postgres it
is built CONCURRENTLY (see 0003 for why), outside the transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime, json_type

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTIONS = "job_executions"
WAITING_INDEX = "ix_job_executions_waiting"
WAITING = sa.text("status = 'waiting'")


def upgrade() -> None:
    op.add_column(
        "scheduled_jobs",
        sa.Column("max_wait_ms", sa.BigInteger(), server_default="3600000", nullable=False),
    )
    op.add_column(EXECUTIONS, sa.Column("waiting_for", json_type(), nullable=True))
    op.add_column(EXECUTIONS, sa.Column("wait_deadline", UtcDateTime(), nullable=True))
    _create_edges()
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(WAITING_INDEX, EXECUTIONS, ["wait_deadline"], sqlite_where=WAITING)
        return
    with op.get_context().autocommit_block():
        op.drop_index(
            WAITING_INDEX, table_name=EXECUTIONS, postgresql_concurrently=True, if_exists=True
        )
        op.create_index(
            WAITING_INDEX,
            EXECUTIONS,
            ["wait_deadline"],
            postgresql_where=WAITING,
            postgresql_concurrently=True,
        )


def _create_edges() -> None:
    op.create_table(
        "job_dependencies",
        sa.Column("job_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("depends_on_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["scheduled_jobs.id"],
            name=op.f("fk_job_dependencies_job_id_scheduled_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["scheduled_jobs.id"],
            name=op.f("fk_job_dependencies_depends_on_id_scheduled_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_job_dependencies_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "depends_on_id", name=op.f("pk_job_dependencies")),
    )
    op.create_index(
        op.f("ix_job_dependencies_depends_on_id"), "job_dependencies", ["depends_on_id"]
    )
    op.create_index(op.f("ix_job_dependencies_platform_id"), "job_dependencies", ["platform_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(WAITING_INDEX, table_name=EXECUTIONS)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(
                WAITING_INDEX, table_name=EXECUTIONS, postgresql_concurrently=True, if_exists=True
            )
    op.drop_table("job_dependencies")
    op.drop_column(EXECUTIONS, "wait_deadline")
    op.drop_column(EXECUTIONS, "waiting_for")
    op.drop_column("scheduled_jobs", "max_wait_ms")
