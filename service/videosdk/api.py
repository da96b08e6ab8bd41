"""The VideoSDK REST API calls the service makes: create a room, validate a room.

One pooled aiohttp session for the application's lifetime. Upstream failures are never
passed off as success: each maps to the status a client can act on, with VideoSDK's own
message where it gave one. Only idempotent calls are retried, once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from service.access.admission import Admitted, require_admitted
from service.errors import ApiError, ErrorCode
from service.metrics import UPSTREAM_ERRORS
from service.videosdk.admission import MeetingCall

RETRY_PAUSE_SECONDS = 0.2
# VideoSDK answers an unknown room with 400 ("Room not found."), 402 or 404.
NOT_FOUND_STATUSES = frozenset({400, 402, 404})


def _upstream_message(body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("error", "message", "msg", "statusMessage"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return "no message"


class VideoSdkApi:
    def __init__(self, session: aiohttp.ClientSession, endpoint: str, timeout: float) -> None:
        self._session = session
        self._endpoint = endpoint
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> tuple[int, Mapping[str, str], Any]:
        """(status, headers, JSON body or None). Raises 502/504 ApiErrors for transport."""
        url = self._endpoint + path
        # VideoSDK wants the bare token: no "Bearer" prefix.
        headers = {"Authorization": token, "Accept": "application/json"}
        attempts = 2 if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                async with self._session.request(
                    method, url, headers=headers, json=body, timeout=self._timeout
                ) as response:
                    status, response_headers = response.status, response.headers
                    raw = await response.read()
            except TimeoutError:
                UPSTREAM_ERRORS.labels(upstream="videosdk", kind="upstream_timeout").inc()
                raise ApiError(
                    504, ErrorCode.UPSTREAM_TIMEOUT, "VideoSDK did not answer in time"
                ) from None
            except aiohttp.ClientError:
                if attempt < attempts:
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
                    continue
                UPSTREAM_ERRORS.labels(upstream="videosdk", kind="upstream_unavailable").inc()
                raise ApiError(
                    502, ErrorCode.UPSTREAM_UNAVAILABLE, "VideoSDK could not be reached"
                ) from None
            if status >= 500 and attempt < attempts:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return status, response_headers, parsed
        raise AssertionError("unreachable")  # the loop returns or raises

    def _failure(self, status: int, headers: Mapping[str, str], body: Any) -> ApiError:
        UPSTREAM_ERRORS.labels(upstream="videosdk", kind=f"status_{status}").inc()
        message = _upstream_message(body)
        if status == 401:
            return ApiError(
                401, ErrorCode.UPSTREAM_UNAUTHORIZED, f"VideoSDK refused the token: {message}"
            )
        if status == 403:
            return ApiError(
                403, ErrorCode.UPSTREAM_FORBIDDEN, f"VideoSDK refused the call: {message}"
            )
        if status == 429:
            retry_after = headers.get("Retry-After", "1")
            return ApiError(
                429,
                ErrorCode.UPSTREAM_RATE_LIMITED,
                "VideoSDK is rate limiting these calls; retry later",
                headers={"Retry-After": retry_after},
            )
        if status == 400:
            return ApiError(
                400, ErrorCode.UPSTREAM_REJECTED, f"VideoSDK rejected the request: {message}"
            )
        return ApiError(502, ErrorCode.UPSTREAM_ERROR, f"VideoSDK answered {status}: {message}")

    async def create_room(self, call: Admitted[MeetingCall], token: str) -> dict[str, Any]:
        """Create the admitted room; only admitted calls reach VideoSDK."""
        require_admitted(call)
        body = dict(call.value.body)
        if call.value.room_id is not None:
            body["customRoomId"] = call.value.room_id
        # With a customRoomId, creating is idempotent (VideoSDK returns the same room).
        status, headers, answer = await self._call(
            "POST", "/v2/rooms", token, body=body, idempotent="customRoomId" in body
        )
        if status != 200:
            raise self._failure(status, headers, answer)
        if not isinstance(answer, dict) or not isinstance(answer.get("roomId"), str):
            raise ApiError(502, ErrorCode.UPSTREAM_ERROR, "VideoSDK answered without a roomId")
        return answer

    async def validate_room(self, call: Admitted[MeetingCall], token: str) -> dict[str, Any]:
        require_admitted(call)
        room_id = call.value.room_id or ""
        path = "/v2/rooms/validate/" + quote(room_id, safe="")
        status, headers, answer = await self._call("GET", path, token, idempotent=True)
        if status in NOT_FOUND_STATUSES:
            raise ApiError(
                404, ErrorCode.MEETING_NOT_FOUND, f"meeting {room_id!r} does not exist at VideoSDK"
            )
        if status != 200:
            raise self._failure(status, headers, answer)
        if not isinstance(answer, dict):
            raise ApiError(502, ErrorCode.UPSTREAM_ERROR, "VideoSDK answered without a room")
        return answer

    async def webhook_public_key(self, token: str) -> str:
        """The PEM VideoSDK signs webhooks with (GET /v2/public/rsa-public-key)."""
        status, headers, answer = await self._call(
            "GET", "/v2/public/rsa-public-key", token, idempotent=True
        )
        if status != 200:
            raise self._failure(status, headers, answer)
        if not isinstance(answer, dict) or not isinstance(answer.get("publicKey"), str):
            raise ApiError(502, ErrorCode.UPSTREAM_ERROR, "VideoSDK answered without a publicKey")
        return str(answer["publicKey"])


class VideoSdkClients:
    """One pooled HTTP session for the application's lifetime, and a client per API
    address and timeout (apps may use different ones)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._clients: dict[tuple[str, float], VideoSdkApi] = {}

    def client(self, endpoint: str, timeout: float) -> VideoSdkApi:
        api = self._clients.get((endpoint, timeout))
        if api is None:
            api = self._clients[endpoint, timeout] = VideoSdkApi(self.session, endpoint, timeout)
        return api


# Made by the VideoSDK platform's setup (routes.py).
VIDEOSDK_API = web.AppKey("videosdk_api", VideoSdkClients)
