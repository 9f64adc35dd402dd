"""`make run`: the embedded set-up for a developer's machine.

Keeps the admin key and the `default` platform's API key in
`.cronstream/dev-keys.json` (mode 0600), one entry per database URL, so that
every run prints the same keys; a key the database no longer knows (a fresh
database, a revoked key) is replaced by a new one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from cronstream_server.config import DEFAULT_DATA_DIR, Settings
from cronstream_server.core.tenancy import hash_secret, new_secret
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.database import create_engine

DEV_KEYS_FILE = DEFAULT_DATA_DIR / "dev-keys.json"
DEFAULT_PLATFORM = "default"


@dataclass(frozen=True)
class DevKeys:
    admin_key: str
    platform_id: str
    api_key: str


def _load(path: Path) -> dict[str, object]:
    try:
        loaded = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _save(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def admin_key_for(settings: Settings, path: Path = DEV_KEYS_FILE) -> str:
    """CRONSTREAM_ADMIN_KEY if set, else the one kept from earlier runs, else a new one."""
    if settings.admin_key:
        return settings.admin_key
    data = _load(path)
    key = data.get("admin_key")
    if not isinstance(key, str):
        key = "cs_admin_" + secrets.token_urlsafe(32)
        _save(path, {**data, "admin_key": key})
    return key


async def ensure_default_platform(settings: Settings, path: Path = DEV_KEYS_FILE) -> DevKeys:
    """The `default` platform and a working API key for it, created on first use."""
    admin_key = admin_key_for(settings, path)
    data = _load(path)
    databases = data.get("databases")
    databases = dict(databases) if isinstance(databases, dict) else {}
    kept = databases.get(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        store = SqlAdminStore(engine)
        platform = await store.find_platform_by_name(DEFAULT_PLATFORM)
        if platform is None:
            platform = await store.create_platform(DEFAULT_PLATFORM)
        api_key = kept.get("api_key") if isinstance(kept, dict) else None
        principal = await store.authenticate(hash_secret(api_key)) if api_key else None
        if (
            not isinstance(api_key, str)
            or principal is None
            or (principal.platform_id != platform.id)
        ):
            secret = new_secret()
            await store.create_api_key(platform.id, "make-run", secret)
            api_key = secret.secret
    finally:
        await engine.dispose()
    databases[settings.database_url] = {"platform_id": platform.id, "api_key": api_key}
    _save(path, {**data, "admin_key": admin_key, "databases": databases})
    return DevKeys(admin_key=admin_key, platform_id=platform.id, api_key=api_key)


def banner(settings: Settings, keys: DevKeys) -> str:
    address = settings.listen
    tls = "" if settings.tls_cert else "-plaintext "
    return "\n".join(
        [
            "",
            f"Cronstream is serving on {address}",
            f"  database      {_redact(settings.database_url)}",
            f"  admin key     {keys.admin_key}",
            f"  platform      {DEFAULT_PLATFORM} ({keys.platform_id})",
            f"  API key       {keys.api_key}",
            *_metrics_line(settings),
            *_dashboard_line(settings),
            "",
            "Try it:",
            f"  export CRONSTREAM_ADMIN_KEY={keys.admin_key}",
            f"  export CRONSTREAM_API_KEY={keys.api_key}",
            f'  grpcurl {tls}-H "authorization: Bearer $CRONSTREAM_API_KEY" \\',
            "    -d '" + _EXAMPLE_JOB + "' \\",
            f"    {address} cronstream.v1.SchedulerService/CreateJob",
            "",
            "Stop with Ctrl-C.",
            "",
        ]
    )


# Every five seconds, so that a newcomer's worker has something to do at once.
_EXAMPLE_JOB = json.dumps(
    {"job": {"name": "hello", "handler_name": "say_hello", "interval": {"every": "5s"}}}
)


def _metrics_line(settings: Settings) -> list[str]:
    if settings.metrics_listen is None:
        return []
    host, _, port = settings.metrics_listen.rpartition(":")
    return [f"  metrics       http://{host or '127.0.0.1'}:{port}/metrics"]


def _dashboard_line(settings: Settings) -> list[str]:
    if settings.http_listen is None:
        return []
    host, _, port = settings.http_listen.rpartition(":")
    return [f"  dashboard     http://{host or '127.0.0.1'}:{port}/"]


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# Where `make run` serves /metrics unless CRONSTREAM_METRICS_LISTEN says
# otherwise: the port OpenTelemetry's Prometheus exporter uses by default.
DEV_METRICS_LISTEN = "127.0.0.1:9464"
# Where `make run` serves the dashboard unless CRONSTREAM_HTTP_LISTEN says otherwise.
DEV_HTTP_LISTEN = "127.0.0.1:8080"


def dev_settings(settings: Settings) -> Settings:
    """`make run` always has an admin key (the kept one when none is
    configured), serves metrics and the dashboard."""
    return replace(
        settings,
        admin_key=admin_key_for(settings),
        metrics_listen=settings.metrics_listen or DEV_METRICS_LISTEN,
        http_listen=settings.http_listen or DEV_HTTP_LISTEN,
    )
