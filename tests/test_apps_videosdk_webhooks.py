"""VideoSDK webhooks with several apps: each is verified with its own app's public key,
named by the /apps/<name>/ prefix, and stored under that app."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.apps import Apps
from tests.helpers import MakeClient
from tests.test_apps import OTHER, _app, _settings

KEYS = {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in OTHER}
PEMS = {
    name: key.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
    for name, key in KEYS.items()
}
ADMIN = "events-admin-token-0123456789"


def _sign(body: bytes, name: str) -> str:
    return base64.b64encode(KEYS[name].sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def _event(participant: str) -> bytes:
    data = {"meetingId": "abc-xyzw-lmno", "participantId": participant, "start": time.time()}
    return json.dumps({"webhookType": "participant-joined", "data": data}).encode()


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_a_videosdk_webhook_is_verified_with_its_apps_key_and_stored_under_it(
    make_client: MakeClient, name: str
) -> None:
    apps = [
        replace(a, videosdk=replace(a.videosdk, webhook_public_key=PEMS[a.name]))
        for a in (_app("alpha"), _app("beta"))
    ]
    settings = replace(_settings(), file_apps=Apps.of(apps))
    settings = replace(settings, events=replace(settings.events, api_token=ADMIN))
    client = await make_client(settings, clock=time.time)
    body = _event(f"p-{name}")
    path = f"/apps/{name}/videosdk/webhook"
    signed = {"Content-Type": "application/json", "videosdk-signature": _sign(body, name)}
    assert (await client.post(path, data=body, headers=signed)).status == 200
    forged = {**signed, "videosdk-signature": _sign(body, OTHER[name])}
    assert (await client.post(path, data=_event("other"), headers=forged)).status == 401
    listed = await client.get(
        f"/v1/events?app={name}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    events = (await listed.json())["events"]
    assert [(e["app"], e["provider"]) for e in events] == [(name, "videosdk")]
