"""VideoSDK webhooks at POST /videosdk/webhook, signed with an RSA key made by the test."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.helpers import (
    VIDEOSDK_KEY,
    VIDEOSDK_SECRET,
    Client,
    MakeClient,
    make_settings,
    videosdk_settings,
)
from tests.videosdk.fake_api import FakeVideoSdk

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _sign(body: bytes, key: rsa.RSAPrivateKey = KEY) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def _event(participant: str = "alice") -> bytes:
    data = {
        "meetingId": "abc-xyzw-lmno",
        "sessionId": "s-1",
        "participantId": participant,
        "participantName": "Alice",
    }
    return json.dumps({"webhookType": "participant-joined", "data": data}).encode()


@pytest.fixture
async def hooks(make_client: MakeClient) -> Client:
    return await make_client(make_settings(videosdk=videosdk_settings(webhook_public_key=PEM)))


async def _send(client: Client, body: bytes, signature: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["videosdk-signature"] = signature
    response = await client.post("/videosdk/webhook", data=body, headers=headers)
    return response.status, await response.json()


async def test_a_signed_event_is_taken(hooks: Client) -> None:
    body = _event()
    status, answer = await _send(hooks, body, _sign(body))
    assert (status, answer["status"]) == (200, "received")
    assert answer["id"].startswith("sha256:")


async def test_the_same_body_again_is_a_duplicate(hooks: Client) -> None:
    body = _event("bob")
    await _send(hooks, body, _sign(body))
    assert (await _send(hooks, body, _sign(body)))[1]["status"] == "duplicate"


@pytest.mark.parametrize("case", ["other-key", "tampered", "not-base64", "re-serialized"])
async def test_a_forged_event_is_401(hooks: Client, case: str) -> None:
    body = _event()
    if case == "other-key":
        sent, signature = (
            body,
            _sign(body, rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        )
    elif case == "tampered":
        sent, signature = body.replace(b"alice", b"mallo"), _sign(body)
    elif case == "not-base64":
        sent, signature = body, "not base64!"
    else:
        sent, signature = json.dumps(json.loads(body), indent=1).encode(), _sign(body)
    assert (await _send(hooks, sent, signature))[0] == 401


async def test_a_missing_signature_is_400(hooks: Client) -> None:
    assert (await _send(hooks, _event(), None))[0] == 400


async def test_the_public_key_is_fetched_once_from_videosdk_when_not_configured(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    import time

    fake = FakeVideoSdk(VIDEOSDK_KEY, VIDEOSDK_SECRET, public_key_pem=PEM)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    endpoint = str(server.make_url("")).rstrip("/")
    client = await make_client(
        make_settings(videosdk=videosdk_settings(endpoint=endpoint)), clock=time.time
    )
    for participant in ("a", "b", "c"):
        body = _event(participant)
        assert (await _send(client, body, _sign(body)))[0] == 200
    assert [r.path for r in fake.requests] == ["/v2/public/rsa-public-key"]


@pytest.mark.parametrize("signature", [None, "", "not base64!"])
async def test_an_unusable_signature_is_refused_without_asking_videosdk_for_its_key(
    make_client: MakeClient, aiohttp_server: Any, signature: str | None
) -> None:
    fake = FakeVideoSdk(VIDEOSDK_KEY, VIDEOSDK_SECRET, public_key_pem=PEM)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    endpoint = str(server.make_url("")).rstrip("/")
    client = await make_client(make_settings(videosdk=videosdk_settings(endpoint=endpoint)))
    status = (await _send(client, _event(), signature))[0]
    assert status in (400, 401)
    assert fake.requests == []


async def test_when_the_key_cannot_be_fetched_the_event_is_refused_with_a_5xx(
    client: Client,
) -> None:
    body = _event()
    status, _ = await _send(client, body, _sign(body))
    assert status == 502


async def test_while_the_key_endpoint_fails_webhooks_do_not_hammer_it(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    import asyncio
    import time

    fake = FakeVideoSdk(VIDEOSDK_KEY, VIDEOSDK_SECRET, public_key_pem=PEM)
    fake.fail(500)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    endpoint = str(server.make_url("")).rstrip("/")
    client = await make_client(
        make_settings(videosdk=videosdk_settings(endpoint=endpoint)), clock=time.time
    )
    forged = [_event(f"p{n}") for n in range(20)]
    # Well-formed signatures, so each needs the key to be judged.
    signature = base64.b64encode(b"forged" * 40).decode()
    statuses = await asyncio.gather(*(_send(client, body, signature) for body in forged))
    assert {status for status, _ in statuses} == {502}
    # One fetch (with its one retry) for the whole burst, not two calls per webhook.
    assert len(fake.requests) <= 2
