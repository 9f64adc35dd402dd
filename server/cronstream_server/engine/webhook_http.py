"""The HTTP edge of webhooks: where a webhook's host resolves, whether the
allow rule lets us send there, and the signed POST itself (httpx).

The host is resolved here, every address it resolves to is judged by the
rule (core.webhook_targets), and the request connects to the address that
was judged, not to the name: a name that resolves to a public address when
checked and to 169.254.169.254 a moment later (DNS rebinding) cannot steer
the connection. The request still names the host (Host header, TLS server
name and certificate check), so virtual hosts and HTTPS work as usual.

Also on purpose: redirects are not followed (a 3xx is a failed attempt: a
redirect could lead anywhere), proxy settings from the environment are not
read (the check is of the address connected to), and no connection is kept
alive between requests (a pooled connection to one address must not carry
another host's request, which was never checked against its certificate).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from cronstream_server.core.webhook_delivery import AttemptResult, ClaimedDelivery, body
from cronstream_server.core.webhook_signature import HEADER, header_value
from cronstream_server.core.webhook_targets import (
    Address,
    TargetRule,
    literal_address,
    refused_target,
)

USER_AGENT = "Cronstream-Webhooks/1"
RESOLVE_TIMEOUT_SECONDS = 2.0  # for CreateWebhook's check; a delivery has its own timeout
EXCERPT_BYTES = 200  # of a failed response's body, kept in the attempt's error


class TargetRefused(Exception):
    """The webhook's host cannot be sent to now (refused or unresolvable)."""


Resolve = Callable[[str, int], Awaitable[list[Address]]]


async def system_resolve(host: str, port: int) -> list[Address]:
    """The addresses `host` resolves to by the system's resolver, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = literal_address(str(sockaddr[0]).partition("%")[0])  # drop a zone id
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise OSError(f"no address for {host}")
    return found


class TargetGuard:
    """Resolves webhook hosts and judges their addresses by the rule; the
    TargetCheck port (core.ports) for CreateWebhook, and the delivery's check."""

    def __init__(self, rule: TargetRule, resolve: Resolve = system_resolve) -> None:
        self._rule = rule
        self._resolve = resolve

    async def refusal(self, url: str) -> str | None:
        try:
            parsed = httpx.URL(url)
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                found = await self._addresses(parsed)
        except (httpx.InvalidURL, OSError, TimeoutError):
            return None  # not resolvable now: each delivery checks again
        return self._refusal(parsed.host, found)

    async def pick(self, url: httpx.URL) -> Address:
        """The address to connect to for `url`: the first it resolves to,
        when the rule allows every one of them."""
        try:
            found = await self._addresses(url)
        except OSError as error:
            raise TargetRefused(f"cannot resolve {url.host}: {error}") from None
        refusal = self._refusal(url.host, found)
        if refusal is not None:
            raise TargetRefused(f"refused: {refusal}")
        return found[0]

    def _refusal(self, host: str, found: list[Address]) -> str | None:
        """Why not, when the rule refuses any of the addresses `host` resolves to."""
        for address in found:
            why = self._rule.refusal(address)
            if why is not None:
                return refused_target(host, address, why)
        return None

    async def _addresses(self, url: httpx.URL) -> list[Address]:
        literal = literal_address(url.host)
        if literal is not None:
            return [literal]
        return await self._resolve(url.host, url.port or _default_port(url))


class HttpSender:
    """Sends one attempt of a delivery: a signed JSON POST, answered within
    `timeout` seconds all told (resolving, connecting, sending, the answer)."""

    def __init__(
        self, guard: TargetGuard, timeout: float, verify: ssl.SSLContext | bool = True
    ) -> None:
        """`verify`: the certificate authorities trusted (by default httpx's,
        certifi's bundle); a test trusts its own."""
        self._guard = guard
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                code, error = await self._post(claimed)
        except TimeoutError:
            code, error = None, f"no answer within {self._timeout:g} s"
        return AttemptResult(code, error, timedelta(seconds=time.monotonic() - started))

    async def _post(self, claimed: ClaimedDelivery) -> tuple[int | None, str]:
        try:
            url = httpx.URL(claimed.url)
            address = await self._guard.pick(url)
        except (httpx.InvalidURL, TargetRefused) as refused:
            return None, str(refused)
        content = body(claimed.event)
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            # A compressed answer would be unreadable in the error excerpt,
            # and a decompressed one unbounded.
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
            "Cronstream-Event-Id": str(claimed.event.cursor),
            "Cronstream-Delivery-Id": claimed.id,
            HEADER: header_value(claimed.secret, int(time.time()), content),
        }
        pinned = url.copy_with(host=str(address))
        try:
            async with self._client.stream(
                "POST",
                pinned,
                content=content,
                headers=headers,
                extensions={"sni_hostname": url.host},
            ) as response:
                if 200 <= response.status_code < 300:
                    return response.status_code, ""
                return response.status_code, await _failure(response)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}".rstrip(": ")


async def _failure(response: httpx.Response) -> str:
    """`HTTP 500: <the start of the body>`: what the receiver said, briefly."""
    excerpt = b""
    async for chunk in response.aiter_raw():
        excerpt += chunk
        if len(excerpt) >= EXCERPT_BYTES:
            break
    text = excerpt[:EXCERPT_BYTES].decode(errors="replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
