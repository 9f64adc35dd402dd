"""concurrency keys and rate limits

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00

Jobs and event handlers gain a concurrency key and limit and a rate-limit
key (as written); executions gain the keys expanded over their payload, the
limit they count against and the rate-limit key as written. Two new tables
hold the platforms' rate limits and their token buckets
(docs/scheduling.md#concurrency-keys, #rate-limits). The added columns are
nullable without a default: on Postgres adding them rewrites nothing.

ix_job_executions_keyed_running holds the running executions that carry a
concurrency key, by key, for the claim's count; on Postgres it is built
CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cronstream_server.store.types import UtcDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTIONS = "job_executions"
KEYED_RUNNING = "ix_job_executions_keyed_running"
KEYED_RUNNING_WHERE = sa.text("status = 'running' AND concurrency_key IS NOT NULL")
_LIMIT_COLUMNS = ("concurrency_key", "concurrency_limit", "rate_limit_key")


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("concurrency_key", sa.String(length=200), nullable=True),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("rate_limit_key", sa.String(length=200), nullable=True),
    ]


def upgrade() -> None:
    for table in ("scheduled_jobs", "event_handlers"):
        for column in _key_columns():
            op.add_column(table, column)
    for column in _key_columns():
        op.add_column(EXECUTIONS, column)
    op.add_column(EXECUTIONS, sa.Column("rate_limit_template", sa.String(length=200)))
    _create_rate_limit_tables()
    _create_keyed_running_index()


def _create_rate_limit_tables() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=False),
        sa.Column("per_ms", sa.BigInteger(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_rate_limits_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "scope", "name", name=op.f("pk_rate_limits")),
    )
    op.create_table(
        "rate_limit_buckets",
        sa.Column("platform_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id", "scope", "name"],
            ["rate_limits.platform_id", "rate_limits.scope", "rate_limits.name"],
            name=op.f("fk_rate_limit_buckets_platform_id_rate_limits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "platform_id", "scope", "name", "bucket", name=op.f("pk_rate_limit_buckets")
        ),
    )


def _create_keyed_running_index() -> None:
    columns = ["platform_id", "concurrency_key"]
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(KEYED_RUNNING, EXECUTIONS, columns, sqlite_where=KEYED_RUNNING_WHERE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(
            KEYED_RUNNING, table_name=EXECUTIONS, postgresql_concurrently=True, if_exists=True
        )
        op.create_index(
            KEYED_RUNNING,
            EXECUTIONS,
            columns,
            postgresql_where=KEYED_RUNNING_WHERE,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(KEYED_RUNNING, table_name=EXECUTIONS)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(
                KEYED_RUNNING, table_name=EXECUTIONS, postgresql_concurrently=True, if_exists=True
            )
    op.drop_table("rate_limit_buckets")
    op.drop_table("rate_limits")
    with op.batch_alter_table(EXECUTIONS) as batch:
        for name in (*_LIMIT_COLUMNS, "rate_limit_template"):
            batch.drop_column(name)
    for table in ("scheduled_jobs", "event_handlers"):
        with op.batch_alter_table(table) as batch:
            for name in _LIMIT_COLUMNS:
                batch.drop_column(name)
