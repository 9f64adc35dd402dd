"""Where a webhook may send: the allow rule that keeps a tenant from making
the server call what it should not (server-side request forgery).

Always refused, whatever the settings:
- link-local addresses (169.254.0.0/16, fe80::/10): the cloud metadata
  services answer there (169.254.169.254 on AWS, GCP, Azure, Oracle and
  others; 169.254.170.2 for ECS task credentials);
- the metadata addresses outside it: fd00:ec2::254 (AWS over IPv6) and
  100.100.100.200 (Alibaba Cloud);
- unspecified addresses (0.0.0.0/8, ::): Linux connects 0.0.0.0 to the host
  itself, so it would be loopback in disguise, and is never meant;
- multicast (224.0.0.0/4, ff00::/8) and the reserved 240.0.0.0/4, which
  holds the broadcast address.

Loopback and the private ranges are allowed by default: a receiver on the
same host or network is the common self-hosted case. An operator whose
tenants must not reach them lists them in CRONSTREAM_WEBHOOK_DENY, a comma
separated list of CIDRs and the word `private`, which stands for loopback,
the private ranges and shared address space (`PRIVATE` below).

An IPv4 address written as IPv6 (::ffff:a.b.c.d, or 64:ff9b::a.b.c.d of
NAT64) is judged as the IPv4 address it reaches.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from cronstream_server.core.values import value_type

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Why each always-refused range is refused, in the words a caller is shown.
ALWAYS_REFUSED: tuple[tuple[Network, str], ...] = (
    (ip_network("169.254.0.0/16"), "link-local (cloud metadata services answer there)"),
    (ip_network("fe80::/10"), "link-local"),
    (ip_network("fd00:ec2::254/128"), "a cloud metadata address"),
    (ip_network("100.100.100.200/32"), "a cloud metadata address"),
    (ip_network("0.0.0.0/8"), "unspecified"),
    (ip_network("::/128"), "unspecified"),
    (ip_network("224.0.0.0/4"), "multicast"),
    (ip_network("ff00::/8"), "multicast"),
    (ip_network("240.0.0.0/4"), "reserved (broadcast)"),
)

PRIVATE_WORD = "private"
PRIVATE: tuple[Network, ...] = tuple(
    ip_network(cidr)
    for cidr in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "fc00::/7",  # unique local
    )
)

_NAT64 = ip_network("64:ff9b::/96")


@value_type
class TargetRule:
    """The always-refused ranges, and `denied` (CRONSTREAM_WEBHOOK_DENY) on top."""

    denied: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why webhooks may not send to `address` ("link-local", "in
        10.0.0.0/8, which this server refuses"); None when they may."""
        judged = reached(address)
        for network, why in ALWAYS_REFUSED:
            if judged.version == network.version and judged in network:
                return why
        for network in self.denied:
            if judged.version == network.version and judged in network:
                return f"in {network}, which this server refuses"
        return None


def refused_target(host: str, address: Address, why: str) -> str:
    """How a refusal reads: `169.254.169.254 is link-local`, or for a name,
    `metadata.internal resolves to 169.254.169.254, which is link-local`."""
    shown = str(address) if reached(address) == address else f"{address} ({reached(address)})"
    if literal_address(host) == address:
        return f"{shown} is {why}"
    return f"{host} resolves to {shown}, which is {why}"


def reached(address: Address) -> Address:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address reaches; else itself."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def literal_address(host: str) -> Address | None:
    """The address a URL's host names when it is an IP literal (an IPv6 one
    with or without its brackets); None for a name."""
    try:
        return ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def parse_deny(text: str) -> TargetRule:
    """CRONSTREAM_WEBHOOK_DENY: CIDRs (`10.0.0.0/8`, `fd00::/8`, a single
    address) and `private`, separated by commas. Raises ValueError naming
    the entry it cannot read."""
    denied: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        if entry.lower() == PRIVATE_WORD:
            denied += PRIVATE
            continue
        try:
            denied.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is neither a CIDR (such as 10.0.0.0/8) nor {PRIVATE_WORD!r}"
            ) from None
    return TargetRule(tuple(dict.fromkeys(denied)))
