"""The real client address behind reverse proxies.

X-Forwarded-For (or Forwarded) is believed only when the peer that sent it is one of the
configured TRUSTED_PROXIES, and then only up to the first address that is not itself a
trusted proxy, read from the right: everything left of it was written by the client and
may be forged. Pure.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)\]?(?::\d+)?"?', re.IGNORECASE)


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs or single addresses; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_trusted(value: str | None, networks: Sequence[Network]) -> bool:
    """Whether an address is one of the trusted proxies."""
    if value is None or not networks:
        return False
    address = _address(value)
    return address is not None and any(address in network for network in networks)


def forwarded_chain(x_forwarded_for: Sequence[str], forwarded: Sequence[str]) -> list[str]:
    """Client-first list of the addresses the proxies recorded."""
    if x_forwarded_for:
        return [part.strip() for header in x_forwarded_for for part in header.split(",")]
    return [match.group(1) for header in forwarded for match in _FORWARDED_FOR.finditer(header)]


def client_address(
    peer: str | None, chain: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    if peer is None or not chain or not is_trusted(peer, trusted):
        return peer
    for hop in reversed(chain):
        if _address(hop) is None:
            return peer  # a garbled header: believe nothing in it
        if not is_trusted(hop, trusted):
            return hop
    return chain[0]
