"""The real client address behind reverse proxies.

One rule. The trusted proxies write one forwarding header, the one TRUSTED_PROXY_HEADER
names: `x-forwarded-for` (nginx's and most load balancers' default) or `forwarded`
(RFC 7239). Only that header is read, so a client cannot slip in the other one; and only
when the peer that sent the request is one of TRUSTED_PROXIES. The chain is read from
the right, up to the first address that is not itself a trusted proxy: everything left of
it was written by the client and may be forged. A hop that is not an address (garbage,
`unknown`, an obfuscated name) ends the reading: the peer is believed instead. Every
address is returned in one canonical spelling. Pure.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
FORWARDING_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs or single addresses; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _address(value: str) -> Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)  # the same few addresses, on every request
def canonical(value: str | None) -> str | None:
    """An address in its one spelling (IPv6 compressed, lower case; IPv4-mapped IPv6 as
    IPv4); anything else unchanged."""
    if value is None:
        return None
    address = _address(value)
    return str(address) if address is not None else value


def is_trusted(value: str | None, networks: Sequence[Network]) -> bool:
    """Whether an address is one of the trusted proxies."""
    if value is None or not networks:
        return False
    address = _address(value)
    return address is not None and any(address in network for network in networks)


def forwarded_node(value: str) -> str:
    """The address of one RFC 7239 `for=` node: quotes removed, an IPv6 address's
    brackets and any port removed ("192.0.2.43:47011", "[2001:db8::1]:4711")."""
    node = value.strip()
    if len(node) >= 2 and node[0] == node[-1] == '"':
        node = node[1:-1]
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    if node.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return node.split(":", 1)[0]
    return node


def x_forwarded_for_chain(values: Sequence[str]) -> list[str]:
    """Client-first addresses of every X-Forwarded-For header, in order."""
    return [part.strip() for header in values for part in header.split(",")]


def forwarded_chain(values: Sequence[str]) -> list[str]:
    """Client-first `for=` nodes of every Forwarded header (RFC 7239), in order. An
    element without `for=` counts as a hop that is not an address."""
    chain = []
    for header in values:
        for element in header.split(","):
            node = "unknown"
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                if name.strip().lower() == "for":
                    node = forwarded_node(value)
            chain.append(node)
    return chain


def client_address(
    peer: str | None, chain: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    if peer is None or not chain or not is_trusted(peer, trusted):
        return canonical(peer)
    for hop in reversed(chain):
        if _address(hop) is None:
            return canonical(peer)  # a garbled header: believe nothing in it
        if not is_trusted(hop, trusted):
            return canonical(hop)
    return canonical(chain[0])
