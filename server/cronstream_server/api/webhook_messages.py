"""Protobuf <-> domain for webhooks and their deliveries."""

from __future__ import annotations

from cronstream.v1 import alert_pb2, webhook_pb2

from cronstream_server.api.convert import Reader
from cronstream_server.api.convert_common import timestamp
from cronstream_server.core.alerts import AlertEventType
from cronstream_server.core.webhook_delivery import DeliveryAttempt, DeliveryStatus
from cronstream_server.core.webhooks import Webhook, WebhookSpec

PREFIX = "webhook"

EVENT_TYPE = {
    AlertEventType.OPENED: alert_pb2.ALERT_EVENT_TYPE_OPENED,
    AlertEventType.RESOLVED: alert_pb2.ALERT_EVENT_TYPE_RESOLVED,
}
DELIVERY_STATUS = {
    DeliveryStatus.PENDING: webhook_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    DeliveryStatus.SUCCEEDED: webhook_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
    DeliveryStatus.FAILED: webhook_pb2.WEBHOOK_DELIVERY_STATUS_FAILED,
}


def webhook_spec(reader: Reader, message: webhook_pb2.Webhook) -> WebhookSpec:
    """What CreateWebhook reads of its webhook; a type named twice counts once."""
    events = reader.enums(f"{PREFIX}.events", message.events, EVENT_TYPE)
    return WebhookSpec(
        url=message.url,
        events=tuple(dict.fromkeys(events)),
        description=message.description,
    )


def webhook_message(webhook: Webhook) -> webhook_pb2.Webhook:
    """The webhook as the API shows it: never with its secret."""
    return webhook_pb2.Webhook(
        id=webhook.id,
        platform_id=webhook.platform_id,
        url=webhook.spec.url,
        events=[EVENT_TYPE[event] for event in webhook.spec.events],
        created_at=timestamp(webhook.created_at),
        description=webhook.spec.description,
    )


def delivery_message(attempt: DeliveryAttempt) -> webhook_pb2.WebhookDelivery:
    message = webhook_pb2.WebhookDelivery(
        id=attempt.delivery_id,
        webhook_id=attempt.webhook_id,
        event_cursor=attempt.event_cursor,
        event_type=EVENT_TYPE.get(attempt.event_type, alert_pb2.ALERT_EVENT_TYPE_UNSPECIFIED),
        alert_id=attempt.alert_id,
        attempt=attempt.attempt,
        status=DELIVERY_STATUS[attempt.status],
        response_code=attempt.response_code or 0,
        error=attempt.error,
        attempted_at=timestamp(attempt.attempted_at),
        next_attempt_at=timestamp(attempt.next_attempt_at),
    )
    if attempt.duration is not None:
        message.duration.FromTimedelta(attempt.duration)
    return message
