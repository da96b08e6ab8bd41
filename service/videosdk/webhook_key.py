"""VideoSDK's webhook public key, for the life of the application: from configuration, or
fetched from VideoSDK once and kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from service.errors import ApiError, ErrorCode
from service.videosdk.settings import VideoSdkSettings
from service.videosdk.webhook import load_public_key

KEY_RETRY_SECONDS = 10.0


class WebhookKey:
    """The key, loaded lazily. A failed fetch is remembered for KEY_RETRY_SECONDS:
    webhooks arriving meanwhile (forged ones included) get the same 5xx without another
    call to VideoSDK."""

    def __init__(self, pem: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._key: RSAPublicKey | None = load_public_key(pem) if pem else None
        self._lock = asyncio.Lock()
        self._clock = clock
        self._failure: tuple[float, ApiError] | None = None

    def _recent_failure(self) -> ApiError | None:
        if self._failure is not None and self._clock() - self._failure[0] < KEY_RETRY_SECONDS:
            return self._failure[1]
        return None

    async def get(self, fetch_pem: Callable[[], Awaitable[str]]) -> RSAPublicKey:
        """The key; `fetch_pem` asks VideoSDK for it when it is not known yet."""
        if self._key is not None:
            return self._key
        async with self._lock:
            if self._key is None:
                if (failure := self._recent_failure()) is not None:
                    raise failure
                try:
                    self._key = self._parse(await fetch_pem())
                except ApiError as error:
                    self._failure = (self._clock(), error)
                    raise
        return self._key

    @staticmethod
    def _parse(pem: str) -> RSAPublicKey:
        try:
            return load_public_key(pem)
        except ValueError:
            raise ApiError(
                502, ErrorCode.UPSTREAM_ERROR, "VideoSDK's webhook key is not an RSA key"
            ) from None


class WebhookKeys:
    """Each app's webhook key, kept until its VideoSDK settings change (a reload)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str | None, str | None, str], WebhookKey] = {}

    def for_app(self, name: str, settings: VideoSdkSettings) -> WebhookKey:
        ident = (name, settings.webhook_public_key, settings.api_key, settings.endpoint)
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = WebhookKey(settings.webhook_public_key)
        return key


VIDEOSDK_WEBHOOK_KEYS = web.AppKey("videosdk_webhook_keys", WebhookKeys)
