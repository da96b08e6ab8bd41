"""Rate limits that protect without refusing real crowds: failed authentications never
cost a signed-in caller, crowds behind one address are served, IPv6 clients are grouped per
/64, and forwarding headers from an untrusted peer are warned about once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from service.access.callers import JwtRules
from service.access.ratelimit import Limit, MemoryBuckets, address_key
from service.access.settings import DEFAULT_ADDRESS_LIMIT, AccessSettings
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER, hs_token
from tests.helpers import Client, MakeClient, make_settings

TIGHT = Limit(rate=0.01, burst=3)
RTC = {"channel": "demo", "role": "subscriber"}


async def _status(client: Client, headers: dict[str, str], body: Any = RTC) -> int:
    response = await client.post("/v1/agora/rtc-token", data=json.dumps(body), headers=headers)
    return response.status


async def test_failed_logins_from_an_address_never_cost_a_signed_in_caller(
    make_client: MakeClient,
) -> None:
    access = AccessSettings(
        mode="jwt",
        jwt=JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET),
        caller_limit=None,
        address_limit=TIGHT,
    )
    client = await make_client(make_settings(access=access), clock=time.time)
    forged = {"Authorization": "Bearer not-a-token"}
    failures = [await _status(client, forged) for _ in range(6)]
    assert failures == [401, 401, 401, 429, 429, 429]
    signed_in = {"Authorization": f"Bearer {hs_token(sub='42')}"}
    assert [await _status(client, signed_in) for _ in range(5)] == [200] * 5


async def test_failed_api_keys_never_cost_the_apps_own_requests(make_client: MakeClient) -> None:
    access = AccessSettings(
        mode="api-key",
        api_keys=("app-key-0123456789abcdef",),
        caller_limit=None,
        address_limit=TIGHT,
    )
    client = await make_client(make_settings(access=access), clock=time.time)
    for _ in range(5):
        await _status(client, {"X-API-Key": "guessed-key-0123456789"})
    good = {"X-API-Key": "app-key-0123456789abcdef"}
    assert [await _status(client, good, {**RTC, "uid": 1}) for _ in range(3)] == [200] * 3


def _simulate(limit: Limit, arrivals: list[float]) -> int:
    """How many of these request times (seconds) one address's bucket refuses."""
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    refused = 0
    for at in arrivals:
        now[0] = at
        if asyncio.run(buckets.take("address:198.51.100.7", limit)) > 0:
            refused += 1
    return refused


def test_the_default_serves_500_clients_starting_a_meeting_within_3_seconds() -> None:
    # Two requests each (a token and the meeting), spread over 3 s.
    arrivals = sorted(i * 3.0 / 1000 for i in range(1000))
    assert _simulate(DEFAULT_ADDRESS_LIMIT, arrivals) == 0


def test_the_default_serves_2000_clients_renewing_every_40_seconds() -> None:
    arrivals = sorted(
        (client * 40.0 / 2000) + 40.0 * turn for client in range(2000) for turn in range(3)
    )
    assert _simulate(DEFAULT_ADDRESS_LIMIT, arrivals) == 0


def test_the_default_still_stops_a_flood() -> None:
    arrivals = [i / 2000 for i in range(4000)]  # 2,000 a second for 2 s
    assert _simulate(DEFAULT_ADDRESS_LIMIT, arrivals) > 2000


async def test_a_crowd_behind_one_address_gets_no_429_with_the_defaults(
    make_client: MakeClient,
) -> None:
    client = await make_client(make_settings(access=AccessSettings()), clock=time.time)
    statuses = await asyncio.gather(
        *(_status(client, {}, {**RTC, "uid": n + 1}) for n in range(500))
    )
    assert set(statuses) == {200}


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:0db8:0000:0000:ffff:0000:0000:0001", "2001:db8::/64"),
        ("2001:DB8::abcd:1", "2001:db8::/64"),
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_addresses_are_canonical_and_ipv6_is_grouped_per_64(address: str | None, key: str) -> None:
    assert address_key(address) == key


async def test_forwarding_headers_from_an_untrusted_peer_are_warned_about_once(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service import middlewares

    monkeypatch.setattr(middlewares.warn_untrusted_forwarding, "given", False)
    client = await make_client()
    with capture_logs() as logs:
        for _ in range(3):
            await _status(client, {"X-Forwarded-For": "203.0.113.9"}, {**RTC, "uid": 1})
    warnings = [line for line in logs if "TRUSTED_PROXIES" in str(line.get("event"))]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
