"""Webhooks made the way LiveKit server makes them, with LiveKit's own Python package:
a protojson body (camelCase, int64 as strings, compact) and an AccessToken carrying only
the body's sha256, valid 5 minutes, sent as the bare Authorization header."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
import urllib.request
from typing import Any

from google.protobuf.json_format import MessageToDict
from livekit.api import AccessToken
from livekit.protocol.models import ParticipantInfo, Room, TrackInfo
from livekit.protocol.webhook import WebhookEvent


def body_checksum(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def sign_webhook(body: bytes, api_key: str, api_secret: str) -> str:
    token = AccessToken(api_key, api_secret)
    token.with_ttl(datetime.timedelta(minutes=5)).with_sha256(body_checksum(body))
    return token.to_jwt()


def post_webhook(
    port: int, body: bytes, api_key: str, api_secret: str, **headers: str
) -> tuple[int, dict[str, Any]]:
    """POST a signed webhook to a running service's /livekit/webhook over real HTTP."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/livekit/webhook",
        data=body,
        method="POST",
        headers={
            "Authorization": sign_webhook(body, api_key, api_secret),
            "Content-Type": "application/webhook+json",
            **headers,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


def protojson(event: WebhookEvent) -> bytes:
    return json.dumps(MessageToDict(event), separators=(",", ":"), ensure_ascii=False).encode()


def participant_joined(event_id: str = "EV_ab8MiHF3JshN", room: str = "room1") -> bytes:
    return protojson(
        WebhookEvent(
            event="participant_joined",
            room=Room(sid="RM_abc", name=room, empty_timeout=300, creation_time=1700000000),
            participant=ParticipantInfo(
                sid="PA_xyz",
                identity="alice",
                name="Alice",
                state=ParticipantInfo.State.ACTIVE,
                joined_at=1700000005,
            ),
            id=event_id,
            created_at=int(time.time()),
        )
    )


def track_published(event_id: str = "EV_track000001") -> bytes:
    return protojson(
        WebhookEvent(
            event="track_published",
            room=Room(sid="RM_abc", name="room1"),
            participant=ParticipantInfo(sid="PA_xyz", identity="alice"),
            track=TrackInfo(sid="TR_cam", name="camera"),
            id=event_id,
            created_at=int(time.time()),
        )
    )


# node-sdks' WebhookReceiver test vector: Go protojson with a space after each comma.
NODE_SDK_KEY = "abcdefg"
NODE_SDK_SECRET = "abababa"
NODE_SDK_BODY = (
    b'{"event":"room_started", "room":{"sid":"RM_TkVjUvAqgzKz", "name":"mytestroom", '
    b'"emptyTimeout":300, "creationTime":"1628545903", '
    b'"turnPassword":"ICkSr2rEeslkN6e9bXL4Ji5zzMD5Z7zzr6ulOaxMj6N", '
    b'"enabledCodecs":[{"mime":"audio/opus"}, {"mime":"video/VP8"}]}}'
)
NODE_SDK_SHA256 = "CoEQz1chqJ9bnZRcORddjplkvpjmPujmLTR42DbefYI="
