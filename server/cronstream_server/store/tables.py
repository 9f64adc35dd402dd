"""The schema: one place that names tables, columns and indexes.

Column names follow the seed (ScheduledJob, JobExecution, JobExecutionLog,
EventHandler) in snake_case; durations are integer milliseconds (`*_ms`),
times are UTC. Everything a platform owns references it with ON DELETE
CASCADE, so deleting a platform is one statement.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)

from cronstream_server.store.types import UtcDateTime, json_type

# Key in an object's `info` naming the only dialect it exists on (read by
# migrations/env.py, since Alembic's comparison does not honour `ddl_if`).
ONLY_ON_DIALECT = "only_on_dialect"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[str]:
    return Column("id", Uuid(as_uuid=False), primary_key=True)


def _platform_fk() -> Column[str]:
    return Column(
        "platform_id",
        Uuid(as_uuid=False),
        ForeignKey("platforms.id", ondelete="CASCADE"),
        nullable=False,
    )


platforms = Table(
    "platforms",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # The platform's default health policy (SetHealthDefaults): what a job's
    # unset policy fields take; NULL falls back to the documented default.
    Column("default_max_start_delay_ms", BigInteger),
    Column("default_max_duration_ms", BigInteger),
    Column("default_consecutive_failures", Integer),
    Column("default_alert_on_missed", Boolean),
    Column("default_pause_on_failure", Boolean),
    # Its share of each batch of due jobs beside other platforms' (core.fairness).
    Column("weight", Integer, nullable=False, server_default=text("1")),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _platform_fk(),
    Column("name", String(200), nullable=False),
    # SHA-256 of the secret: secrets are 256 random bits, so a fast hash is
    # as strong as a slow one and keeps authentication off the hot path.
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Index(None, "platform_id", "created_at"),
)

# Storage parameters of scheduled_jobs, set by migration 0016 (Alembic does
# not compare them).
JOBS_STORAGE = {"fillfactor": 80}
# The jobs that set a positive LATE or OVERRUNNING limit of their own
# (ix_scheduled_jobs_start_limit and _duration_limit; store.alerts).
START_LIMIT = "max_start_delay_ms > 0"
DURATION_LIMIT = "max_duration_ms > 0"

scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    _id(),
    _platform_fk(),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    # Trigger: exactly the columns of its type are set.
    Column("schedule", String(200)),  # cron expression
    Column("timezone", String(64)),
    Column("run_at", UtcDateTime()),
    Column("interval_ms", BigInteger),
    Column("start_at", UtcDateTime()),
    Column("end_at", UtcDateTime()),
    Column("max_runs", Integer),
    Column("event_name", String(200)),
    Column("next_run", UtcDateTime()),
    Column("last_run", UtcDateTime()),
    Column("handler_name", String(200), nullable=False),
    Column("handler_type", String(16), nullable=False, server_default="function"),
    Column("payload", json_type()),
    Column("max_retries", Integer, nullable=False, server_default="3"),
    Column("retry_delay_ms", BigInteger, nullable=False, server_default="60000"),
    Column("timeout_ms", BigInteger, nullable=False, server_default="300000"),
    Column("priority", SmallInteger, nullable=False, server_default="2"),
    Column("overlap_policy", String(16), nullable=False, server_default="allow"),
    Column("misfire_policy", String(16), nullable=False, server_default="run_once"),
    Column("catchup_window_ms", BigInteger, nullable=False, server_default="3600000"),
    Column("jitter_ms", BigInteger, nullable=False, server_default="0"),
    Column("runs_count", Integer, nullable=False, server_default="0"),
    Column("executions_count", BigInteger, nullable=False, server_default="0"),
    Column("success_count", BigInteger, nullable=False, server_default="0"),
    Column("failure_count", BigInteger, nullable=False, server_default="0"),
    Column("avg_duration_ms", BigInteger),
    Column("tags", json_type(), nullable=False),
    Column("metadata", json_type(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("request_id", String(200)),
    # W3C trace context of the call that created or last updated the job:
    # each scheduled firing starts a trace of its own that links to it.
    Column("traceparent", String(64)),
    Column("tracestate", String(512)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("cancelled_at", UtcDateTime()),
    # Health policy (docs/alerts.md); NULL takes the documented default.
    Column("max_start_delay_ms", BigInteger),
    Column("max_duration_ms", BigInteger),
    Column("consecutive_failures", Integer),
    Column("alert_on_missed", Boolean),
    Column("pause_on_failure", Boolean),
    # Finished attempts in a row that failed or timed out (FAILING counts them).
    Column("failure_streak", Integer, nullable=False, server_default="0"),
    # The job's health: the worst of its open alerts ('healthy' when none).
    Column("health", String(16), nullable=False, server_default="healthy"),
    Column("health_since", UtcDateTime()),
    Column("health_reason", Text),
    # How long a slot waits for the jobs it depends on (job_dependencies).
    Column("max_wait_ms", BigInteger, nullable=False, server_default="3600000"),
    # When a job paused with PauseJob's `until` resumes by itself; NULL
    # whenever the job is not paused that way.
    Column("paused_until", UtcDateTime()),
    # Concurrency key and limit, rate-limit key: as written (core.limits).
    Column("concurrency_key", String(200)),
    Column("concurrency_limit", Integer),
    Column("rate_limit_key", String(200)),
    UniqueConstraint("platform_id", "request_id"),
    # Only the indexes a query reads (migration 0016, docs/storage.md): the
    # ticker moves a job at every firing and each result counts on it.
    # Listing: newest first within a platform, keyset-paged on (created_at, id).
    Index(None, "platform_id", "created_at", "id"),
    # The ticker's claim: active jobs by due time, nothing else in the index.
    Index(
        "ix_scheduled_jobs_due",
        "next_run",
        postgresql_where=text("status = 'active'"),
        sqlite_where=text("status = 'active'"),
    ),
    # The ticker's fair claim: each platform's active jobs by due time, so a
    # platform's share of a batch is one range scan however many jobs other
    # platforms have due (migration 0018, core.fairness).
    Index(
        "ix_scheduled_jobs_platform_due",
        "platform_id",
        "next_run",
        postgresql_where=text("status = 'active'"),
        sqlite_where=text("status = 'active'"),
    ),
    # TriggerEvent's listeners: the event jobs of a platform by event name,
    # nothing else in the index (migration 0016).
    Index(
        "ix_scheduled_jobs_events",
        "platform_id",
        "event_name",
        postgresql_where=text("type = 'event'"),
        sqlite_where=text("type = 'event'"),
    ),
    # The alert watch's question whether any job sets its own LATE or
    # OVERRUNNING limit: only the jobs that do (migration 0017).
    Index(
        "ix_scheduled_jobs_start_limit",
        "id",
        postgresql_where=text(START_LIMIT),
        sqlite_where=text(START_LIMIT),
    ),
    Index(
        "ix_scheduled_jobs_duration_limit",
        "id",
        postgresql_where=text(DURATION_LIMIT),
        sqlite_where=text(DURATION_LIMIT),
    ),
    # The ticker's self-resume: paused jobs by `until`, nothing else in the index.
    Index(
        "ix_scheduled_jobs_resume",
        "paused_until",
        postgresql_where=text("paused_until IS NOT NULL"),
        sqlite_where=text("paused_until IS NOT NULL"),
    ),
    Index(
        "ix_scheduled_jobs_tags",
        "tags",
        postgresql_using="gin",
        postgresql_ops={"tags": "jsonb_path_ops"},
        info={ONLY_ON_DIALECT: "postgresql"},
    ).ddl_if(dialect="postgresql"),
    # Postgres storage (migration 0016): room on each page for the new
    # versions of the counters' updates, which touch no indexed column (HOT).
    postgresql_with=JOBS_STORAGE,
)

event_handlers = Table(
    "event_handlers",
    metadata,
    _id(),
    _platform_fk(),
    Column("event_name", String(200), nullable=False),
    Column("handler_name", String(200), nullable=False),
    Column("handler_type", String(16), nullable=False, server_default="function"),
    Column("payload", json_type()),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("priority", SmallInteger, nullable=False, server_default="2"),
    Column("max_retries", Integer, nullable=False, server_default="3"),
    Column("retry_delay_ms", BigInteger, nullable=False, server_default="60000"),
    Column("timeout_ms", BigInteger, nullable=False, server_default="300000"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("concurrency_key", String(200)),
    Column("concurrency_limit", Integer),
    Column("rate_limit_key", String(200)),
    Index(None, "event_name"),
    Index(None, "enabled"),
    Index(None, "platform_id", "event_name"),
)

# The executions that are slots of a job's schedule: the ticker's firings and
# BackfillJob's. The predicate of uq_job_executions_slot, which every INSERT
# ... ON CONFLICT of slots names as its conflict target word for word
# (SQLite matches a partial index's predicate by its text, not by implication).
SLOT_TRIGGERS = "trigger IN ('schedule', 'backfill')"
# The statuses of an execution not finished (ix_job_executions_live).
LIVE_STATUSES = "status IN ('waiting', 'pending', 'running')"

# Storage parameters of job_executions; Alembic does not compare them, so
# migration 0003 sets them itself (and a change here needs a migration too).
EXECUTIONS_STORAGE = {
    "fillfactor": 85,
    "autovacuum_vacuum_scale_factor": 0.02,
    "autovacuum_vacuum_insert_scale_factor": 0.05,
}

job_executions = Table(
    "job_executions",
    metadata,
    _id(),
    # No foreign key to platforms on Postgres (migration 0016): an execution
    # belongs to a job or an event handler, whose own keys cascade from the
    # platform, and the check cost each insert a share lock on the one
    # platform row that every concurrent insert takes too (40 us a row, more
    # than half the insert). SQLite keeps it: there a check is a local
    # lookup, and dropping it would copy the whole table.
    Column("platform_id", Uuid(as_uuid=False), nullable=False),
    ForeignKeyConstraint(
        ["platform_id"],
        ["platforms.id"],
        name="fk_job_executions_platform_id_platforms",
        ondelete="CASCADE",
        info={ONLY_ON_DIALECT: "sqlite"},
    ).ddl_if(dialect="sqlite"),
    Column("job_id", Uuid(as_uuid=False), ForeignKey("scheduled_jobs.id", ondelete="CASCADE")),
    Column(
        "event_handler_id",
        Uuid(as_uuid=False),
        ForeignKey("event_handlers.id", ondelete="CASCADE"),
    ),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("handler_name", String(200), nullable=False),
    Column("payload", json_type()),
    Column("priority", SmallInteger, nullable=False),
    Column("scheduled_at", UtcDateTime(), nullable=False),
    # When a pending execution may be dispatched: scheduled_at, or the retry time.
    Column("due_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
    Column("duration_ms", BigInteger),
    Column("result", json_type()),
    Column("error", Text),
    Column("error_stack", Text),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("retry_count", Integer, nullable=False, server_default="0"),
    Column("max_retries", Integer, nullable=False),
    Column("retry_delay_ms", BigInteger, nullable=False),
    Column("timeout_ms", BigInteger, nullable=False),
    Column("next_retry_at", UtcDateTime()),
    Column("worker_id", String(200)),
    Column("session_id", String(64)),
    Column("lease_expires_at", UtcDateTime()),
    Column("deadline_at", UtcDateTime()),
    Column("metadata", json_type()),
    Column("trace_id", String(32)),
    Column("span_id", String(16)),
    Column("parent_span_id", String(16)),
    Column("traceparent", String(64)),
    Column("tracestate", String(512)),
    Column("created_at", UtcDateTime(), nullable=False),
    # WAITING (core.dependencies): the job ids its slot still waits for, as
    # the gate last saw them, and when it stops waiting.
    Column("waiting_for", json_type()),
    Column("wait_deadline", UtcDateTime()),
    # Its job's or handler's keys, expanded over its payload when it was
    # created (core.limits), with the concurrency limit it counts against
    # and the rate-limit key as written (a RateLimit's key matches that).
    Column("concurrency_key", String(200)),
    Column("concurrency_limit", Integer),
    Column("rate_limit_key", String(200)),
    Column("rate_limit_template", String(200)),
    # A BUFFER_ONE backfill's (core.backfill): released once no earlier
    # backfilled execution of its job is unfinished (migration 0013).
    Column("sequential", Boolean, nullable=False, server_default=false()),
    # Every index costs a new entry at each write of an execution (none of
    # them is HOT): only those a query reads are kept (migration 0016, the
    # audit in docs/storage.md). A job's history, newest first.
    Index(None, "job_id", "created_at"),
    # A platform's executions, newest first, keyset-paged on (created_at, id).
    Index(None, "platform_id", "created_at", "id"),
    # The rows not finished, by status: the queue gauges read these alone; a
    # row leaves it when it finishes.
    Index(
        "ix_job_executions_live",
        "status",
        postgresql_where=text(LIVE_STATUSES),
        sqlite_where=text(LIVE_STATUSES),
    ),
    # One execution per (job, scheduled slot): whichever replica fires a slot
    # second, or a backfill of an instant already fired (and the ticker after
    # a backfill), hits this index and inserts nothing. Manual and event runs
    # are not slots of the schedule, so they are left out (migration 0012).
    Index(
        "uq_job_executions_slot",
        "job_id",
        "scheduled_at",
        unique=True,
        postgresql_where=text(SLOT_TRIGGERS),
        sqlite_where=text(SLOT_TRIGGERS),
    ),
    # Retention: finished executions oldest first (store.retention), so a
    # pass reads the rows it deletes, not the table; rows not finished are
    # left out (they would enter at the insert and again at the claim).
    Index(
        "ix_job_executions_completed",
        "completed_at",
        postgresql_where=text("completed_at IS NOT NULL"),
        sqlite_where=text("completed_at IS NOT NULL"),
    ),
    # The reaper: running executions by deadline. No index may hold
    # lease_expires_at: heartbeats move it every few seconds for every running
    # execution, and an update that changes an indexed column cannot be HOT
    # (it adds an entry to every index of the table). Running rows are few, so
    # expired leases are found among this index's rows.
    Index(
        "ix_job_executions_deadlines",
        "deadline_at",
        postgresql_where=text("status = 'running'"),
        sqlite_where=text("status = 'running'"),
    ),
    # The claim counts the running executions of each concurrency key it
    # admits to (store.queries_limits): those rows alone, by key. Heartbeats
    # change neither column, so their updates stay HOT.
    Index(
        "ix_job_executions_keyed_running",
        "platform_id",
        "concurrency_key",
        postgresql_where=text("status = 'running' AND concurrency_key IS NOT NULL"),
        sqlite_where=text("status = 'running' AND concurrency_key IS NOT NULL"),
    ),
    # Postgres storage (migration 0003): room on each page for the new
    # versions of heartbeat updates (HOT), and autovacuum after 2% of the rows
    # are dead (5% newly inserted) rather than 20%.
    postgresql_with=EXECUTIONS_STORAGE,
)

# BUFFER_ONE: the executions waiting for their job's running one (due at
# store.buffered.FAR_FUTURE), found by job when a result releases them; only
# those rows are in it (migration 0005). SQLite keeps times as ISO text.
Index(
    "ix_job_executions_buffered",
    job_executions.c.job_id,
    postgresql_where=text("status = 'pending' AND due_at = '9999-12-31 00:00:00+00'"),
    sqlite_where=text("status = 'pending' AND due_at = '9999-12-31 00:00:00.000000'"),
)

# Dispatch: pending work of a platform's handler in claim order (highest
# priority, then oldest due, then id), so a claim is one range scan.
Index(
    "ix_job_executions_claim",
    job_executions.c.platform_id,
    job_executions.c.handler_name,
    job_executions.c.priority.desc(),
    job_executions.c.due_at,
    job_executions.c.id,
    postgresql_where=text("status = 'pending'"),
    sqlite_where=text("status = 'pending'"),
)

# The gate (store.gate): the executions waiting for their dependencies,
# nearest deadline first; only those rows are in it, so a pass costs what
# waits, not the table. Backfilled ones wait without a deadline, apart.
WAITING_WITH_DEADLINE = "status = 'waiting' AND wait_deadline IS NOT NULL"
Index(
    "ix_job_executions_waiting",
    job_executions.c.wait_deadline,
    postgresql_where=text(WAITING_WITH_DEADLINE),
    sqlite_where=text(WAITING_WITH_DEADLINE),
)

# The release (store.queries_release): an ALLOW backfill's waiting
# executions by release time, so a pass reads those due and stops.
RELEASE_ALLOW = "status = 'waiting' AND trigger = 'backfill' AND NOT sequential"
Index(
    "ix_job_executions_release",
    job_executions.c.due_at,
    job_executions.c.id,
    postgresql_where=text(RELEASE_ALLOW),
    sqlite_where=text(RELEASE_ALLOW),
)

# Unfinished backfilled executions by job and instant: a job's earliest is
# one probe (a BUFFER_ONE backfill releases that one and no other), however
# many of its backfilled executions have finished or still wait.
BACKFILL_OPEN = "trigger = 'backfill' AND status IN ('waiting', 'pending', 'running')"
Index(
    "ix_job_executions_backfill_open",
    job_executions.c.job_id,
    job_executions.c.scheduled_at,
    postgresql_where=text(BACKFILL_OPEN),
    sqlite_where=text(BACKFILL_OPEN),
)

# GetRecentRuns (store.recent_runs): a job's runs that ended, newest instant
# first, so its latest few are one backward range scan however long its
# history. A row enters when it ends: that update changes `status`, which
# partial indexes name, so it was never HOT and costs one entry more;
# pending and running rows (the insert and heartbeat path) are not in it.
FINAL_RUNS = "status IN ('success', 'failed', 'timeout', 'cancelled', 'skipped')"
Index(
    "ix_job_executions_runs",
    job_executions.c.job_id,
    job_executions.c.scheduled_at,
    job_executions.c.id,
    postgresql_where=text(FINAL_RUNS),
    sqlite_where=text(FINAL_RUNS),
)

# Edges between a platform's jobs (core.dependencies): `job_id` depends on
# `depends_on_id`, `position` keeps the order its depends_on named them. An
# edge goes with either of its jobs (ON DELETE CASCADE).
job_dependencies = Table(
    "job_dependencies",
    metadata,
    Column(
        "job_id",
        Uuid(as_uuid=False),
        ForeignKey("scheduled_jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "depends_on_id",
        Uuid(as_uuid=False),
        ForeignKey("scheduled_jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _platform_fk(),
    Column("position", SmallInteger, nullable=False),
    # Deleting a job finds the edges that name it; a check loads a platform's.
    Index(None, "depends_on_id"),
    Index(None, "platform_id"),
)


# A platform's rate limits (docs/scheduling.md#rate-limits): of a key as
# written (scope 'key') or of a handler (scope 'handler').
rate_limits = Table(
    "rate_limits",
    metadata,
    Column(
        "platform_id",
        Uuid(as_uuid=False),
        ForeignKey("platforms.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("scope", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("starts", Integer, nullable=False),  # executions started per `per`
    Column("per_ms", BigInteger, nullable=False),
    Column("burst", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The token buckets of the rate limits: one per expanded key of a key's
# limit ('' for a handler's), written by the claim under its per-bucket lock.
# No row: a full bucket. Setting a limit anew or deleting it drops them.
rate_limit_buckets = Table(
    "rate_limit_buckets",
    metadata,
    Column("platform_id", Uuid(as_uuid=False), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("bucket", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["platform_id", "scope", "name"],
        ["rate_limits.platform_id", "rate_limits.scope", "rate_limits.name"],
        ondelete="CASCADE",
    ),
)


job_execution_logs = Table(
    "job_execution_logs",
    metadata,
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column(
        "execution_id",
        Uuid(as_uuid=False),
        ForeignKey("job_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("timestamp", UtcDateTime(), nullable=False),
    Column("level", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("fields", json_type()),
    Index(None, "execution_id", "timestamp"),
    Index(None, "level"),
)

# Idempotency of TriggerEvent: the executions the first call with a request_id created.
event_deliveries = Table(
    "event_deliveries",
    metadata,
    _platform_fk(),
    Column("request_id", String(200), nullable=False),
    Column("event_name", String(200), nullable=False),
    Column("execution_ids", json_type(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("platform_id", "request_id"),
    Index(None, "created_at"),  # retention takes the oldest first
)

# A job's departure from its health policy (docs/alerts.md). At most one
# open alert per job and kind: the partial unique index makes opening one
# idempotent across replicas.
alerts = Table(
    "alerts",
    metadata,
    _id(),
    _platform_fk(),
    Column(
        "job_id",
        Uuid(as_uuid=False),
        ForeignKey("scheduled_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("job_name", String(200), nullable=False),
    Column("handler_name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # late, missed, overrunning, failing
    Column("state", String(16), nullable=False),  # open, resolved
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    Column("reason", Text, nullable=False),
    Column("execution_id", Uuid(as_uuid=False)),
    Column("scheduled_at", UtcDateTime()),
    Column("paused_job", Boolean, nullable=False, server_default="0"),
    Index(
        "ix_alerts_open",
        "job_id",
        "kind",
        unique=True,
        postgresql_where=text("state = 'open'"),
        sqlite_where=text("state = 'open'"),
    ),
    # Listing: most recently opened first within a platform, keyset-paged.
    Index(None, "platform_id", "opened_at", "id"),
)

# Every opening and resolution, in the order they committed per platform
# (store.alerts serializes a platform's writers), for WatchAlerts to resume
# from a cursor. `alert` is the alert as it stood after the change.
alert_events = Table(
    "alert_events",
    metadata,
    Column(
        "cursor",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _platform_fk(),
    Column(
        "alert_id",
        Uuid(as_uuid=False),
        ForeignKey("alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("type", String(16), nullable=False),  # opened, resolved
    Column("at", UtcDateTime(), nullable=False),
    Column("alert", json_type(), nullable=False),
    Index(None, "platform_id", "cursor"),
)

# Webhooks (docs/alerts.md#webhooks): URLs a platform's alert events are
# POSTed to, signed with the webhook's secret.
webhooks = Table(
    "webhooks",
    metadata,
    _id(),
    _platform_fk(),
    Column("url", String(2048), nullable=False),
    Column("events", json_type(), nullable=False),  # ["opened", "resolved"]; [] is all
    Column("description", String(1000), nullable=False, server_default=""),
    # Kept as issued, not hashed: an HMAC signature needs the key itself. It
    # is never sent back after CreateWebhook.
    Column("secret", String(64), nullable=False),
    # The platform's last alert event cursor when the webhook was created: it
    # receives the later events only.
    Column("starts_after", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "platform_id", "created_at", "id"),
)

# How far each platform's alert events were fanned out to its webhooks. Per
# platform, not one for all: a platform's events commit in cursor order
# (store.queries_alerts takes its advisory lock), two platforms' need not.
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column(
        "platform_id",
        Uuid(as_uuid=False),
        ForeignKey("platforms.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("last_cursor", BigInteger, nullable=False),
)

# One event to deliver to one webhook, with the alert as the event carried
# it (the alert's row may go with its job before the delivery is done).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    Column(
        "webhook_id",
        Uuid(as_uuid=False),
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_cursor", BigInteger, nullable=False),
    Column("event_type", String(16), nullable=False),  # opened, resolved
    Column("alert_id", Uuid(as_uuid=False), nullable=False),
    Column("alert", json_type(), nullable=False),
    Column("status", String(16), nullable=False),  # pending, succeeded, failed
    Column("attempts", Integer, nullable=False, server_default="0"),  # claimed so far
    # When the next attempt is due; while one is in flight, when its lease
    # ends (a replica that died mid-attempt leaves it due again then).
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("webhook_id", "event_cursor"),  # fan-out is idempotent
    # The claim's range scan: pending rows by due time.
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

# Every attempt of a delivery: what the receiver answered, and where the
# delivery stood after it.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        Uuid(as_uuid=False),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("response_code", Integer),
    Column("error", Text, nullable=False, server_default=""),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("next_attempt_at", UtcDateTime()),
)

# The worker sessions of every replica (core.workers, docs/operations.md#workers):
# a replica inserts a row when a stream opens, deletes it when it closes and
# refreshes its rows every few seconds; a row not refreshed for a while is a
# dead replica's, left out of lists and then deleted.
worker_sessions = Table(
    "worker_sessions",
    metadata,
    Column("session_id", Uuid(as_uuid=False), primary_key=True),
    _platform_fk(),
    Column("worker_id", String(200), nullable=False),
    Column("handler_names", json_type(), nullable=False),  # sorted
    Column("slots", Integer, nullable=False),
    Column("slots_in_use", Integer, nullable=False),
    Column("connected_at", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),  # as of the last report
    Column("replica", String(200), nullable=False),
    Column("reported_at", UtcDateTime(), nullable=False),  # the database's clock
    # Listing: a platform's sessions by worker id then session, keyset-paged.
    Index(None, "platform_id", "worker_id", "session_id"),
    # A stopping replica deletes its rows; every report deletes the stale ones.
    Index(None, "replica"),
    Index(None, "reported_at"),
)
