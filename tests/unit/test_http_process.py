"""What the server hands its HTTP port's process for the read server."""

from __future__ import annotations

from cronstream_server.config import Settings
from cronstream_server.core.quotas import Quotas
from cronstream_server.http_process import read_environment, read_settings
from cronstream_server.read_server import ReadSettings


def test_the_read_server_gets_the_server_s_database_key_and_limits() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://cron:s3cret@db.internal:5432/cron",
        admin_key="cs_admin_dev",
        max_payload_bytes=512 * 1024,
        quotas=Quotas(calls_per_second=250.0),
    )
    env = read_environment(settings)
    assert read_settings(env, max_message_bytes=8 * 1024 * 1024) == ReadSettings(
        database_url="postgresql+asyncpg://cron:s3cret@db.internal:5432/cron",
        admin_key="cs_admin_dev",
        max_message_bytes=8 * 1024 * 1024,
        max_payload_bytes=512 * 1024,
        calls_per_second=250.0,
    )


def test_a_server_without_an_admin_key_overrides_one_its_process_would_inherit() -> None:
    env = read_environment(Settings(database_url="sqlite+aiosqlite:///data/cron.db"))
    inherited = {"CRONSTREAM_ADMIN_KEY": "cs_admin_from_the_shell", **env}
    assert read_settings(inherited, max_message_bytes=4 * 1024 * 1024).admin_key is None
