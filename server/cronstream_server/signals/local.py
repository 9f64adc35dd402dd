"""In-process signals: the single-replica default, and the local half of Redis."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger(__name__)


class LocalSignals:
    def __init__(self) -> None:
        self._listeners: defaultdict[str, list[Callable[[str], None]]] = defaultdict(list)

    async def publish(self, topic: str, message: str) -> None:
        self.deliver(topic, message)

    def deliver(self, topic: str, message: str) -> None:
        for callback in list(self._listeners.get(topic, ())):
            try:
                callback(message)
            except Exception:  # one broken listener must not starve the others
                log.exception("signal listener for %s failed", topic)

    def listen(self, topic: str, callback: Callable[[str], None]) -> Callable[[], None]:
        self._listeners[topic].append(callback)

        def stop() -> None:
            if callback in self._listeners[topic]:
                self._listeners[topic].remove(callback)

        return stop

    @property
    def healthy(self) -> bool:
        return True
