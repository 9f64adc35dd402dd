"""Webhooks' pure rules: the signature, what a URL may be, the allow rule,
fan-out, and what follows an attempt."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest
from cronstream_server.config import Settings
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryStatus,
    RetryPolicy,
    StoredEvent,
    Subscriber,
    body,
    fan_out,
    settle,
)
from cronstream_server.core.webhook_signature import header_value, signature, verify
from cronstream_server.core.webhook_targets import TargetRule, parse_deny, refused_target
from cronstream_server.core.webhooks import WebhookSpec, url_problem, validate_spec

SECRET = "whsec_test"
BODY = b'{"type":"alert.opened","cursor":1}'
T = 1_700_000_000
# openssl dgst -sha256 -hmac whsec_test of "1700000000.<BODY>": an outside
# computation, so a change of what is signed fails here.
EXPECTED = "f68ce42da6f8d27328804b8994938a3f08419c72a9fee102697ad5113fc4903a"
OPEN = TargetRule()


# --- the signature -------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    assert signature(SECRET, T, BODY) == EXPECTED
    assert header_value(SECRET, T, BODY) == f"t={T},v1={EXPECTED}"


def test_a_receiver_verifies_it_within_the_tolerance() -> None:
    header = header_value(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T + 299)
    assert verify(SECRET, f"t={T},v0=abc,v1=00{EXPECTED[2:]},v1={EXPECTED}", BODY, now=T)


@pytest.mark.parametrize(
    ("secret", "header", "body", "now"),
    [
        ("whsec_other", f"t={T},v1={EXPECTED}", BODY, T),  # another webhook's secret
        (SECRET, f"t={T},v1={EXPECTED}", BODY + b" ", T),  # the body changed
        (SECRET, f"t={T + 1},v1={EXPECTED}", BODY, T),  # the timestamp changed
        (SECRET, f"t={T},v1={EXPECTED}", BODY, T + 301),  # a replay, too late
        (SECRET, f"v1={EXPECTED}", BODY, T),  # no timestamp
        (SECRET, f"t={T}", BODY, T),  # no signature
        (SECRET, "", BODY, T),
    ],
)
def test_a_wrong_signature_does_not_verify(secret: str, header: str, body: bytes, now: int) -> None:
    assert not verify(secret, header, body, now)


# --- what a URL may be ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cronstream",
        "http://127.0.0.1:8080/hook",  # loopback: allowed unless denied
        "http://10.1.2.3/hook",
        "http://[::1]:9000/",
        "HTTPS://Hooks.Example.com:8443/a?b=c#d",
        "https://bücher.example/hook",
    ],
)
def test_a_good_url_passes(url: str) -> None:
    assert url_problem(url, OPEN) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is required"),
        ("ftp://example.com/", "must be an http or https URL"),
        ("example.com/hook", "must be an http or https URL"),
        ("javascript:alert(1)", "must be an http or https URL"),
        ("http:///path", "must name a host"),
        ("http://user:pw@example.com/", "must not hold a user or password"),
        ("http://example.com:99999/", "has a port that is not a number"),
        ("http://exa mple.com/", "must not contain spaces"),
        ("http://example.com\\@169.254.169.254/", "backslashes"),
        ("http://example.com/\n", "control characters"),
        ("http://" + "a" * 2048 + ".com/", "at most 2048"),
        ("http://169.254.169.254/latest", "is refused: 169.254.169.254 is link-local"),
        ("http://[fe80::1]/", "is refused: fe80::1 is link-local"),
        ("http://0.0.0.0/", "is refused: 0.0.0.0 is unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.100.100.200/", "a cloud metadata address"),
    ],
)
def test_a_bad_url_is_named(url: str, problem: str) -> None:
    found = url_problem(url, OPEN)
    assert found is not None and problem in found


def test_every_bad_field_is_a_violation_of_its_own() -> None:
    spec = WebhookSpec(url="ftp://x", events=("opened", "paused"), description="a\x00b")
    with pytest.raises(InvalidArgument) as refused:
        validate_spec(spec, "webhook", OPEN, [])
    assert [v.field for v in refused.value.violations] == [
        "webhook.url",
        "webhook.events[1]",
        "webhook.description",
    ]
    validate_spec(WebhookSpec("https://example.com/", ("resolved",), "ok"), "webhook", OPEN, [])


# --- the allow rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "link-local"),
        ("169.254.170.2", "link-local"),
        ("fe80::a", "link-local"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("239.1.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved (broadcast)"),
        ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ],
)
def test_always_refused(address: str, why: str) -> None:
    found = OPEN.refusal(ip_address(address))
    assert found is not None and found.startswith(why)
    assert parse_deny("private").refusal(ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "fd12::1", "100.64.0.1"],
)
def test_loopback_and_private_are_allowed_by_default_and_private_denies_them(address: str) -> None:
    assert OPEN.refusal(ip_address(address)) is None
    refused = parse_deny("private").refusal(ip_address(address))
    assert refused is not None and "which this server refuses" in refused


def test_the_deny_list_takes_cidrs_and_the_word_private() -> None:
    rule = parse_deny(" 203.0.113.0/24, 2001:db8::/32 ,private,")
    for denied in ("203.0.113.9", "2001:db8::5", "10.9.9.9", "::ffff:203.0.113.1"):
        assert rule.refusal(ip_address(denied)) is not None, denied
    for allowed in ("203.0.114.1", "93.184.216.34", "2606:4700::1"):
        assert rule.refusal(ip_address(allowed)) is None, allowed
    assert parse_deny("") == TargetRule() == Settings.from_env({}).webhook_rule
    assert Settings.from_env({"CRONSTREAM_WEBHOOK_DENY": "private"}).webhook_rule.denied


def test_a_bad_deny_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"^CRONSTREAM_WEBHOOK_DENY: '10\.0\.0\.0/33' is neither"):
        Settings.from_env({"CRONSTREAM_WEBHOOK_DENY": "private, 10.0.0.0/33"})


def test_a_refusal_reads_as_what_was_asked_for() -> None:
    metadata = ip_address("169.254.169.254")
    assert refused_target("169.254.169.254", metadata, "link-local") == (
        "169.254.169.254 is link-local"
    )
    assert refused_target("metadata.internal", metadata, "link-local") == (
        "metadata.internal resolves to 169.254.169.254, which is link-local"
    )


def test_the_retry_period_setting() -> None:
    assert Settings.from_env({}).webhook_retry_for == timedelta(hours=24)
    read = Settings.from_env({"CRONSTREAM_WEBHOOK_RETRY_FOR": "90m"}).webhook_retry_for
    assert read == timedelta(minutes=90)
    for bad in ("off", "0", "a day"):
        with pytest.raises(ValueError, match=r"^CRONSTREAM_WEBHOOK_RETRY_FOR: "):
            Settings.from_env({"CRONSTREAM_WEBHOOK_RETRY_FOR": bad})


# --- fan-out and the body -----------------------------------------------------------


def event(cursor: int, kind: str = "opened") -> StoredEvent:
    return StoredEvent(cursor, kind, f"alert-{cursor}", {"id": f"alert-{cursor}"})


def test_each_event_goes_to_the_webhooks_that_want_it_and_came_before_it() -> None:
    subscribers = [
        Subscriber("all", (), starts_after=0),
        Subscriber("resolved", ("resolved",), starts_after=0),
        Subscriber("late", (), starts_after=2),  # created after event 2
    ]
    made = fan_out([event(1), event(2, "resolved"), event(3)], subscribers)
    assert [(d.event.cursor, d.webhook_id) for d in made] == [
        (1, "all"),
        (2, "all"),
        (2, "resolved"),
        (3, "all"),
        (3, "late"),
    ]
    assert len({d.id for d in made}) == len(made)


def test_the_body_is_the_event_in_json() -> None:
    document = json.loads(body(StoredEvent(7, "resolved", "a", {"id": "a", "jobName": "é"})))
    assert document == {"type": "alert.resolved", "cursor": 7, "alert": {"id": "a", "jobName": "é"}}


# --- after an attempt -----------------------------------------------------------------

MADE = datetime(2026, 12, 6, 12, tzinfo=UTC)
POLICY = RetryPolicy()


def claimed(attempt: int) -> ClaimedDelivery:
    return ClaimedDelivery("d", "w", "http://x/", "s", event(1), attempt, MADE, MADE)


def failed(code: int | None = 500) -> AttemptResult:
    return AttemptResult(code, "HTTP 500", timedelta(milliseconds=30))


def test_a_2xx_succeeds_and_nothing_else_does() -> None:
    rng = random.Random(1)
    for code in (200, 201, 204, 299):
        ok = AttemptResult(code, "", timedelta(0))
        assert settle(claimed(1), ok, MADE, POLICY, rng).status is DeliveryStatus.SUCCEEDED
    for code in (None, 199, 301, 400, 429, 500):
        assert settle(claimed(1), failed(code), MADE, POLICY, rng).status is DeliveryStatus.PENDING


@pytest.mark.parametrize(("attempt", "base"), [(1, 1), (2, 2), (3, 4), (6, 32), (10, 512)])
def test_the_next_attempt_doubles_from_a_second_within_the_jitter(attempt: int, base: int) -> None:
    settled = settle(claimed(attempt), failed(), MADE, POLICY, random.Random(attempt))
    assert settled.next_attempt_at is not None
    wait = (settled.next_attempt_at - MADE).total_seconds()
    assert 0.8 * base <= wait <= 1.2 * base


def test_the_backoff_is_capped_at_ten_minutes_before_its_jitter() -> None:
    rng = random.Random(5)
    waits = [settle(claimed(30), failed(), MADE, POLICY, rng).next_attempt_at for _ in range(200)]
    assert all(w is not None and 480 <= (w - MADE).total_seconds() <= 720 for w in waits)


def test_an_attempt_past_the_retry_period_is_not_made() -> None:
    rng = random.Random(2)
    near_end = MADE + POLICY.retry_for - timedelta(minutes=5)
    settled = settle(claimed(40), failed(), near_end, POLICY, rng)
    assert settled.status is DeliveryStatus.FAILED and settled.next_attempt_at is None
    early = settle(claimed(40), failed(), MADE + timedelta(hours=1), POLICY, rng)
    assert early.status is DeliveryStatus.PENDING
