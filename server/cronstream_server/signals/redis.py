"""Signals across replicas through Redis pub/sub.

Publishing delivers to this replica's listeners at once (no round trip) and
PUBLISHes for the others; a background task relays the others' messages.
Messages from this replica come back through Redis too and are dropped by
their origin tag. When Redis is down, publishing logs and skips, the relay
reconnects with backoff, and every listener still polls: latency, not data.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cronstream_server.background import Background
from cronstream_server.signals.local import LocalSignals

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "cronstream:"
_SEPARATOR = "|"
_MAX_BACKOFF_SECONDS = 5.0


class RedisSignals:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        # The subscriber waits indefinitely for messages, so no read timeout;
        # health checks (PINGs) notice a dead connection instead.
        self._subscriber = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, health_check_interval=5
        )
        self._local = LocalSignals()
        self._origin = uuid.uuid4().hex[:12]
        self._relay = Background("redis-signals", self._relay_forever)
        self._healthy = False

    async def start(self) -> None:
        self._relay.start()

    async def stop(self) -> None:
        await self._relay.stop()
        await self._redis.aclose()
        await self._subscriber.aclose()

    async def publish(self, topic: str, message: str) -> None:
        self._local.deliver(topic, message)
        try:
            await self._redis.publish(
                CHANNEL_PREFIX + topic, f"{self._origin}{_SEPARATOR}{message}"
            )
        except (RedisError, OSError) as error:
            self._healthy = False
            log.warning("redis publish failed (%s); other replicas will poll", error)

    def listen(self, topic: str, callback: Callable[[str], None]) -> Callable[[], None]:
        return self._local.listen(topic, callback)

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def _relay_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._relay_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self._healthy = False
                log.warning("redis signals disconnected (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            else:
                backoff = 0.1

    async def _relay_once(self) -> None:
        async with self._subscriber.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.psubscribe(CHANNEL_PREFIX + "*")
            self._healthy = True
            async for item in pubsub.listen():
                self._relay_message(item)

    def _relay_message(self, item: dict[str, object]) -> None:
        channel, data = item.get("channel"), item.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        origin, _, message = data.decode().partition(_SEPARATOR)
        if origin != self._origin:
            self._local.deliver(channel.decode().removeprefix(CHANNEL_PREFIX), message)
