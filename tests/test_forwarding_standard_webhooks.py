"""Forwarded events are signed as Standard Webhooks has it, judged by the reference library
(`standardwebhooks` on PyPI, and on npm from Node): each of several rotation secrets
verifies a delivery and an unrelated one does not, a whsec_ secret and a raw one both work,
a retry keeps its webhook-id, the deprecated X-RTC-Signature still checks out with the
first secret, and a bad secret list stops the service at start-up with a one-line error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.access.settings import AccessSettings
from service.apps import parse_apps
from service.env import ConfigError, Env
from service.forwarder import standard_signature
from service.store.settings import EventSettings, load_event_settings, signing_key
from tests.helpers import (
    LIVEKIT_KEY,
    LIVEKIT_SECRET,
    ORACLE_DIR,
    Client,
    MakeClient,
    make_settings,
    wait_for,
)
from tests.livekit.server import participant_joined, sign_webhook

# Two secrets in rotation: the new one in Standard Webhooks' form, the old one raw.
WHSEC = "whsec_" + base64.b64encode(b"the-new-forwarding-key-32-bytes!").decode()
RAW = "the-old-raw-forward-secret-0123"
UNRELATED = "whsec_" + base64.b64encode(b"somebody-elses-key-of-32-bytes!!").decode()
EVENTS_TOKEN = "events-admin-token"


def _hook(secret: str) -> Webhook:
    """A receiver's verifier: a whsec_ secret as it is, a raw one as its UTF-8 bytes."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        _hook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """Records every attempt; refuses the first `refuse` of them."""

    attempts: list[Delivery] = field(default_factory=list)
    refuse: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts.append(Delivery(await request.read(), dict(request.headers)))
        return web.Response(status=503 if len(self.attempts) <= self.refuse else 204)


@pytest.fixture
async def receiver(aiohttp_server: Any) -> tuple[Receiver, str]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", target.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return target, str(server.make_url("/hooks"))


async def _forwarded(
    make_client: MakeClient, url: str, secret: str, event_id: str = "EV_standard1"
) -> Client:
    events = EventSettings(
        db_path=":memory:",
        forward_url=url,
        forward_secret=secret,
        forward_backoff=0.05,
        forward_max_attempts=5,
        api_token=EVENTS_TOKEN,
    )
    client = await make_client(make_settings(events=events), clock=time.time)
    body = participant_joined(event_id)
    response = await client.post(
        "/livekit/webhook",
        data=body,
        headers={"Authorization": sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)},
    )
    assert response.status == 200
    return client


@pytest.mark.parametrize("configured", [f"{WHSEC} {RAW}", f"{RAW},{WHSEC}", f" {WHSEC} , {RAW} "])
async def test_a_delivery_verifies_under_each_rotation_secret_and_not_under_another(
    make_client: MakeClient, receiver: tuple[Receiver, str], configured: str
) -> None:
    target, url = receiver
    await _forwarded(make_client, url, configured)
    await wait_for(lambda: len(target.attempts) == 1)
    (delivery,) = target.attempts
    assert _verifies(WHSEC, delivery.body, delivery.headers)
    assert _verifies(RAW, delivery.body, delivery.headers)
    assert not _verifies(UNRELATED, delivery.body, delivery.headers)
    assert not _verifies("another-raw-secret-0123456", delivery.body, delivery.headers)
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    envelope = _hook(RAW).verify(delivery.body, delivery.headers)
    assert envelope["id"] == "EV_standard1"


@pytest.mark.parametrize("secret", [WHSEC, RAW])
async def test_a_single_whsec_or_raw_secret_signs_a_delivery_the_library_accepts(
    make_client: MakeClient, receiver: tuple[Receiver, str], secret: str
) -> None:
    target, url = receiver
    await _forwarded(make_client, url, secret)
    await wait_for(lambda: len(target.attempts) == 1)
    (delivery,) = target.attempts
    assert _verifies(secret, delivery.body, delivery.headers)
    assert not _verifies(UNRELATED, delivery.body, delivery.headers)
    assert delivery.headers["webhook-signature"].count("v1,") == 1


async def test_a_retry_keeps_its_webhook_id_and_is_stamped_and_signed_afresh(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.refuse = 2
    await _forwarded(make_client, url, f"{WHSEC} {RAW}", "EV_retried")
    await wait_for(lambda: len(target.attempts) == 3)
    ids = {attempt.headers["webhook-id"] for attempt in target.attempts}
    assert len(ids) == 1 and ids.pop().startswith("evt_")
    assert [a.headers["X-RTC-Delivery-Attempt"] for a in target.attempts] == ["1", "2", "3"]
    for attempt in target.attempts:
        assert _verifies(WHSEC, attempt.body, attempt.headers)
        assert abs(int(attempt.headers["webhook-timestamp"]) - time.time()) < 60


async def test_another_event_gets_another_webhook_id(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    client = await _forwarded(make_client, url, WHSEC, "EV_first")
    body = participant_joined("EV_second", room="room2")
    response = await client.post(
        "/livekit/webhook",
        data=body,
        headers={"Authorization": sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)},
    )
    assert response.status == 200
    await wait_for(lambda: len(target.attempts) == 2)
    assert len({attempt.headers["webhook-id"] for attempt in target.attempts}) == 2


async def test_the_deprecated_x_rtc_signature_is_still_sent_signed_with_the_first_secret(
    make_client: MakeClient, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    await _forwarded(make_client, url, f"{RAW} {WHSEC}")
    await wait_for(lambda: len(target.attempts) == 1)
    (delivery,) = target.attempts
    fields = dict(part.split("=", 1) for part in delivery.headers["X-RTC-Signature"].split(","))
    assert fields["t"] == delivery.headers["webhook-timestamp"]
    expected = hmac.new(RAW.encode(), f"{fields['t']}.".encode() + delivery.body, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())


def test_the_signature_is_the_specs_hmac_of_id_dot_timestamp_dot_body() -> None:
    key = signing_key(WHSEC)
    assert key == b"the-new-forwarding-key-32-bytes!"
    assert signing_key(RAW) == RAW.encode()
    digest = hmac.new(key, b"evt_1.1700000000.{}", hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert standard_signature((key,), "evt_1", 1700000000, b"{}") == expected


def test_a_stale_timestamp_is_refused_by_the_library_as_a_replay() -> None:
    stale = int(time.time()) - 6 * 60
    key = signing_key(WHSEC)
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(stale),
        "webhook-signature": standard_signature((key,), "evt_1", stale, b"{}"),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WHSEC).verify(b"{}", headers)


BAD_LISTS = [
    ("", "must be set"),
    (" , ", "must be set"),
    ("short", "the secret has 5 characters; at least 16"),
    (f"{WHSEC} short-one", "secret 2 of 2 has 9 characters; at least 16"),
    (f"{RAW},whsec_not*base64!!", "secret 2 of 2 starts with 'whsec_' but the rest is not valid"),
    ("whsec_c2hvcnQta2V5", "the secret is a 'whsec_' key of 9 bytes; at least 16"),
    (f"whsec_{base64.b64encode(b'x' * 32).decode()[:-1]}", "not valid base64"),
]


@pytest.mark.parametrize(("configured", "says"), BAD_LISTS)
def test_a_bad_secret_list_in_the_environment_stops_start_up_in_one_line(
    configured: str, says: str
) -> None:
    environ = {"WEBHOOK_FORWARD_URL": "https://app.example/hooks"}
    environ["WEBHOOK_FORWARD_SECRET"] = configured
    with pytest.raises(ConfigError) as raised:
        load_event_settings(Env(environ))
    message = str(raised.value)
    assert message.startswith("WEBHOOK_FORWARD_SECRET: ") and says in message
    assert "\n" not in message
    assert "short-one" not in message and "not*base64" not in message  # never quoted


@pytest.mark.parametrize(("configured", "says"), BAD_LISTS)
def test_a_bad_secret_list_in_the_apps_file_stops_start_up_in_one_line(
    configured: str, says: str
) -> None:
    text = f"[apps.a]\nforward_url = 'https://a.example/hooks'\nforward_secret = '{configured}'\n"
    with pytest.raises(ConfigError) as raised:
        parse_apps(text, {}, AccessSettings())
    message = str(raised.value)
    assert message.startswith("APPS_FILE: apps.a.forward_secret: ") and says in message
    assert "\n" not in message


def test_a_good_secret_list_is_read_from_the_environment_and_the_apps_file() -> None:
    configured = f"{WHSEC}, {RAW}"
    environ = {"WEBHOOK_FORWARD_URL": "https://app.example/hooks"}
    environ["WEBHOOK_FORWARD_SECRET"] = configured
    assert load_event_settings(Env(environ)).forward_secret == configured
    text = f"[apps.a]\nforward_url = 'https://a.example/hooks'\nforward_secret = '{configured}'\n"
    app = parse_apps(text, {}, AccessSettings()).get("a")
    assert app is not None and app.forward_secret == configured


@pytest.mark.slow
@pytest.mark.parametrize("secret", [WHSEC, RAW])
async def test_the_npm_standardwebhooks_package_verifies_a_delivery_from_node(
    node: str, make_client: MakeClient, receiver: tuple[Receiver, str], secret: str
) -> None:
    if not (ORACLE_DIR / "node_modules" / "standardwebhooks").is_dir():
        pytest.skip("standardwebhooks is not installed: run `npm ci --prefix tests/oracle`")
    target, url = receiver
    await _forwarded(make_client, url, f"{WHSEC} {RAW}")
    await wait_for(lambda: len(target.attempts) == 1)
    (delivery,) = target.attempts

    def verdict(with_secret: str) -> subprocess.CompletedProcess[str]:
        given = {
            "secret": with_secret,
            "raw": not with_secret.startswith("whsec_"),
            "body": delivery.body.decode(),
            "headers": delivery.headers,
        }
        return subprocess.run(
            [node, str(ORACLE_DIR / "standard_webhook.js")],
            input=json.dumps(given),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    accepted = verdict(secret)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    refused = verdict(UNRELATED)
    assert refused.returncode == 1 and "No matching signature" in refused.stdout
