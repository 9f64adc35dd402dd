"""executions and jobs: only the indexes a query reads, live rows only where
that is all a query reads

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 09:00:00

Every execution is inserted, claimed and settled, and neither update can be
HOT (each changes `status`, which partial indexes name), so each of the three
writes a new entry into every index the row falls in: with 18 indexes on
job_executions that was about 35 index entries per execution, and 6 KiB of
WAL. The audit (docs/storage.md) found indexes no query reads, and indexes
over every row where the query reads only some:

- job_executions: `status`, `started_at`, `scheduled_at`, `created_at` and
  `trace_id` serve no query (listings go by platform or job, the slot
  guard and the backfill by uq_job_executions_slot, the claim, the reaper
  and the alert watch by partial indexes of their status). `status` gives
  way to ix_job_executions_live, which holds only the rows not finished (the
  cluster's queue gauges read those; a finished row leaves it). The
  retention's `completed_at` now holds only the rows that have one.
- scheduled_jobs: `status`, `type`, `handler_name`, `created_at` and
  `next_run` serve no query (listings and selectors go by platform, the
  ticker by ix_scheduled_jobs_due); the one query `type` served, TriggerEvent's
  lookup of a platform's event jobs by name, gets ix_scheduled_jobs_events,
  which holds the event jobs alone. The ticker's move of a job changes
  `next_run` and maybe `status`; every result changes the job's counters. A
  fillfactor of 80 leaves room on each page so that the counters' updates,
  which touch no indexed column, can be HOT (new pages only).

- job_executions' foreign key to platforms goes, on Postgres: each insert's
  check took a share lock on the one platform row every concurrent insert
  locks too, 40 us a row, more than half the cost of inserting a slot. An
  execution belongs to a job or an event handler, and both cascade from the
  platform, so DeletePlatform still removes its executions.

On Postgres indexes are built and dropped CONCURRENTLY (see 0003 for why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTIONS = "job_executions"
JOBS = "scheduled_jobs"
# As store.tables writes them.
LIVE = "status IN ('waiting', 'pending', 'running')"
COMPLETED = "completed_at IS NOT NULL"
UNREAD_EXECUTION_COLUMNS = ("status", "started_at", "scheduled_at", "created_at", "trace_id")
UNREAD_JOB_COLUMNS = ("status", "type", "handler_name", "created_at", "next_run")
JOBS_STORAGE = {"fillfactor": "80"}
PLATFORM_KEY = "fk_job_executions_platform_id_platforms"
EVENT_JOBS = "ix_scheduled_jobs_events"
EVENT_JOB = "type = 'event'"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create(table: str, name: str, columns: list[str], where: str | None = None) -> None:
    predicate = sa.text(where) if where else None
    if not _postgres():
        op.create_index(name, table, columns, sqlite_where=predicate)
        return
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index: start afresh.
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name, table, columns, postgresql_where=predicate, postgresql_concurrently=True
        )


def _drop(table: str, name: str) -> None:
    if not _postgres():
        op.drop_index(name, table_name=table, if_exists=True)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def upgrade() -> None:
    # The narrower indexes first, so no query is ever without one.
    _create(EXECUTIONS, "ix_job_executions_live", ["status"], LIVE)
    _create(EXECUTIONS, "ix_job_executions_completed", ["completed_at"], COMPLETED)
    for column in UNREAD_EXECUTION_COLUMNS:
        _drop(EXECUTIONS, f"ix_job_executions_{column}")
    _drop(EXECUTIONS, "ix_job_executions_completed_at")
    _create(JOBS, EVENT_JOBS, ["platform_id", "event_name"], EVENT_JOB)
    for column in UNREAD_JOB_COLUMNS:
        _drop(JOBS, f"ix_scheduled_jobs_{column}")
    if _postgres():
        options = ", ".join(f"{key} = {value}" for key, value in JOBS_STORAGE.items())
        op.execute(f"ALTER TABLE {JOBS} SET ({options})")
        op.drop_constraint(PLATFORM_KEY, EXECUTIONS, type_="foreignkey")


def downgrade() -> None:
    if _postgres():
        # NOT VALID, then validated: the check of the existing rows runs
        # without blocking the writes (the table may be large).
        op.execute(
            f"ALTER TABLE {EXECUTIONS} ADD CONSTRAINT {PLATFORM_KEY} FOREIGN KEY (platform_id)"
            " REFERENCES platforms (id) ON DELETE CASCADE NOT VALID"
        )
        op.execute(f"ALTER TABLE {EXECUTIONS} VALIDATE CONSTRAINT {PLATFORM_KEY}")
        op.execute(f"ALTER TABLE {JOBS} RESET ({', '.join(JOBS_STORAGE)})")
    for column in UNREAD_JOB_COLUMNS:
        _create(JOBS, f"ix_scheduled_jobs_{column}", [column])
    _create(EXECUTIONS, "ix_job_executions_completed_at", ["completed_at"])
    for column in UNREAD_EXECUTION_COLUMNS:
        _create(EXECUTIONS, f"ix_job_executions_{column}", [column])
    _drop(EXECUTIONS, "ix_job_executions_completed")
    _drop(EXECUTIONS, "ix_job_executions_live")
    _drop(JOBS, EVENT_JOBS)
