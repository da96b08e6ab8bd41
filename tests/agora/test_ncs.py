"""Agora NCS webhooks at POST /agora/webhook, checked against independently computed values."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest

from service.agora.ncs import verify_ncs
from service.signatures import WebhookRejected
from tests.helpers import NOW, Client, MakeClient, agora_settings, make_settings

# The body printed in Agora's docs with secret "secret". The docs' own signatures for it do
# not reproduce; these do (computed with Python and Node, see shared notes §9).
DOCS_BODY = (
    b'{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e53f411c2761f","notifyMs":1560408533119,'
    b'"payload":{"a":"1","b":2},"productId":1}'
)
DOCS_SHA1 = "92ea60c5249b641f80de046d11e1cb2d15f1d1b2"
DOCS_SHA256 = "6ba85d7c1122f6c51143cce7765f06c601c0fbd691987f4510e45b943b2639e8"
SECRET = "ncs-test-secret"


def test_the_docs_body_verifies_with_the_values_that_reproduce() -> None:
    assert len(DOCS_BODY) == 130
    assert (
        verify_ncs(DOCS_BODY, signature_v2=DOCS_SHA256, signature_v1=None, secret="secret") == "v2"
    )
    assert verify_ncs(DOCS_BODY, signature_v2=None, signature_v1=DOCS_SHA1, secret="secret") == "v1"


def test_the_signatures_printed_in_agoras_docs_are_rejected_because_they_are_wrong() -> None:
    with pytest.raises(WebhookRejected):
        verify_ncs(
            DOCS_BODY, signature_v2="6d3320c6" + "0" * 56, signature_v1=None, secret="secret"
        )


def test_v2_wins_when_both_are_sent() -> None:
    with pytest.raises(WebhookRejected):
        verify_ncs(DOCS_BODY, signature_v2="0" * 64, signature_v1=DOCS_SHA1, secret="secret")


def test_uppercase_hex_is_accepted() -> None:
    assert verify_ncs(
        DOCS_BODY, signature_v2=DOCS_SHA256.upper(), signature_v1=None, secret="secret"
    )


# The ncs client's clock is tests.helpers' NOW: a notice sent then.
SENT_MS = NOW * 1000


def _notice(notice_id: str, channel: str = "demo", notify_ms: int = SENT_MS) -> bytes:
    return json.dumps(
        {
            "noticeId": notice_id,
            "productId": 1,
            "eventType": 103,
            "notifyMs": notify_ms,
            "payload": {"channelName": channel, "uid": 42, "clientSeq": 1, "ts": 1},
        },
        separators=(",", ":"),
    ).encode()


def _headers(body: bytes, *, v1: bool = False) -> dict[str, str]:
    if v1:
        return {"Agora-Signature": hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}
    return {"Agora-Signature-V2": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


@pytest.fixture
async def ncs(make_client: MakeClient) -> Client:
    return await make_client(make_settings(agora=agora_settings(ncs_secret=SECRET)))


async def _send(client: Client, body: bytes, headers: dict[str, str]) -> tuple[int, Any, str]:
    response = await client.post(
        "/agora/webhook", data=body, headers={"Content-Type": "application/json", **headers}
    )
    return response.status, await response.json(), response.content_type


async def test_a_signed_notice_is_200_with_a_json_body(ncs: Client) -> None:
    body = _notice("n-1")
    status, answer, content_type = await _send(ncs, body, _headers(body))
    assert (status, answer, content_type) == (
        200,
        {"status": "received", "id": "n-1"},
        "application/json",
    )


async def test_sha1_alone_is_accepted(ncs: Client) -> None:
    body = _notice("n-sha1")
    assert (await _send(ncs, body, _headers(body, v1=True)))[0] == 200


async def test_a_resend_with_a_new_notify_ms_is_a_duplicate(ncs: Client) -> None:
    first, again = _notice("n-2", notify_ms=SENT_MS), _notice("n-2", notify_ms=SENT_MS + 5000)
    assert (await _send(ncs, first, _headers(first)))[1]["status"] == "received"
    assert (await _send(ncs, again, _headers(again)))[1]["status"] == "duplicate"


async def test_simultaneous_copies_are_stored_once(ncs: Client) -> None:
    body = _notice("n-3")
    answers = await asyncio.gather(*(_send(ncs, body, _headers(body)) for _ in range(8)))
    assert sorted(a[1]["status"] for a in answers) == ["duplicate"] * 7 + ["received"]


async def test_no_signature_is_400_and_a_wrong_one_401(ncs: Client) -> None:
    body = _notice("n-4")
    assert (await _send(ncs, body, {}))[0] == 400
    assert (await _send(ncs, body, {"Agora-Signature-V2": "0" * 64}))[0] == 401
    tampered = body.replace(b"demo", b"evil")
    assert (await _send(ncs, tampered, _headers(body)))[0] == 401


async def test_a_signed_body_that_is_not_a_notice_is_400(ncs: Client) -> None:
    body = b'{"hello": "world"}'
    assert (await _send(ncs, body, _headers(body)))[0] == 400


async def test_without_a_secret_the_route_is_503(client: Client) -> None:
    body = _notice("n-5")
    status, answer, _ = await _send(client, body, _headers(body))
    assert status == 503
    assert "AGORA_NCS_SECRET" in answer["message"]


@pytest.mark.parametrize(
    "sent_ms",
    [SENT_MS - 40 * 86_400_000, SENT_MS - 86_401_000, SENT_MS + 3_600_000],
    ids=["40 days ago", "just over a day ago", "an hour ahead"],
)
async def test_a_notice_stamped_outside_the_window_is_refused_and_not_stored(
    ncs: Client, sent_ms: int
) -> None:
    body = _notice("n-old", notify_ms=sent_ms)
    status, answer, _ = await _send(ncs, body, _headers(body))
    assert (status, answer["error"]) == (400, "stale_event")
    fresh = _notice("n-old")
    assert (await _send(ncs, fresh, _headers(fresh)))[1]["status"] == "received"
