"""Webhook delivery: one loop per replica fans new alert events out to the
webhooks that want them, claims due deliveries and sends them (docs/alerts.md#webhooks).

A pass fans out, then claims as many due deliveries as there are free
sending slots (`in_flight`) and starts an attempt for each; the next pass
comes when an attempt ends, or after `poll`. Every replica runs it: fan-out
is idempotent and a claim holds its deliveries under a lease
(core.ports.WebhookDeliveryStore), so each attempt is made by one replica.
A replica stopped or killed mid-attempt records nothing; the delivery is
due again when its lease ends, and another replica (or this one, restarted)
makes the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core.ports import WebhookDeliveryStore
from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    RetryPolicy,
    Settled,
    settle,
)

log = logging.getLogger(__name__)

Send = Callable[[ClaimedDelivery], Awaitable[AttemptResult]]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 10.0  # seconds an attempt may take, all told
    # A claim's hold on a delivery: past the longest attempt, so that only
    # a replica that died loses it.
    lease: timedelta = timedelta(seconds=60)
    poll: float = 0.5  # seconds between passes with nothing to do
    in_flight: int = 16  # attempts at once, per replica
    fan_out_batch: int = 500  # events per platform and pass


class WebhookDispatcher:
    def __init__(
        self,
        store: WebhookDeliveryStore,
        send: Send,
        settings: WebhookSettings,
        rng: random.Random | None = None,
    ) -> None:
        if settings.lease <= timedelta(seconds=settings.timeout):
            raise ValueError("a webhook claim's lease must outlast an attempt's timeout")
        self._store = store
        self._send = send
        self._settings = settings
        self._rng = rng or random.Random()
        self._sending: set[asyncio.Task[None]] = set()
        self._ended = asyncio.Event()  # an attempt ended: a slot is free
        self._loop = Background("webhooks", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stops passing, then cancels the attempts in flight (their leases
        bring them back)."""
        await self._loop.stop()
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._ended.clear()
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "webhook pass failed", error)
            await wait_set(self._ended, self._settings.poll)

    async def step(self) -> int:
        """One pass: fan out, claim what the free slots take, start each
        attempt. Returns how many attempts it started."""
        await self._store.fan_out(self._settings.fan_out_batch)
        free = self._settings.in_flight - len(self._sending)
        if free <= 0:
            return 0
        claimed = await self._store.claim(free, self._settings.lease)
        for delivery in claimed:
            task = asyncio.create_task(self._attempt(delivery), name=f"webhook {delivery.id}")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return len(claimed)

    async def _attempt(self, claimed: ClaimedDelivery) -> None:
        try:
            result = await self._send(claimed)
        except Exception:
            log.exception("webhook attempt of delivery %s failed unexpectedly", claimed.id)
            result = AttemptResult(None, "internal error; the server logged it", timedelta(0))
        if not result.succeeded:
            log.info(
                "webhook %s: attempt %d of delivery %s failed: %s",
                claimed.webhook_id,
                claimed.attempt,
                claimed.id,
                result.error,
            )
        try:
            await self._store.record(
                claimed, result, lambda now: self._settle(claimed, result, now)
            )
        except Exception as error:  # its lease brings it back
            log_loop_failure(log, f"recording an attempt of delivery {claimed.id} failed", error)
        finally:
            self._ended.set()

    def _settle(self, claimed: ClaimedDelivery, result: AttemptResult, now: datetime) -> Settled:
        return settle(claimed, result, now, self._settings.policy, self._rng)
