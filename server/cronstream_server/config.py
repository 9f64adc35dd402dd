"""Settings from the environment (twelve-factor); flags of `cronstream serve` mirror them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cronstream_server.core.backfill import DEFAULT_RATE as DEFAULT_BACKFILL_RATE
from cronstream_server.core.backfill import MAX_RATE as MAX_BACKFILL_RATE
from cronstream_server.core.quotas import (
    DEFAULT_CALLS_PER_SECOND,
    DEFAULT_JOBS,
    DEFAULT_WORKER_STREAMS,
    Quotas,
)
from cronstream_server.core.retention import DEFAULT_RETENTION, parse_retention
from cronstream_server.core.webhook_delivery import RetryPolicy
from cronstream_server.core.webhook_targets import TargetRule, parse_deny

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_DATA_DIR = Path(".cronstream")
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # grpc's own default
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
# The smallest message limit accepted: four payloads of the default size. One
# execution carries a payload and a result of up to max_payload_bytes each,
# plus its error text, and must still fit in a message (GetExecution, a list
# page of one) with room to spare; so the limit must also be at least four
# times max_payload_bytes when that is raised.
MIN_MESSAGE_BYTES = 1024 * 1024
PAYLOADS_PER_MESSAGE = 4


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The embedded default: a SQLite file under ./.cronstream/."""
    return f"sqlite+aiosqlite:///{data_dir / 'cronstream.db'}"


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    admin_key: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A PEM bundle: when set, clients must present a certificate it signed (mTLS).
    tls_client_ca: Path | None = None
    # Share the listening port with other processes (SO_REUSEPORT) on purpose;
    # off, an address already in use stops the server at start.
    reuse_port: bool = False
    # Where /metrics is served ("host:port"); None: no metrics are kept.
    metrics_listen: str | None = None
    # Where the dashboard and its gRPC-web bridge are served ("host:port");
    # None: no HTTP port (docs/dashboard.md#serving).
    http_listen: str | None = None
    # The dashboard's link from a trace id to a trace viewer, "{trace_id}"
    # standing for the id (http://localhost:16686/trace/{trace_id}); None: no link.
    trace_url: str | None = None
    # Largest gRPC message accepted; larger ones get RESOURCE_EXHAUSTED from grpc itself.
    # List pages are cut to fit under it (api/paging.py).
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # Largest job or event payload, serialized; checked by validation (INVALID_ARGUMENT).
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    # Seconds a SIGTERM'd server keeps accepting results before it hands work back.
    shutdown_grace_seconds: float = 10.0
    # Whether this replica runs a ticker. An API-only replica (off) still serves
    # every call; the replicas that tick fire its jobs.
    ticker: bool = True
    # How long before its instant the ticker fires a slot (writes its
    # execution, due at the instant), so that it starts on time; 0 fires at
    # the instant. Only jobs whose overlap policy is ALLOW fire ahead.
    fire_ahead_seconds: float = 0.5
    # The dispatcher's fallback poll for due work, should a signal be lost.
    dispatch_poll_seconds: float = 1.0
    # The worker stream: a lease lasts this long without a heartbeat; workers are
    # asked to heartbeat this often; expired leases and deadlines are looked for
    # this often; retry backoff never grows past the cap (before its jitter).
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    reaper_interval_seconds: float = 1.0
    retry_cap_seconds: float = 3600.0
    # Per-platform quotas (core/quotas.py); 0 turns one off.
    quotas: Quotas = field(default_factory=Quotas)
    # Finished executions (and their logs) are deleted this long after they
    # finished; None keeps them forever (CRONSTREAM_EXECUTION_RETENTION=off).
    execution_retention: timedelta | None = DEFAULT_RETENTION
    # Webhooks (docs/alerts.md#webhooks): the addresses they may not target
    # beyond those always refused (CRONSTREAM_WEBHOOK_DENY), and how long a
    # delivery is retried before it is FAILED (CRONSTREAM_WEBHOOK_RETRY_FOR).
    webhook_rule: TargetRule = field(default_factory=TargetRule)
    webhook_retry_for: timedelta = RetryPolicy().retry_for
    # BackfillJob: executions a call releases to workers per second
    # (docs/scheduling.md#backfill-running-a-past-range).
    backfill_rate: float = DEFAULT_BACKFILL_RATE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def opt(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        cert, key, client_ca = (
            opt("CRONSTREAM_TLS_CERT"),
            opt("CRONSTREAM_TLS_KEY"),
            opt("CRONSTREAM_TLS_CLIENT_CA"),
        )
        max_payload = int(opt("CRONSTREAM_MAX_PAYLOAD_BYTES") or DEFAULT_MAX_PAYLOAD_BYTES)
        return cls(
            listen=opt("CRONSTREAM_LISTEN") or DEFAULT_LISTEN,
            database_url=opt("CRONSTREAM_DATABASE_URL") or default_database_url(),
            redis_url=opt("CRONSTREAM_REDIS_URL"),
            admin_key=opt("CRONSTREAM_ADMIN_KEY"),
            tls_cert=Path(cert) if cert else None,
            tls_key=Path(key) if key else None,
            tls_client_ca=Path(client_ca) if client_ca else None,
            reuse_port=(opt("CRONSTREAM_REUSE_PORT") or "0").lower() in ("1", "true", "yes", "on"),
            metrics_listen=_metrics_listen(opt),
            http_listen=opt("CRONSTREAM_HTTP_LISTEN"),
            trace_url=_trace_url(opt("CRONSTREAM_TRACE_URL")),
            max_message_bytes=_message_bytes(opt("CRONSTREAM_MAX_MESSAGE_BYTES"), max_payload),
            max_payload_bytes=max_payload,
            shutdown_grace_seconds=float(opt("CRONSTREAM_SHUTDOWN_GRACE_SECONDS") or 10.0),
            ticker=(opt("CRONSTREAM_TICKER") or "on").lower() not in ("off", "false", "0", "no"),
            fire_ahead_seconds=float(opt("CRONSTREAM_FIRE_AHEAD_SECONDS") or 0.5),
            dispatch_poll_seconds=float(opt("CRONSTREAM_DISPATCH_POLL_SECONDS") or 1.0),
            lease_seconds=float(opt("CRONSTREAM_LEASE_SECONDS") or 30.0),
            heartbeat_seconds=float(opt("CRONSTREAM_HEARTBEAT_SECONDS") or 10.0),
            reaper_interval_seconds=float(opt("CRONSTREAM_REAPER_INTERVAL_SECONDS") or 1.0),
            retry_cap_seconds=float(opt("CRONSTREAM_RETRY_CAP_SECONDS") or 3600.0),
            execution_retention=_retention(opt("CRONSTREAM_EXECUTION_RETENTION")),
            webhook_rule=_webhook_deny(opt("CRONSTREAM_WEBHOOK_DENY")),
            webhook_retry_for=_webhook_retry_for(opt("CRONSTREAM_WEBHOOK_RETRY_FOR")),
            backfill_rate=_backfill_rate(opt("CRONSTREAM_BACKFILL_RATE")),
            quotas=Quotas(
                jobs=_count("CRONSTREAM_QUOTA_JOBS", opt, DEFAULT_JOBS),
                worker_streams=_count(
                    "CRONSTREAM_QUOTA_WORKER_STREAMS", opt, DEFAULT_WORKER_STREAMS
                ),
                calls_per_second=float(
                    _count("CRONSTREAM_QUOTA_CALLS_PER_SECOND", opt, int(DEFAULT_CALLS_PER_SECOND))
                ),
            ),
        )


def _metrics_listen(opt: Callable[[str], str | None]) -> str | None:
    listen = opt("CRONSTREAM_METRICS_LISTEN")
    port = opt("CRONSTREAM_METRICS_PORT")  # the older name: a port on every interface
    if listen is None and port is not None:
        if not port.isdigit():
            raise ValueError(f"CRONSTREAM_METRICS_PORT: {port!r} is not a port")
        return f":{port}"
    return listen


def _trace_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or "{trace_id}" not in value:
        raise ValueError(
            f"CRONSTREAM_TRACE_URL: {value!r} is not an http(s) URL with {{trace_id}} in it,"
            " such as http://localhost:16686/trace/{trace_id}"
        )
    return value


def _message_bytes(value: str | None, max_payload_bytes: int) -> int:
    # Unset keeps the default unchecked: a raised CRONSTREAM_MAX_PAYLOAD_BYTES
    # served before this variable was read, and must still start.
    if value is None:
        return DEFAULT_MAX_MESSAGE_BYTES
    try:
        size = int(value)
    except ValueError:
        raise ValueError(
            f"CRONSTREAM_MAX_MESSAGE_BYTES: {value!r} is not a whole number of bytes"
        ) from None
    least = max(MIN_MESSAGE_BYTES, PAYLOADS_PER_MESSAGE * max_payload_bytes)
    if size < least:
        raise ValueError(
            f"CRONSTREAM_MAX_MESSAGE_BYTES: {size} is too small; at least {least} "
            f"({MIN_MESSAGE_BYTES} and {PAYLOADS_PER_MESSAGE} times CRONSTREAM_MAX_PAYLOAD_BYTES,"
            " so that an execution's payload and result fit in one message)"
        )
    return size


def _count(name: str, opt: Callable[[str], str | None], default: int) -> int:
    """A whole number, 0 or more (0: no limit)."""
    value = opt(name)
    if value is None:
        return default
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number") from None
    if count < 0:
        raise ValueError(f"{name}: must be 0 (no limit) or more")
    return count


def _retention(value: str | None) -> timedelta | None:
    if value is None:
        return DEFAULT_RETENTION
    try:
        return parse_retention(value)
    except ValueError as error:
        raise ValueError(f"CRONSTREAM_EXECUTION_RETENTION: {error}") from None


def _webhook_deny(value: str | None) -> TargetRule:
    try:
        return parse_deny(value or "")
    except ValueError as error:
        raise ValueError(f"CRONSTREAM_WEBHOOK_DENY: {error}") from None


def _webhook_retry_for(value: str | None) -> timedelta:
    if value is None:
        return RetryPolicy().retry_for
    try:
        retry_for = parse_retention(value)
    except ValueError:
        retry_for = None
    if retry_for is None:
        raise ValueError(
            f"CRONSTREAM_WEBHOOK_RETRY_FOR: {value!r} is not a duration: use a number and a "
            "unit (d, h, m, s) such as 24h or 90m"
        )
    return retry_for


def _backfill_rate(value: str | None) -> float:
    if value is None:
        return DEFAULT_BACKFILL_RATE
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= MAX_BACKFILL_RATE:
        raise ValueError(
            f"CRONSTREAM_BACKFILL_RATE: {value!r} is not a rate: use executions per second, "
            f"more than 0 and at most {MAX_BACKFILL_RATE:g}"
        )
    return rate
