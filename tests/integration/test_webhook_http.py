"""The HTTP edge of webhooks against a real receiver on 127.0.0.1, with a
resolver the test controls: the connection goes to the address that was
judged (a name that rebinds to a metadata address between two attempts is
refused at the second), redirects are not followed, an attempt has a time
limit, and CreateWebhook's check judges what a name resolves to."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import httpx
from cronstream_server.core.webhook_delivery import ClaimedDelivery, StoredEvent
from cronstream_server.core.webhook_signature import verify
from cronstream_server.core.webhook_targets import Address, TargetRule, parse_deny
from cronstream_server.engine.webhook_http import HttpSender, TargetGuard
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.certs import Authority
from tests.webhook_helpers import Receiver, receiving

HOST = "hooks.rebind.test"  # resolves nowhere but through the test's resolver
LOOPBACK = ip_address("127.0.0.1")
METADATA = ip_address("169.254.169.254")
NOW = datetime.now(UTC)


class Resolver:
    """Answers each lookup with the next list of addresses (the last one repeats)."""

    def __init__(self, *answers: list[Address]) -> None:
        self._answers: Iterator[list[Address]] = iter(answers)
        self._last: list[Address] = []
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.asked.append((host, port))
        self._last = next(self._answers, self._last)
        if not self._last:
            raise OSError("name does not resolve")
        return self._last


def delivery(url: str, attempt: int = 1) -> ClaimedDelivery:
    event = StoredEvent(41, "opened", "alert-1", {"id": "alert-1"})
    return ClaimedDelivery("delivery-1", "webhook-1", url, "whsec_k", event, attempt, NOW, NOW)


@asynccontextmanager
async def sender(
    resolver: Resolver, rule: TargetRule | None = None, verify: ssl.SSLContext | bool = True
) -> AsyncIterator[HttpSender]:
    made = HttpSender(TargetGuard(rule or TargetRule(), resolver), timeout=2.0, verify=verify)
    try:
        yield made
    finally:
        await made.aclose()


def named_url(receiver: Receiver) -> str:
    return f"http://{HOST}:{receiver.port}/hook?source=cronstream"


async def test_the_request_goes_to_the_address_judged_and_names_the_host() -> None:
    resolver = Resolver([LOOPBACK])
    async with receiving() as receiver, sender(resolver) as http:
        result = await http.send(delivery(named_url(receiver)))
    assert (result.response_code, result.error) == (200, "")
    assert resolver.asked == [(HOST, receiver.port)]  # resolved once, by the guard
    (request,) = receiver.requests
    assert request.headers["host"] == f"{HOST}:{receiver.port}"
    assert request.path == "/hook?source=cronstream"
    assert request.headers["cronstream-event-id"] == "41"
    assert request.headers["cronstream-delivery-id"] == "delivery-1"
    assert verify(
        "whsec_k", request.headers["cronstream-signature"], request.body, int(time.time())
    )


async def test_a_name_that_rebinds_to_a_metadata_address_is_refused_at_delivery() -> None:
    resolver = Resolver([LOOPBACK], [METADATA])
    async with receiving() as receiver, sender(resolver) as http:
        first = await http.send(delivery(named_url(receiver)))
        second = await http.send(delivery(named_url(receiver), attempt=2))
    assert first.response_code == 200
    assert second.response_code is None
    assert second.error == (
        f"refused: {HOST} resolves to 169.254.169.254, which is link-local "
        "(cloud metadata services answer there)"
    )
    assert len(receiver.requests) == 1  # the second never connected


async def test_one_refused_address_among_several_refuses_the_name() -> None:
    async with receiving() as receiver, sender(Resolver([LOOPBACK, METADATA])) as http:
        result = await http.send(delivery(named_url(receiver)))
    assert result.error.startswith("refused:") and receiver.requests == []


async def test_the_operators_deny_list_applies_at_delivery() -> None:
    async with receiving() as receiver, sender(Resolver([LOOPBACK]), parse_deny("private")) as http:
        result = await http.send(delivery(receiver.url))  # a literal 127.0.0.1
    assert result.error == "refused: 127.0.0.1 is in 127.0.0.0/8, which this server refuses"
    assert receiver.requests == []


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed() -> None:
    async with receiving(codes=[302]) as receiver, sender(Resolver([LOOPBACK])) as http:
        result = await http.send(delivery(named_url(receiver)))
    assert (result.response_code, result.error) == (302, "HTTP 302: failure 302")
    assert not result.succeeded and len(receiver.requests) == 1


async def test_a_name_that_does_not_resolve_is_a_failed_attempt() -> None:
    async with sender(Resolver([])) as http:
        result = await http.send(delivery(f"https://{HOST}/hook"))
    assert result.response_code is None
    assert result.error == f"cannot resolve {HOST}: name does not resolve"


async def test_an_attempt_ends_at_its_time_limit() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the request, answers nothing, until the sender hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with sender(Resolver([LOOPBACK])) as http:
            result = await http.send(delivery(f"http://{HOST}:{port}/"))
    finally:
        server.close()
        await server.wait_closed()
    assert (result.response_code, result.error) == (None, "no answer within 2 s")
    assert 1.9 < result.duration.total_seconds() < 3


async def test_a_refused_connection_is_a_failed_attempt() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens there now
    async with sender(Resolver([LOOPBACK])) as http:
        result = await http.send(delivery(f"http://{HOST}:{port}/"))
    assert result.response_code is None and result.error.startswith("ConnectError")


async def test_create_judges_what_a_name_resolves_to_and_lets_an_unknown_one_be() -> None:
    assert await TargetGuard(TargetRule(), Resolver([METADATA])).refusal(
        "http://metadata.internal/computeMetadata/v1/"
    ) == (
        "metadata.internal resolves to 169.254.169.254, which is link-local "
        "(cloud metadata services answer there)"
    )
    assert await TargetGuard(TargetRule(), Resolver([LOOPBACK])).refusal(f"http://{HOST}/") is None
    assert await TargetGuard(TargetRule(), Resolver([])).refusal(f"http://{HOST}/") is None


async def test_the_system_resolver_finds_localhost() -> None:
    guard = TargetGuard(parse_deny("127.0.0.0/8, ::1"))
    refusal = await guard.refusal("http://localhost:8080/")
    assert refusal is not None and refusal.startswith("localhost resolves to ")
    assert await TargetGuard(TargetRule()).pick(httpx.URL("http://localhost/")) in (
        ip_address("127.0.0.1"),
        ip_address("::1"),
    )


def tls_pair(tmp_path: Path, certificate_name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A receiver's TLS context with a certificate for `certificate_name`,
    and a client context trusting its authority alone."""
    authority = Authority("webhook test CA")
    issued = authority._issue(
        certificate_name, ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName(certificate_name)]
    )
    issued.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    trusting = ssl.create_default_context(cadata=authority.cert_pem.decode())
    return served, trusting


async def test_https_to_the_judged_address_checks_the_certificate_against_the_name(
    tmp_path: Path,
) -> None:
    served, trusting = tls_pair(tmp_path, HOST)
    async with (
        receiving(tls=served) as receiver,
        sender(Resolver([LOOPBACK]), verify=trusting) as http,
    ):
        result = await http.send(delivery(f"https://{HOST}:{receiver.port}/hook"))
    assert (result.response_code, result.error) == (200, "")
    assert receiver.requests[0].headers["host"] == f"{HOST}:{receiver.port}"


async def test_https_refuses_a_certificate_for_another_name(tmp_path: Path) -> None:
    served, trusting = tls_pair(tmp_path, "someone-else.test")
    async with (
        receiving(tls=served) as receiver,
        sender(Resolver([LOOPBACK]), verify=trusting) as http,
    ):
        result = await http.send(delivery(f"https://{HOST}:{receiver.port}/hook"))
    assert result.response_code is None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert receiver.requests == []
