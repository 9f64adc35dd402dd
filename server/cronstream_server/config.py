"""Settings from the environment (twelve-factor); flags of `cronstream serve` mirror them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cronstream_server.core.retention import DEFAULT_RETENTION, parse_retention

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_DATA_DIR = Path(".cronstream")


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
    metrics_port: int | None = None
    # Largest gRPC message accepted; larger ones get RESOURCE_EXHAUSTED from grpc itself.
    max_message_bytes: int = 4 * 1024 * 1024
    # Largest job or event payload, serialized; checked by validation (INVALID_ARGUMENT).
    max_payload_bytes: int = 256 * 1024
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
    # Finished executions (and their logs) are deleted this long after they
    # finished; None keeps them forever (CRONSTREAM_EXECUTION_RETENTION=off).
    execution_retention: timedelta | None = DEFAULT_RETENTION

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def opt(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        cert, key, metrics = (
            opt("CRONSTREAM_TLS_CERT"),
            opt("CRONSTREAM_TLS_KEY"),
            opt("CRONSTREAM_METRICS_PORT"),
        )
        return cls(
            listen=opt("CRONSTREAM_LISTEN") or DEFAULT_LISTEN,
            database_url=opt("CRONSTREAM_DATABASE_URL") or default_database_url(),
            redis_url=opt("CRONSTREAM_REDIS_URL"),
            admin_key=opt("CRONSTREAM_ADMIN_KEY"),
            tls_cert=Path(cert) if cert else None,
            tls_key=Path(key) if key else None,
            metrics_port=int(metrics) if metrics else None,
            max_payload_bytes=int(opt("CRONSTREAM_MAX_PAYLOAD_BYTES") or 256 * 1024),
            shutdown_grace_seconds=float(opt("CRONSTREAM_SHUTDOWN_GRACE_SECONDS") or 10.0),
            ticker=(opt("CRONSTREAM_TICKER") or "on").lower() not in ("off", "false", "0", "no"),
            fire_ahead_seconds=float(opt("CRONSTREAM_FIRE_AHEAD_SECONDS") or 0.5),
            dispatch_poll_seconds=float(opt("CRONSTREAM_DISPATCH_POLL_SECONDS") or 1.0),
            lease_seconds=float(opt("CRONSTREAM_LEASE_SECONDS") or 30.0),
            heartbeat_seconds=float(opt("CRONSTREAM_HEARTBEAT_SECONDS") or 10.0),
            reaper_interval_seconds=float(opt("CRONSTREAM_REAPER_INTERVAL_SECONDS") or 1.0),
            retry_cap_seconds=float(opt("CRONSTREAM_RETRY_CAP_SECONDS") or 3600.0),
            execution_retention=_retention(opt("CRONSTREAM_EXECUTION_RETENTION")),
        )


def _retention(value: str | None) -> timedelta | None:
    if value is None:
        return DEFAULT_RETENTION
    try:
        return parse_retention(value)
    except ValueError as error:
        raise ValueError(f"CRONSTREAM_EXECUTION_RETENTION: {error}") from None
