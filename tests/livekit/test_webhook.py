"""verify_webhook against webhooks signed exactly as LiveKit server signs them."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest
from livekit.api import AccessToken, TokenVerifier, VideoGrants, WebhookReceiver

from service.livekit.webhook import summarize_event, verify_webhook
from service.signatures import WebhookRejected
from tests.helpers import LIVEKIT_KEY, LIVEKIT_OLD_KEY, LIVEKIT_OLD_SECRET, LIVEKIT_SECRET
from tests.livekit.server import (
    NODE_SDK_BODY,
    NODE_SDK_KEY,
    NODE_SDK_SECRET,
    NODE_SDK_SHA256,
    body_checksum,
    participant_joined,
    sign_webhook,
)

KEYS = {LIVEKIT_KEY: LIVEKIT_SECRET, LIVEKIT_OLD_KEY: LIVEKIT_OLD_SECRET}
BODY = participant_joined()


def _verify(body: bytes, authorization: str | None, *, now: float | None = None) -> str:
    verified = verify_webhook(body, authorization, KEYS, now=time.time() if now is None else now)
    return verified.api_key


def _rejected(
    body: bytes, authorization: str | None, *, now: float | None = None
) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as raised:
        _verify(body, authorization, now=now)
    return raised.value


def _raw_token(
    claims: dict[str, object], secret: str = LIVEKIT_SECRET, algorithm: str = "HS256"
) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(body: bytes = BODY, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": LIVEKIT_KEY,
        "nbf": now,
        "exp": now + 300,
        "sha256": body_checksum(body),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_webhook_signed_as_livekit_server_signs_it_is_accepted() -> None:
    assert _verify(BODY, sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)) == LIVEKIT_KEY


def test_livekits_own_receiver_agrees_with_us_on_the_same_webhook() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    event = WebhookReceiver(TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET)).receive(
        BODY.decode(), token
    )
    assert event.participant.identity == "alice"
    assert _verify(BODY, token) == LIVEKIT_KEY


def test_the_node_sdk_vector_with_spaces_after_commas_is_accepted() -> None:
    assert body_checksum(NODE_SDK_BODY) == NODE_SDK_SHA256
    token = AccessToken(NODE_SDK_KEY, NODE_SDK_SECRET).with_sha256(NODE_SDK_SHA256).to_jwt()
    verified = verify_webhook(
        NODE_SDK_BODY, token, {NODE_SDK_KEY: NODE_SDK_SECRET}, now=time.time()
    )
    assert verified.body == NODE_SDK_BODY


def test_webhooks_signed_by_either_of_two_configured_keys_are_accepted() -> None:
    assert _verify(BODY, sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)) == LIVEKIT_KEY
    assert _verify(BODY, sign_webhook(BODY, LIVEKIT_OLD_KEY, LIVEKIT_OLD_SECRET)) == LIVEKIT_OLD_KEY


def test_a_body_with_non_ascii_characters_is_hashed_as_sent() -> None:
    body = participant_joined(room="salle-été-会议")
    assert _verify(body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)) == LIVEKIT_KEY


def test_clock_skew_within_a_minute_is_tolerated() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    assert _verify(BODY, token, now=time.time() + 300 + 50) == LIVEKIT_KEY  # exp 50 s ago
    assert _verify(BODY, token, now=time.time() - 50) == LIVEKIT_KEY  # nbf 50 s ahead


def test_a_missing_header_is_400() -> None:
    assert _rejected(BODY, None).status == 400


@pytest.mark.parametrize("header", ["", "   "])
def test_an_empty_header_is_rejected(header: str) -> None:
    assert _rejected(BODY, header).status == 400


def test_a_bearer_prefix_is_rejected_as_livekits_receivers_do() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    rejected = _rejected(BODY, f"Bearer {token}")
    assert rejected.status == 401
    assert "Bearer" in rejected.message


def test_a_token_without_sha256_is_rejected() -> None:
    assert "sha256" in _rejected(BODY, _raw_token(_claims(sha256=None))).message


def test_a_participants_join_token_cannot_vouch_for_a_body() -> None:
    # The hole of OpenVidu's old .NET sample: any token signed with the secret passed.
    join = (
        AccessToken(LIVEKIT_KEY, LIVEKIT_SECRET)
        .with_identity("mallory")
        .with_grants(VideoGrants(room_join=True, room="room1"))
        .to_jwt()
    )
    assert _rejected(BODY, join).status == 401


def test_a_pretty_printed_body_is_rejected() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert _rejected(pretty, token).status == 401


def test_a_re_serialized_body_is_rejected() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    reserialized = json.dumps(json.loads(BODY)).encode()  # ", " and ": " separators
    assert _rejected(reserialized, token).status == 401


def test_a_body_with_a_trailing_newline_is_rejected() -> None:
    assert _rejected(BODY + b"\n", sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)).status == 401


def test_a_tampered_body_is_rejected() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    assert _rejected(BODY.replace(b"alice", b"mallo"), token).status == 401


@pytest.mark.parametrize(
    "checksum",
    [
        base64.urlsafe_b64encode(hashlib.sha256(BODY).digest()).decode().rstrip("="),
        hashlib.sha256(BODY).hexdigest(),
        base64.b64encode(hashlib.sha256(BODY).digest()).decode().rstrip("="),
    ],
    ids=["url-safe", "hex", "unpadded"],
)
def test_a_checksum_in_another_encoding_is_rejected(checksum: str) -> None:
    assert _rejected(BODY, _raw_token(_claims(sha256=checksum))).status == 401


def test_a_token_signed_with_a_wrong_secret_is_rejected() -> None:
    assert (
        _rejected(
            BODY, sign_webhook(BODY, LIVEKIT_KEY, "not-the-secret-at-all-0123456789ab")
        ).status
        == 401
    )


def test_a_token_from_an_unknown_key_is_rejected() -> None:
    assert _rejected(BODY, sign_webhook(BODY, "APIunknown", LIVEKIT_SECRET)).status == 401


def test_a_token_without_iss_is_rejected() -> None:
    assert _rejected(BODY, _raw_token(_claims(iss=None))).status == 401


def test_a_token_claiming_one_key_but_signed_with_anothers_secret_is_rejected() -> None:
    token = _raw_token(_claims(iss=LIVEKIT_OLD_KEY), secret=LIVEKIT_SECRET)
    assert _rejected(BODY, token).status == 401


def test_hs512_is_rejected() -> None:
    token = _raw_token(_claims(), algorithm="HS512")
    assert "HS256" in _rejected(BODY, token).message


def test_alg_none_is_rejected() -> None:
    token = jwt.encode(_claims(), None, algorithm="none")  # type: ignore[arg-type]
    assert _rejected(BODY, token).status == 401


def test_a_token_expired_beyond_the_leeway_is_rejected() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    assert "expired" in _rejected(BODY, token, now=time.time() + 300 + 61).message


def test_a_token_not_yet_valid_beyond_the_leeway_is_rejected() -> None:
    token = sign_webhook(BODY, LIVEKIT_KEY, LIVEKIT_SECRET)
    assert "not valid yet" in _rejected(BODY, token, now=time.time() - 61).message


def test_a_token_without_exp_is_rejected() -> None:
    assert "exp" in _rejected(BODY, _raw_token(_claims(exp=None))).message


@pytest.mark.parametrize("header", ["garbage", "a.b.c", "e30.e30.", "Basic dXNlcjpwYXNz"])
def test_a_header_that_is_not_a_jwt_is_rejected(header: str) -> None:
    assert _rejected(BODY, header).status == 401


def test_the_log_summary_names_event_room_participant_and_track() -> None:
    event = json.loads(BODY)
    assert summarize_event(event) == {
        "event_type": "participant_joined",
        "event_id": "EV_ab8MiHF3JshN",
        "room": "room1",
        "participant": "alice",
        "track": None,
    }
