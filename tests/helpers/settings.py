"""The test credentials (those behind the public Agora vectors, a LiveKit key rotation, a
VideoSDK account) and the service's settings built from them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from service.access.settings import AccessSettings
from service.agora.settings import AgoraSettings
from service.agora.tokens import AgoraCredentials
from service.config import Settings
from service.livekit.settings import LiveKitSettings
from service.store.settings import EventSettings
from service.videosdk.settings import VideoSdkSettings

# The credentials behind nearly every public Agora test vector.
APP_ID = "970CA35de60c44645bbae8a215061b33"
CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"
NOW = 1_700_000_000
SALT = 12345


def agora_settings(**overrides: Any) -> AgoraSettings:
    base = AgoraSettings(credentials=AgoraCredentials(APP_ID, CERTIFICATE))
    return replace(base, **overrides)


# A LiveKit deployment with two keys, as during a key rotation; tokens are signed with
# the first. The second secret is as short as OpenVidu's local `secret`.
LIVEKIT_KEY = "APIrotationNew"
LIVEKIT_SECRET = "s3cr3t-new-0123456789abcdefghijklmnop"
LIVEKIT_OLD_KEY = "devkey"
LIVEKIT_OLD_SECRET = "secret"
LIVEKIT_URL = "wss://livekit.example.com"


def livekit_settings(**overrides: Any) -> LiveKitSettings:
    base = LiveKitSettings(
        keys={LIVEKIT_KEY: LIVEKIT_SECRET, LIVEKIT_OLD_KEY: LIVEKIT_OLD_SECRET},
        signing_key=LIVEKIT_KEY,
        url=LIVEKIT_URL,
    )
    return replace(base, **overrides)


VIDEOSDK_KEY = "1a82606a-6272-43eb-86bc-1b159c5d161b"
VIDEOSDK_SECRET = "videosdk-test-secret-0123456789abcdef0123"
# Nothing listens here: tests that reach VideoSDK point the endpoint at their fake API.
VIDEOSDK_UNREACHABLE = "http://127.0.0.1:9"


def videosdk_settings(**overrides: Any) -> VideoSdkSettings:
    base = VideoSdkSettings(
        api_key=VIDEOSDK_KEY, secret=VIDEOSDK_SECRET, endpoint=VIDEOSDK_UNREACHABLE
    )
    return replace(base, **overrides)


def make_settings(**overrides: Any) -> Settings:
    base = Settings(
        agora=agora_settings(),
        livekit=livekit_settings(),
        videosdk=videosdk_settings(),
        events=EventSettings(db_path=":memory:"),
        # Tests send hundreds of requests from one address; the rate-limit tests set theirs.
        access=AccessSettings(caller_limit=None, address_limit=None),
    )
    return replace(base, **overrides)
