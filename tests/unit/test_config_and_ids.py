from __future__ import annotations

import re

from cronstream_server.config import DEFAULT_LISTEN, Settings
from cronstream_server.core.ids import is_valid_id, new_id


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.listen == DEFAULT_LISTEN == "127.0.0.1:50051"
    assert settings.database_url == "sqlite+aiosqlite:///.cronstream/cronstream.db"
    assert settings.redis_url is None and settings.admin_key is None
    assert settings.max_payload_bytes == 256 * 1024


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CRONSTREAM_LISTEN": "0.0.0.0:6000",
            "CRONSTREAM_DATABASE_URL": "postgresql+asyncpg://u@db/cs",
            "CRONSTREAM_REDIS_URL": "redis://r:6379/0",
            "CRONSTREAM_ADMIN_KEY": "secret",
            "CRONSTREAM_REDIS_URL_UNUSED": "",
        }
    )
    assert (settings.listen, settings.database_url) == (
        "0.0.0.0:6000",
        "postgresql+asyncpg://u@db/cs",
    )
    assert (settings.redis_url, settings.admin_key) == ("redis://r:6379/0", "secret")


def test_ids_are_uuid7_and_time_ordered() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
        for i in ids
    )
    assert len(set(ids)) == 1000
    prefixes = [i[:13] for i in ids]  # the 48-bit millisecond clock
    assert prefixes == sorted(prefixes)


def test_is_valid_id() -> None:
    assert is_valid_id(new_id())
    assert not is_valid_id("nope")
    assert not is_valid_id("")
    assert not is_valid_id("{12345678-1234-5678-1234-567812345678}")
