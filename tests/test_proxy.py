"""Which address is the client's, behind which proxies."""

from __future__ import annotations

import pytest

from service.config import ConfigError, load_settings
from service.proxy import client_address, forwarded_chain, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        ("203.0.113.9", [], "203.0.113.9"),  # no proxy
        ("203.0.113.9", ["6.6.6.6"], "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),  # one trusted proxy
        ("10.0.0.5", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),  # client-forged left part
        ("10.0.0.5", ["198.51.100.7", "10.0.0.9"], "198.51.100.7"),  # two trusted proxies
        ("10.0.0.5", ["10.0.0.8", "10.0.0.9"], "10.0.0.8"),  # all trusted: the first
        ("10.0.0.5", ["not-an-ip"], "10.0.0.5"),  # garbage: believe nothing
        ("10.0.0.5", ["2001:db8::1"], "2001:db8::1"),
        (None, ["1.2.3.4"], None),
    ],
)
def test_the_rightmost_address_that_is_not_a_trusted_proxy_is_the_client(
    peer: str | None, chain: list[str], expected: str | None
) -> None:
    assert client_address(peer, chain, TRUSTED) == expected


def test_x_forwarded_for_lists_are_split_across_headers() -> None:
    assert forwarded_chain(["1.1.1.1, 2.2.2.2", "3.3.3.3"], []) == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_the_forwarded_header_is_read_when_x_forwarded_for_is_absent() -> None:
    header = 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'
    assert forwarded_chain([], [header]) == ["192.0.2.60", "2001:db8:cafe::17"]


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]


def test_a_bad_trusted_proxy_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"TRUSTED_PROXIES": "10.0.0.0/8,nope"})
    assert str(raised.value) == "TRUSTED_PROXIES: 'nope' is not an IP address or CIDR"
