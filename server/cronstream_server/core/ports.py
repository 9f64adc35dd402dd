"""The interfaces the domain needs from the outside world.

Adapters live in `cronstream_server.store` (one SQL implementation that runs on
Postgres and SQLite) and `cronstream_server.signals`. The same contract tests
run over every adapter, so each method's docstring is its specification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cronstream_server.core.paging import PageRequest
from cronstream_server.core.tenancy import ApiKey, NewSecret, Platform, PlatformPrincipal


class AdminStore(Protocol):
    async def create_platform(self, name: str) -> Platform:
        """Creates a platform; raises AlreadyExists when the name is taken."""
        ...

    async def get_platform(self, platform_id: str) -> Platform:
        """Returns the platform; raises NotFound for an unknown or malformed id."""
        ...

    async def find_platform_by_name(self, name: str) -> Platform | None:
        """The platform with this name, if any."""
        ...

    async def list_platforms(self, page: PageRequest) -> tuple[list[Platform], Platform | None]:
        """At most `page.size` platforms, oldest first, after `page.after`
        (a key from `platform_sort_key`); the second value is the last row
        returned when more rows follow, else None."""
        ...

    async def delete_platform(self, platform_id: str) -> None:
        """Deletes the platform and, by cascade, everything it owns: keys,
        jobs, executions, logs, event handlers. Raises NotFound."""
        ...

    async def create_api_key(self, platform_id: str, name: str, secret: NewSecret) -> ApiKey:
        """Stores a key (its hash, never the secret). Raises NotFound for the platform."""
        ...

    async def list_api_keys(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[ApiKey], ApiKey | None]:
        """The platform's keys, oldest first, revoked ones included; paged like
        `list_platforms`. Raises NotFound for the platform."""
        ...

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Marks the key revoked (idempotent). Raises NotFound."""
        ...

    async def authenticate(self, secret_hash: str) -> PlatformPrincipal | None:
        """The principal of the unrevoked key with this hash, or None."""
        ...

    async def ping(self) -> None:
        """A round trip to the database; raises Unavailable when it is down."""
        ...


class Signals(Protocol):
    """Wake-ups between the parts of one replica and across replicas.

    A signal is a hint that something changed, never the change itself: a lost
    signal may cost latency (the listener polls as a fallback), never data.
    Topics: `jobs` (a job was created or rescheduled; message: its next_run as
    ISO 8601), `work` (pending executions appeared; message: platform id),
    `cancel` (stop an execution; message: execution id).
    """

    async def publish(self, topic: str, message: str) -> None:
        """Delivers `message` to this replica's listeners of `topic` at once, and
        to the other replicas' when a broker is configured. Never raises: a broker
        that is down is logged and skipped."""
        ...

    def listen(self, topic: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Calls `callback(message)` (in the event loop, without awaiting) for every
        message on `topic`; returns a function that stops listening."""
        ...

    @property
    def healthy(self) -> bool:
        """False while a configured broker is unreachable."""
        ...
