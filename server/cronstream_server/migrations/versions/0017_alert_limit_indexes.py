"""jobs: the few that set their own LATE or OVERRUNNING limit, indexed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-11 09:00:00

The alert watch, four times a second, looked at every pending execution
due by now and every running one, and at each one's job and platform for
its limit: with a backlog of 20,000 pending that was 35 ms of Postgres a
check, though no job and no platform had set a limit. It now asks first
which platforms have a default limit and whether any job sets its own, and
reads only those executions (store.alerts). The second question needs
these indexes: each holds only the jobs that set a positive limit of their
own, so it is small and the question one probe. Neither column changes on
the hot path, so the counters' updates stay HOT.

On Postgres the indexes are built CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOBS = "scheduled_jobs"
# As store.tables writes them.
LIMITS = {
    "ix_scheduled_jobs_start_limit": "max_start_delay_ms > 0",
    "ix_scheduled_jobs_duration_limit": "max_duration_ms > 0",
}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    for name, where in LIMITS.items():
        predicate = sa.text(where)
        if not _postgres():
            op.create_index(name, JOBS, ["id"], sqlite_where=predicate)
            continue
        with op.get_context().autocommit_block():
            # A build interrupted half-way leaves an invalid index: start afresh.
            op.drop_index(name, table_name=JOBS, postgresql_concurrently=True, if_exists=True)
            op.create_index(
                name, JOBS, ["id"], postgresql_where=predicate, postgresql_concurrently=True
            )


def downgrade() -> None:
    for name in LIMITS:
        if not _postgres():
            op.drop_index(name, table_name=JOBS, if_exists=True)
            continue
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=JOBS, postgresql_concurrently=True, if_exists=True)
