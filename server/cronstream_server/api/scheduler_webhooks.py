"""SchedulerService: webhooks and their deliveries."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.api.webhook_messages import (
    PREFIX,
    delivery_message,
    webhook_message,
    webhook_spec,
)
from cronstream_server.core import webhooks as webhook_rules
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.paging import encode_token, fingerprint, next_page_token, page_request
from cronstream_server.core.validation import raise_if_any
from cronstream_server.core.webhook_delivery import DeliveryAttempt
from cronstream_server.service.webhooks import WebhookUseCases


class WebhookRpcs:
    deps: SchedulerDeps

    @property
    def _webhooks(self) -> WebhookUseCases:
        assert self.deps.webhooks is not None, "server.py gives the servicer its webhooks"
        return self.deps.webhooks

    async def CreateWebhook(
        self, request: pb.CreateWebhookRequest, context: Context
    ) -> pb.CreateWebhookResponse:
        reader = Reader()
        if not request.HasField("webhook"):
            reader.bad(PREFIX, "is required")
            raise_if_any(reader.violations)
        spec = webhook_spec(reader, request.webhook)
        webhook_rules.validate_spec(spec, PREFIX, self._webhooks.rule, reader.violations)
        # A name is judged by what it resolves to now; each delivery judges again.
        refusal = await self._webhooks.targets.refusal(spec.url)
        if refusal is not None:
            raise InvalidArgument.of(f"{PREFIX}.url", f"is refused: {refusal}")
        outcome = await self._webhooks.create(spec, current_platform().platform_id)
        created, secret = await self.deps.done(outcome)
        return pb.CreateWebhookResponse(webhook=webhook_message(created), secret=secret)

    async def GetWebhook(
        self, request: pb.GetWebhookRequest, context: Context
    ) -> pb.GetWebhookResponse:
        webhook = await self._webhooks.store.get_webhook(current_platform().platform_id, request.id)
        return pb.GetWebhookResponse(webhook=webhook_message(webhook))

    async def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: Context
    ) -> pb.ListWebhooksResponse:
        platform_id = current_platform().platform_id
        scope = fingerprint("webhooks", platform_id)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self._webhooks.store.list_webhooks(platform_id, page)
        fitted = fit_page(
            found,
            webhook_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListWebhooksResponse(
            webhooks=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def DeleteWebhook(
        self, request: pb.DeleteWebhookRequest, context: Context
    ) -> pb.DeleteWebhookResponse:
        outcome = await self._webhooks.delete(current_platform().platform_id, request.id)
        await self.deps.done(outcome)
        return pb.DeleteWebhookResponse()

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        platform_id = current_platform().platform_id
        scope = fingerprint("webhook_deliveries", platform_id, request.webhook_id)
        page = page_request(request.page_size, request.page_token, scope)
        if page.after is not None and not (
            len(page.after) == 2 and all(part.isdigit() for part in page.after)
        ):
            raise InvalidArgument.of("page_token", "is not a token this server issued")
        found, last = await self._webhooks.store.list_attempts(
            platform_id, request.webhook_id, page
        )
        fitted = fit_page(
            found,
            delivery_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=fitted.messages, next_page_token=_attempts_token(fitted.last, scope)
        )


def _attempts_token(last: DeliveryAttempt | None, scope: str) -> str:
    """Delivery pages are keyed on (event cursor, attempt)."""
    return "" if last is None else encode_token(last.sort_key, scope)
