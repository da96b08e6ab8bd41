"""A fake VideoSDK REST API v2 on 127.0.0.1, strict the way the real one is documented.

Every call must carry the bare JWT (no "Bearer") signed HS256 with the project secret for
the project's apikey, unexpired; tokens with roles must include "crawler" to use the REST
API, and roles / roomId / participantId need version 2. It records every request, and can
be told to fail with a status, or to hang.
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

UNAUTHORIZED = {"statusCode": 401, "error": "Token is invalid or expired"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeVideoSdk:
    api_key: str
    secret: str
    requests: list[Recorded] = field(default_factory=list)
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_status: int | None = None
    fail_times: int | None = None  # None: fail every time
    retry_after: str | None = None
    hang: bool = False
    not_found_status: int = 400
    public_key_pem: str | None = None

    def fail(
        self, status: int, *, times: int | None = None, retry_after: str | None = None
    ) -> None:
        self.fail_status, self.fail_times, self.retry_after = status, times, retry_after

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_check])
        app.router.add_post("/v2/rooms", self._create)
        app.router.add_get("/v2/rooms/validate/{roomId}", self._validate)
        app.router.add_post("/v2/rooms/deactivate", self._deactivate)
        app.router.add_get("/v2/public/rsa-public-key", self._public_key)
        return app

    def _authorized(self, header: str | None) -> bool:
        if not header or header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(
                header, self.secret, algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.PyJWTError:
            return False
        if claims.get("apikey") != self.api_key or not claims.get("permissions"):
            return False
        restricted = any(k in claims for k in ("roles", "roomId", "participantId"))
        if restricted and claims.get("version") != 2:
            return False
        # An rtc-only token may join meetings but not call server APIs.
        return "roles" not in claims or "crawler" in claims["roles"]

    @web.middleware
    async def _record_and_check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path_qs, dict(request.headers), body))
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_status is not None and (self.fail_times is None or self.fail_times > 0):
            if self.fail_times is not None:
                self.fail_times -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(
                {"statusCode": self.fail_status, "error": "injected failure"},
                status=self.fail_status,
                headers=headers,
            )
        if not self._authorized(request.headers.get("Authorization")):
            return web.json_response(UNAUTHORIZED, status=401)
        return await handler(request)

    def _room(self, custom_room_id: str | None, extra: dict[str, Any]) -> dict[str, Any]:
        alphabet = string.ascii_lowercase + string.digits
        room_id = "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
        now = (
            datetime.datetime.now(datetime.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        room: dict[str, Any] = {"roomId": room_id}
        if custom_room_id is not None:
            room["customRoomId"] = custom_room_id
        room.update(
            {
                "userId": secrets.token_hex(12),
                "disabled": False,
                "createdAt": now,
                "updatedAt": now,
                "id": secrets.token_hex(12),
                "links": {
                    "get_room": f"https://api.videosdk.live/v2/rooms/{room_id}",
                    "get_session": "https://api.videosdk.live/v2/sessions/",
                },
                **extra,
            }
        )
        return room

    def _find(self, room_id: str) -> dict[str, Any] | None:
        for room in self.rooms.values():
            if room_id in (room["roomId"], room.get("customRoomId")):
                return room
        return None

    async def _create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = await request.json() if raw else {}
        custom = body.get("customRoomId")
        if custom is not None and (existing := self._find(custom)) is not None:
            return web.json_response(existing)  # idempotent on customRoomId
        extra = {k: body[k] for k in ("webhook", "autoCloseConfig") if k in body}
        room = self._room(custom, extra)
        self.rooms[room["roomId"]] = room
        return web.json_response(room)

    async def _validate(self, request: web.Request) -> web.Response:
        room = self._find(request.match_info["roomId"])
        if room is None:
            return web.json_response(
                {"statusCode": self.not_found_status, "error": "Room not found."},
                status=self.not_found_status,
            )
        return web.json_response(room)

    async def _deactivate(self, request: web.Request) -> web.Response:
        body = await request.json()
        room = self.rooms.get(body.get("roomId", ""))
        if room is None:
            return web.json_response({"statusCode": 402, "error": "Room not found."}, status=402)
        room["disabled"] = True
        return web.json_response(room)

    async def _public_key(self, request: web.Request) -> web.Response:
        return web.json_response({"publicKey": self.public_key_pem})
