"""Stored webhook events reach the app: forwarded (push) in order per room with retries and
dead letters, or read through GET /v1/events (pull); a broken store acknowledges nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from service.forwarder import signature_header
from service.store.settings import EventSettings
from tests.helpers import (
    LIVEKIT_KEY,
    LIVEKIT_SECRET,
    Client,
    MakeClient,
    make_settings,
    redis_server,
    wait_for,
)
from tests.livekit.server import participant_joined, sign_webhook

FORWARD_SECRET = "forward-secret-0123456789"
EVENTS_TOKEN = "events-admin-token"


@dataclass
class Receiver:
    """The app's webhook endpoint: records deliveries; can be down, or refuse some events."""

    received: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    poison: str | None = None  # event id it always refuses

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        # Standard Webhooks, checked by its reference library; a raw secret is the key's bytes.
        envelope = Webhook(FORWARD_SECRET.encode()).verify(body, dict(request.headers))
        if self.down or envelope["id"] == self.poison:
            return web.Response(status=503)
        self.received.append(envelope)
        return web.Response(status=204)

    def ids(self) -> list[str]:
        return [e["id"] for e in self.received]


@pytest.fixture
async def receiver(aiohttp_server: Any) -> tuple[Receiver, str]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", target.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return target, str(server.make_url("/hooks"))


def _events(url: str | None = None, **overrides: Any) -> EventSettings:
    settings: dict[str, Any] = {
        "db_path": ":memory:",
        "forward_url": url,
        "forward_secret": FORWARD_SECRET if url else None,
        "forward_backoff": 0.05,
        "forward_max_attempts": 3,
        "api_token": EVENTS_TOKEN,
    }
    settings.update(overrides)
    return EventSettings(**settings)


async def _webhook(client: Client, event_id: str, room: str = "room1") -> int:
    body = participant_joined(event_id, room=room)
    response = await client.post(
        "/livekit/webhook",
        data=body,
        headers={"Authorization": sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)},
    )
    return response.status


async def _client(make_client: MakeClient, events: EventSettings) -> Client:
    return await make_client(make_settings(events=events), clock=time.time)


async def test_an_event_is_forwarded_signed_with_the_platforms_event_inside(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    client = await _client(make_client, _events(url))
    assert await _webhook(client, "EV_forward1") == 200
    await wait_for(lambda: len(target.received) == 1)
    (envelope,) = target.received
    assert (envelope["provider"], envelope["id"], envelope["key"]) == (
        "livekit",
        "EV_forward1",
        "room:room1",
    )
    assert envelope["event"]["participant"]["identity"] == "alice"


async def test_a_target_down_for_a_while_gets_every_event_in_order_when_it_returns(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.down = True
    client = await _client(make_client, _events(url, forward_max_attempts=1000))
    sent = [f"EV_order{i}" for i in range(6)]
    for event_id in sent:
        assert await _webhook(client, event_id) == 200
    await asyncio.sleep(0.3)  # several failed attempts while it is down
    assert target.received == []
    target.down = False
    await wait_for(lambda: len(target.received) == len(sent))
    assert target.ids() == sent


async def test_a_poisoned_event_is_dead_lettered_and_blocks_neither_its_room_nor_others(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.poison = "EV_poison"
    client = await _client(make_client, _events(url, forward_max_attempts=3))
    assert await _webhook(client, "EV_poison", room="room1") == 200
    assert await _webhook(client, "EV_after", room="room1") == 200
    assert await _webhook(client, "EV_other", room="room2") == 200
    await wait_for(lambda: sorted(target.ids()) == ["EV_after", "EV_other"])
    response = await client.get(
        "/v1/events", params={"state": "dead"}, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
    )
    (dead,) = (await response.json())["events"]
    assert (dead["id"], dead["delivery"]["state"], dead["delivery"]["attempts"]) == (
        "EV_poison",
        "dead",
        3,
    )
    assert "503" in dead["delivery"]["last_error"]


async def test_the_events_api_pages_through_stored_events_in_order(make_client: MakeClient) -> None:
    client = await _client(make_client, _events())
    for i in range(5):
        await _webhook(client, f"EV_page{i}")
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    first = await (await client.get("/v1/events", params={"limit": "2"}, headers=auth)).json()
    rest = await (
        await client.get(
            "/v1/events",
            params={"after": first["next_cursor"], "provider": "livekit"},
            headers=auth,
        )
    ).json()
    assert [e["id"] for e in first["events"] + rest["events"]] == [f"EV_page{i}" for i in range(5)]
    assert rest["events"][0]["event"]["event"] == "participant_joined"
    assert rest["events"][0]["delivery"]["state"] == "pending"
    empty = await (
        await client.get("/v1/events", params={"after": rest["next_cursor"]}, headers=auth)
    ).json()
    assert (empty["events"], empty["next_cursor"]) == ([], rest["next_cursor"])


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", EVENTS_TOKEN, f"Basic {EVENTS_TOKEN}"]
)
async def test_the_events_api_needs_the_admin_token(
    make_client: MakeClient, authorization: str | None
) -> None:
    client = await _client(make_client, _events())
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/v1/events", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_events_api_is_off_without_a_token(make_client: MakeClient) -> None:
    client = await _client(make_client, _events(api_token=None))
    response = await client.get("/v1/events", headers={"Authorization": "Bearer x"})
    assert response.status == 503
    assert "EVENTS_API_TOKEN" in (await response.json())["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"after": "abc"}, "after"),
        ({"provider": "zoom"}, "provider"),
        ({"state": "lost"}, "state"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_the_events_api_refuses_bad_parameters(
    make_client: MakeClient, params: dict[str, str], field: str
) -> None:
    client = await _client(make_client, _events())
    response = await client.get(
        "/v1/events", params=params, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
    )
    assert (response.status, (await response.json())["field"]) == (400, field)


@pytest.mark.slow
async def test_a_broken_store_answers_503_and_acknowledges_nothing(make_client: MakeClient) -> None:
    with redis_server() as (url, process):
        client = await _client(make_client, _events(redis_url=url))
        assert await _webhook(client, "EV_before") == 200
        process.kill()
        process.wait()
        assert await _webhook(client, "EV_lost") == 503
        response = await client.get(
            "/v1/events", headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
        )
        assert response.status == 503


def test_the_forwarding_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signature_header("k", 1700000000, b"{}")
    assert (
        header == "t=1700000000,v1=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    )


async def test_an_unexpected_error_in_delivery_is_logged_and_the_next_event_still_arrives(
    make_client: MakeClient, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from structlog.testing import capture_logs

    from service import forwarder

    target, url = receiver
    real_envelope = forwarder.envelope

    def exploding(event: Any) -> bytes:
        if event.event_id == "EV_explodes":
            raise RuntimeError("a bug of ours")
        return real_envelope(event)

    monkeypatch.setattr(forwarder, "envelope", exploding)
    client = await _client(make_client, _events(url, forward_max_attempts=2))
    with capture_logs() as logs:
        assert await _webhook(client, "EV_explodes", room="room1") == 200
        assert await _webhook(client, "EV_next", room="room1") == 200
        await wait_for(lambda: target.ids() == ["EV_next"])
    assert any("unexpectedly" in str(line.get("event")) for line in logs)
    response = await client.get(
        "/v1/events", params={"state": "dead"}, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
    )
    (dead,) = (await response.json())["events"]
    assert dead["id"] == "EV_explodes"
    assert dead["delivery"]["last_error"] == "unexpected RuntimeError"


async def test_an_event_id_with_line_breaks_is_stored_and_forwarded_safely(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    client = await _client(make_client, _events(url))
    assert await _webhook(client, "EV_bad\r\nX-Injected: 1") == 200
    assert await _webhook(client, "EV_fine") == 200
    await wait_for(lambda: len(target.received) == 2)
    first, second = target.received
    assert first["id"].startswith("sha256:") and second["id"] == "EV_fine"
