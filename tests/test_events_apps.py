"""Stored events are per app: each carries its app, GET /v1/events?app= lists one app's,
and one event id is stored once per app, never shadowing another app's."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import pytest

from service.store.settings import EventSettings
from tests.helpers import Client, MakeClient
from tests.livekit.server import sign_webhook
from tests.test_apps import APPS as CREDENTIALS
from tests.test_apps import _livekit_event, _settings

EVENTS_TOKEN = "events-admin-token"
AUTH = {"Authorization": f"Bearer {EVENTS_TOKEN}"}


async def _client(make_client: MakeClient) -> Client:
    events = EventSettings(db_path=":memory:", api_token=EVENTS_TOKEN)
    return await make_client(replace(_settings(), events=events), clock=time.time)


async def _livekit(client: Client, app: str, event_id: str) -> dict[str, Any]:
    body = _livekit_event(event_id)
    token = sign_webhook(body, CREDENTIALS[app]["lk_key"], CREDENTIALS[app]["lk_secret"])
    headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
    response = await client.post("/livekit/webhook", data=body, headers=headers)
    assert response.status == 200
    answer: dict[str, Any] = await response.json()
    return answer


async def _ncs(client: Client, app: str, notice_id: str) -> dict[str, Any]:
    notice = {
        "noticeId": notice_id,
        "productId": 1,
        "eventType": 101,
        "notifyMs": int(time.time() * 1000),
        "payload": {"channelName": "demo"},
    }
    body = json.dumps(notice).encode()
    signature = hmac.new(CREDENTIALS[app]["ncs"].encode(), body, hashlib.sha256).hexdigest()
    response = await client.post(
        f"/apps/{app}/agora/webhook", data=body, headers={"Agora-Signature-V2": signature}
    )
    assert response.status == 200
    answer: dict[str, Any] = await response.json()
    return answer


async def _events(client: Client, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params=params, headers=AUTH)
    assert response.status == 200
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def test_every_stored_event_carries_its_app(make_client: MakeClient) -> None:
    client = await _client(make_client)
    await _livekit(client, "alpha", "EV_a")
    await _livekit(client, "beta", "EV_b")
    await _ncs(client, "beta", "n-b")
    events = await _events(client)
    assert [(e["app"], e["provider"], e["id"]) for e in events] == [
        ("alpha", "livekit", "EV_a"),
        ("beta", "livekit", "EV_b"),
        ("beta", "agora", "n-b"),
    ]


async def test_the_events_api_lists_one_apps_events(make_client: MakeClient) -> None:
    client = await _client(make_client)
    for i in range(3):
        await _livekit(client, "alpha", f"EV_a{i}")
        await _livekit(client, "beta", f"EV_b{i}")
    alpha = await _events(client, app="alpha")
    assert [e["id"] for e in alpha] == ["EV_a0", "EV_a1", "EV_a2"]
    page = await client.get("/v1/events", params={"app": "beta", "limit": "2"}, headers=AUTH)
    first = await page.json()
    rest = await _events(client, app="beta", after=first["next_cursor"])
    assert [e["id"] for e in first["events"] + rest] == ["EV_b0", "EV_b1", "EV_b2"]
    assert await _events(client, app="gamma") == []  # no such app (any more): nothing


async def test_the_same_event_id_in_two_apps_is_stored_for_each(make_client: MakeClient) -> None:
    client = await _client(make_client)
    assert (await _ncs(client, "alpha", "n-shared"))["status"] == "received"
    assert (await _ncs(client, "beta", "n-shared"))["status"] == "received"
    assert (await _ncs(client, "alpha", "n-shared"))["status"] == "duplicate"
    assert (await _ncs(client, "beta", "n-shared"))["status"] == "duplicate"
    assert [e["app"] for e in await _events(client, provider="agora")] == ["alpha", "beta"]


@pytest.mark.parametrize("app", ["", "Alpha", "a" * 64, "-alpha", "al/pha", "al pha", "é"])
async def test_the_events_api_refuses_an_app_that_is_no_app_name(
    make_client: MakeClient, app: str
) -> None:
    client = await _client(make_client)
    response = await client.get("/v1/events", params={"app": app}, headers=AUTH)
    assert (response.status, (await response.json())["field"]) == (400, "app")


def test_the_events_route_documents_its_app_parameter() -> None:
    from service.openapi import DOCUMENT

    operation = DOCUMENT["paths"]["/v1/events"]["get"]
    assert "app" in {parameter["name"] for parameter in operation["parameters"]}
