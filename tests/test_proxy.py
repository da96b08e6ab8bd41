"""Which address is the client's, behind which proxies."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from service.config import ConfigError, load_settings
from service.proxy import (
    client_address,
    forwarded_chain,
    forwarded_node,
    parse_networks,
    x_forwarded_for_chain,
)
from tests.helpers import MakeClient, make_settings

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
    chain = x_forwarded_for_chain(["1.1.1.1, 2.2.2.2", "3.3.3.3"])
    assert chain == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_the_forwarded_header_reads_every_rfc_7239_form() -> None:
    header = 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'
    assert forwarded_chain([header]) == ["192.0.2.60", "2001:db8:cafe::17"]
    assert forwarded_chain(['For="192.0.2.43:47011"', "proto=https"]) == ["192.0.2.43", "unknown"]


@pytest.mark.parametrize(
    ("node", "address"),
    [
        ('"192.0.2.43:47011"', "192.0.2.43"),
        ("192.0.2.43", "192.0.2.43"),
        ('"[2001:db8::1]:4711"', "2001:db8::1"),
        ('"[2001:db8::1]"', "2001:db8::1"),
        ("unknown", "unknown"),
        ("_hidden", "_hidden"),
    ],
)
def test_a_forwarded_node_is_its_address(node: str, address: str) -> None:
    assert forwarded_node(node) == address


def test_a_quoted_address_with_a_port_is_the_client_not_the_proxy() -> None:
    chain = forwarded_chain(['for="192.0.2.43:47011"'])
    assert client_address("10.0.0.5", chain, TRUSTED) == "192.0.2.43"


@pytest.mark.parametrize(
    "spelling",
    ["2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0::1", "2001:db8::1"],
)
def test_an_ipv6_client_has_one_spelling(spelling: str) -> None:
    assert client_address("10.0.0.5", [spelling], TRUSTED) == "2001:db8::1"
    assert client_address(spelling, [], TRUSTED) == "2001:db8::1"


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    assert client_address("::ffff:203.0.113.9", [], TRUSTED) == "203.0.113.9"


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]


def test_a_bad_trusted_proxy_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"TRUSTED_PROXIES": "10.0.0.0/8,nope"})
    assert str(raised.value) == "TRUSTED_PROXIES: 'nope' is not an IP address or CIDR"


def test_the_header_the_proxies_write_is_chosen_by_configuration() -> None:
    assert load_settings({}).trusted_proxy_header == "x-forwarded-for"
    settings = load_settings({"TRUSTED_PROXY_HEADER": "forwarded"})
    assert settings.trusted_proxy_header == "forwarded"
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HEADER"):
        load_settings({"TRUSTED_PROXY_HEADER": "x-real-ip"})


async def _client_seen(make_client: MakeClient, header: str, sent: dict[str, str]) -> str:
    from dataclasses import replace

    settings = replace(
        make_settings(),
        trusted_proxies=parse_networks(["127.0.0.1"]),
        trusted_proxy_header=header,
    )
    client = await make_client(settings)
    with capture_logs() as logs:
        await client.get("/healthz", headers=sent)
    (line,) = [entry for entry in logs if entry.get("event") == "request"] or [{}]
    return str(line.get("client"))


async def test_a_client_cannot_slip_in_the_header_the_proxy_does_not_write(
    make_client: MakeClient,
) -> None:
    # The proxy writes Forwarded; the client forges X-Forwarded-For.
    sent = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=198.51.100.7"}
    assert await _client_seen(make_client, "forwarded", sent) == "198.51.100.7"
    assert await _client_seen(make_client, "x-forwarded-for", sent) == "6.6.6.6"
