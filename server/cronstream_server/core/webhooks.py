"""Webhooks: URLs that receive a platform's alert events (docs/alerts.md#webhooks).

A webhook names where to POST, which event types it wants (none named: all)
and what it is for. Its secret, which signs every request
(core.webhook_signature), is drawn here, handed back once by CreateWebhook,
and kept by the store as issued: signing needs the key itself.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from cronstream_server.core.alerts import AlertEventType
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.ids import new_id
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.core.values import value_type
from cronstream_server.core.webhook_targets import TargetRule, literal_address, refused_target

EVENT_TYPES = (AlertEventType.OPENED, AlertEventType.RESOLVED)
SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 1000
# Secrets look like Stripe's (`whsec_` and 256 random bits): recognisable
# in a leak, and receivers' libraries already expect the form.
SECRET_PREFIX = "whsec_"


@value_type
class WebhookSpec:
    """What the caller sets."""

    url: str
    events: tuple[str, ...] = ()  # AlertEventType values; () receives them all
    description: str = ""


@value_type
class Webhook:
    id: str
    platform_id: str
    spec: WebhookSpec
    created_at: datetime


def new_webhook(spec: WebhookSpec, platform_id: str, now: datetime) -> Webhook:
    return Webhook(id=new_id(), platform_id=platform_id, spec=spec, created_at=now)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- validation -------------------------------------------------------------


def validate_spec(
    spec: WebhookSpec, prefix: str, rule: TargetRule, violations: list[FieldViolation]
) -> None:
    """Appends a violation for every bad field of `spec`, then raises
    InvalidArgument if there is any (including ones the caller collected).
    A host written as an address is judged by `rule` here; a name is
    resolved and judged by the caller (core.ports.TargetCheck)."""
    problem = url_problem(spec.url, rule)
    if problem is not None:
        violations.append(FieldViolation(f"{prefix}.url", problem))
    for index, event_type in enumerate(spec.events):
        if event_type not in EVENT_TYPES:
            violations.append(FieldViolation(f"{prefix}.events[{index}]", "is not an event type"))
    check_name(
        violations,
        f"{prefix}.description",
        spec.description,
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
    )
    raise_if_any(violations)


def url_problem(url: str, rule: TargetRule) -> str | None:
    """What is wrong with `url` as a webhook's target; None when nothing."""
    if not url:
        return "is required"
    if len(url) > MAX_URL_LENGTH:
        return f"is {len(url)} characters long; at most {MAX_URL_LENGTH}"
    # Whitespace, controls and backslashes are where URL parsers disagree:
    # what this check reads must be what the HTTP client connects to.
    if any(ch <= " " or ch in "\x7f\\" for ch in url):
        return "must not contain spaces, control characters or backslashes"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "must be an http or https URL"
    return _netloc_problem(parts, rule)


def _netloc_problem(parts: SplitResult, rule: TargetRule) -> str | None:
    if "@" in parts.netloc:
        return "must not hold a user or password (requests are signed instead)"
    if not parts.hostname:
        return "must name a host"
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    address = literal_address(parts.hostname)
    why = None if address is None else rule.refusal(address)
    if address is not None and why is not None:
        return f"is refused: {refused_target(parts.hostname, address, why)}"
    return None
