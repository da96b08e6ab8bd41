"""Forwarding per app: each app's events go to its own URL signed with its own secret, an
app without a URL gets no deliveries, one app's dead receiver never delays another app's
events, and the forwarders follow the app set when it is swapped at runtime."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.apps import Apps, with_app
from service.context import APPS, FORWARDER
from service.store.settings import EventSettings
from tests.helpers import Client, MakeClient, free_port, wait_for
from tests.livekit.server import sign_webhook
from tests.test_apps import APPS as CREDENTIALS
from tests.test_apps import _app, _livekit_event, _settings

SECRETS = {"alpha": "alpha-forward-secret-0123", "beta": "beta-forward-secret-01234"}
EVENTS_TOKEN = "events-admin-token"


@dataclass
class Receiver:
    """One app's webhook endpoint: checks its own app's signature; can fail or hang."""

    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    mode: str = "up"  # "up", "500", "hang"
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        try:  # Standard Webhooks; a raw secret is the key's bytes
            Webhook(self.secret.encode()).verify(body, dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=401)  # signed with another app's secret
        if self.mode == "500":
            return web.Response(status=500)
        if self.mode == "hang":
            await self.released.wait()
            return web.Response(status=503)
        envelope = json.loads(body)
        assert request.headers["X-RTC-App"] == envelope["app"]
        self.received.append(envelope)
        return web.Response(status=204)

    def ids(self) -> list[str]:
        return [e["id"] for e in self.received]


async def _receiver(aiohttp_server: Any, secret: str) -> tuple[Receiver, str]:
    target = Receiver(secret)
    app = web.Application()
    app.router.add_post("/hooks", target.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return target, str(server.make_url("/hooks"))


def _forwarding(name: str, url: str | None) -> Any:
    if url is None:
        return _app(name)
    return replace(_app(name), forward_url=url, forward_secret=SECRETS[name])


def _settings_with(urls: dict[str, str | None], **events: Any) -> Any:
    apps = Apps.of([_forwarding(name, url) for name, url in urls.items()])
    options: dict[str, Any] = {
        "db_path": ":memory:",
        "forward_backoff": 0.05,
        "forward_max_attempts": 1000,
        "api_token": EVENTS_TOKEN,
    }
    options.update(events)
    return replace(_settings(), file_apps=apps, events=EventSettings(**options))


def _event_in(event_id: str, room: str) -> bytes:
    event = json.loads(_livekit_event(event_id))
    return json.dumps({**event, "room": {"name": room}}).encode()


async def _webhook(client: Client, app: str, event_id: str, room: str = "r") -> None:
    body = _event_in(event_id, room)
    token = sign_webhook(body, CREDENTIALS[app]["lk_key"], CREDENTIALS[app]["lk_secret"])
    headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
    response = await client.post("/livekit/webhook", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def _stored(client: Client, **params: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/events", params=params, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
    )
    assert response.status == 200
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def test_each_apps_events_go_to_its_own_receiver_signed_with_its_own_secret(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    alpha, alpha_url = await _receiver(aiohttp_server, SECRETS["alpha"])
    beta, beta_url = await _receiver(aiohttp_server, SECRETS["beta"])
    client = await make_client(
        _settings_with({"alpha": alpha_url, "beta": beta_url}), clock=time.time
    )
    for i in range(3):
        await _webhook(client, "alpha", f"EV_alpha{i}")
        await _webhook(client, "beta", f"EV_beta{i}")
    await wait_for(lambda: len(alpha.received) == 3 and len(beta.received) == 3)
    assert alpha.ids() == ["EV_alpha0", "EV_alpha1", "EV_alpha2"]
    assert beta.ids() == ["EV_beta0", "EV_beta1", "EV_beta2"]
    assert {e["app"] for e in alpha.received} == {"alpha"}
    assert {e["app"] for e in beta.received} == {"beta"}
    assert alpha.attempts == beta.attempts == 3  # none refused: each signature was its app's
    assert {e["delivery"]["state"] for e in await _stored(client)} == {"delivered"}


@pytest.mark.parametrize("failure", ["500", "refused", "hang"])
async def test_one_apps_dead_receiver_never_delays_another_apps_events(
    make_client: MakeClient, aiohttp_server: Any, failure: str
) -> None:
    alpha, alpha_url = await _receiver(aiohttp_server, SECRETS["alpha"])
    beta, beta_url = await _receiver(aiohttp_server, SECRETS["beta"])
    if failure == "refused":
        alpha_url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    else:
        alpha.mode = failure
    client = await make_client(
        _settings_with({"alpha": alpha_url, "beta": beta_url}, forward_timeout=60.0),
        clock=time.time,
    )
    try:
        # A backlog of alpha's, in many rooms (so many deliveries at once), all failing or
        # hanging.
        for i in range(40):
            await _webhook(client, "alpha", f"EV_alpha{i}", room=f"room{i}")
        await asyncio.sleep(0.3)
        started = time.monotonic()
        for i in range(5):
            await _webhook(client, "beta", f"EV_beta{i}")
        await wait_for(lambda: len(beta.received) == 5, seconds=5.0)
        assert time.monotonic() - started < 2.0
        assert beta.ids() == [f"EV_beta{i}" for i in range(5)]
        assert alpha.received == []
        if failure != "refused":
            assert alpha.attempts >= 1  # alpha's receiver was failing or holding a request
        pending = await _stored(client, app="alpha", state="pending")
        assert len(pending) == 40
    finally:
        alpha.released.set()


async def test_an_app_without_a_forward_url_gets_no_deliveries_and_keeps_its_events(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    alpha, alpha_url = await _receiver(aiohttp_server, SECRETS["alpha"])
    client = await make_client(_settings_with({"alpha": alpha_url, "beta": None}), clock=time.time)
    assert set(client.app[FORWARDER].running) == {"alpha"}
    await _webhook(client, "beta", "EV_beta_kept")
    await _webhook(client, "alpha", "EV_alpha_sent")
    await wait_for(lambda: alpha.ids() == ["EV_alpha_sent"])
    await asyncio.sleep(0.2)
    assert alpha.ids() == ["EV_alpha_sent"]
    (kept,) = await _stored(client, app="beta")
    assert (kept["id"], kept["app"], kept["delivery"]) == (
        "EV_beta_kept",
        "beta",
        {"state": "pending", "attempts": 0, "last_error": None},
    )


async def test_the_forwarders_follow_the_app_set_when_it_is_swapped(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    alpha, alpha_url = await _receiver(aiohttp_server, SECRETS["alpha"])
    beta, beta_url = await _receiver(aiohttp_server, SECRETS["beta"])
    client = await make_client(_settings_with({"alpha": alpha_url, "beta": None}), clock=time.time)
    registry, forwarder = client.app[APPS], client.app[FORWARDER]
    await _webhook(client, "beta", "EV_beta_early")  # stored while beta forwards nowhere

    # beta gains a forward URL: a forwarder starts and delivers its backlog, then new events.
    registry.current = with_app(registry.current, _forwarding("beta", beta_url))
    forwarder.wake()  # as a reload does; without it, within SYNC_SECONDS
    await wait_for(lambda: beta.ids() == ["EV_beta_early"], seconds=5.0)
    await _webhook(client, "beta", "EV_beta_late")
    await wait_for(lambda: beta.ids() == ["EV_beta_early", "EV_beta_late"], seconds=5.0)

    # alpha's URL moves: its forwarder restarts with the new URL (and takes its lease back).
    moved, moved_url = await _receiver(aiohttp_server, SECRETS["alpha"])
    registry.current = with_app(registry.current, _forwarding("alpha", moved_url))
    forwarder.wake()
    await wait_for(lambda: forwarder.running["alpha"].url == moved_url, seconds=5.0)
    await _webhook(client, "alpha", "EV_alpha_moved")
    await wait_for(lambda: moved.ids() == ["EV_alpha_moved"], seconds=5.0)
    assert alpha.received == []

    # alpha is removed: its forwarder stops; its events stay stored.
    registry.current = Apps.of([a for a in registry.current if a.name != "alpha"])
    forwarder.wake()
    await wait_for(lambda: set(forwarder.running) == {"beta"}, seconds=5.0)


async def test_an_app_given_a_forward_url_is_forwarded_from_its_next_event(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    beta, beta_url = await _receiver(aiohttp_server, SECRETS["beta"])
    client = await make_client(_settings_with({"alpha": None, "beta": None}), clock=time.time)
    registry = client.app[APPS]
    registry.current = with_app(registry.current, _forwarding("beta", beta_url))
    # No reload wake: the event itself has the app set checked, as beta should forward.
    await _webhook(client, "beta", "EV_beta")
    await wait_for(lambda: beta.ids() == ["EV_beta"], seconds=5.0)
