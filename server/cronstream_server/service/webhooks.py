"""The webhook use cases (one WebhookStore call each), and what their handlers
read and check with: the store for reads, the allow rule and the target
check for a new webhook's URL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cronstream_server.core.ports import TargetCheck, WebhookStore
from cronstream_server.core.webhook_targets import TargetRule
from cronstream_server.core.webhooks import Webhook, WebhookSpec, new_secret, new_webhook
from cronstream_server.service.outcome import Outcome


class WebhookUseCases:
    def __init__(
        self,
        store: WebhookStore,
        targets: TargetCheck,
        rule: TargetRule,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.targets = targets
        self.rule = rule
        self._now = now

    async def create(self, spec: WebhookSpec, platform_id: str) -> Outcome[tuple[Webhook, str]]:
        """A new webhook of a validated spec, and its secret (shown this once)."""
        secret = new_secret()
        webhook = new_webhook(spec, platform_id, self._now())
        return Outcome((await self.store.create_webhook(webhook, secret), secret))

    async def delete(self, platform_id: str, webhook_id: str) -> Outcome[None]:
        await self.store.delete_webhook(platform_id, webhook_id)
        return Outcome(None)
