"""The OpenAPI 3.1 contract of every route, served at GET /openapi.json.

One place: tests compare it with the routes the application registers, both ways, and
fuzz the running service against it.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from aiohttp import web

from service import __version__
from service.context import SETTINGS
from service.errors import ApiError, ErrorCode
from service.responses import json_response

JSON = "application/json"


def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def _integer(**extra: Any) -> dict[str, Any]:
    return {"type": "integer", **extra}


def _object(
    properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


ERROR = _object(
    {
        "error": _string(),
        "message": _string(),
        "field": {"type": ["string", "null"]},
        "request_id": _string(),
    },
    ("error", "message", "field", "request_id"),
)
ANY_OBJECT: dict[str, Any] = {"type": "object"}
TOKEN = _string(minLength=1)
AGORA_ANSWER = _object(
    {
        "token": TOKEN,
        "version": _string(enum=["006", "007"]),
        "app_id": _string(),
        "grants": ANY_OBJECT,
        "issued_at": _integer(),
        "expires_at": _integer(),
        "privileges_expire_at": _integer(),
        "renew_at": _integer(),
        "expires_in": _integer(),
    },
    ("token", "version", "grants", "issued_at", "expires_at", "renew_at"),
)


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _responses(
    ok: dict[str, Any], *, status: str = "200", errors: dict[str, Any] = ERROR
) -> dict[str, Any]:
    return {
        status: {"description": "success", "content": {JSON: {"schema": ok}}},
        "default": {
            "description": "an error, in the route's shape",
            "content": {JSON: {"schema": errors}},
        },
    }


def _html() -> dict[str, Any]:
    return {"200": {"description": "a page", "content": {"text/html": {"schema": _string()}}}}


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _path_parameters(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": _string()} for n in names]


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": _string()} for n in names]


def build_document() -> dict[str, Any]:
    rtc = _object(
        {
            "channel": _string(),
            "uid": _integer(),
            "user_account": _string(),
            "role": _string(enum=["publisher", "subscriber"]),
            "expire": _integer(),
            "privilege_expire": {"type": ["integer", "object"]},
            "with_rtm": {"type": "boolean"},
        },
        ("channel", "role"),
    )
    sample = _object({"uid": _integer(), "channelName": _string(), "role": _integer()})
    sample_answer = _object({"code": _string(), "token": _string()}, ("code", "token"))
    community_error = _object({"error": _string(), "message": _string(), "status": _integer()})
    openvidu_error = _object({"errorMessage": _string()}, ("errorMessage",))
    webhook_answer = _object({"status": _string(enum=["received", "duplicate"]), "id": _string()})
    rte = {"rtcToken": TOKEN, "rtmToken": TOKEN}

    paths: dict[str, Any] = {
        "/healthz": {
            "get": _operation("The process is alive", _responses(_object({"status": _string()})))
        },
        "/readyz": {"get": _operation("Ready to serve", _responses(ANY_OBJECT, errors=ANY_OBJECT))},
        "/metrics": {
            "get": _operation(
                "Prometheus metrics",
                {
                    "200": {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": _string()}},
                    }
                },
            )
        },
        "/openapi.json": {"get": _operation("This document", _responses(ANY_OBJECT))},
        "/docs": {"get": _operation("This document, rendered", _html())},
        "/playground": {"get": _operation("Mint, decode and renew tokens in a browser", _html())},
        "/v1/agora/rtc-token": {
            "post": _operation("Agora RTC token", _responses(AGORA_ANSWER), requestBody=_body(rtc))
        },
        "/v1/agora/rtm-token": {
            "post": _operation(
                "Agora RTM token",
                _responses(AGORA_ANSWER),
                requestBody=_body(
                    _object({"user_id": _string(), "expire": _integer()}, ("user_id",))
                ),
            )
        },
        "/v1/agora/chat-token": {
            "post": _operation(
                "Agora Chat token",
                _responses(AGORA_ANSWER),
                requestBody=_body(
                    _object(
                        {
                            "kind": _string(enum=["user", "app"]),
                            "user_id": _string(),
                            "expire": _integer(),
                        },
                        ("kind",),
                    )
                ),
            )
        },
        "/fetch_rtc_token": {
            "post": _operation(
                "Agora's Go token-server sample",
                _responses(sample_answer, errors=sample_answer),
                requestBody=_body(sample),
            )
        },
        "/v1/livekit/token": {
            "post": _operation(
                "LiveKit access token",
                _responses(
                    _object(
                        {"token": TOKEN, "identity": _string(), "claims": ANY_OBJECT}, ("token",)
                    )
                ),
                requestBody=_body(
                    _object(
                        {
                            "room": _string(),
                            "identity": _string(),
                            "name": _string(),
                            "metadata": _string(),
                            "attributes": ANY_OBJECT,
                            "ttl": _integer(),
                            "kind": _string(),
                            "video": ANY_OBJECT,
                            "roomConfig": ANY_OBJECT,
                        }
                    )
                ),
            )
        },
        "/v1/livekit/connection-details": {
            "post": _operation(
                "LiveKit's standard token endpoint",
                _responses(
                    _object(
                        {"server_url": _string(), "participant_token": TOKEN},
                        ("server_url", "participant_token"),
                    ),
                    status="201",
                ),
                requestBody=_body(
                    _object(
                        {
                            "room_name": _string(),
                            "participant_name": _string(),
                            "participant_identity": _string(),
                            "participant_metadata": _string(),
                            "participant_attributes": ANY_OBJECT,
                            "room_config": ANY_OBJECT,
                        }
                    )
                ),
            )
        },
        "/token": {
            "post": _operation(
                "OpenVidu's application-server contract",
                _responses(_object({"token": TOKEN}, ("token",)), errors=openvidu_error),
                requestBody=_body(_object({"roomName": _string(), "participantName": _string()})),
            )
        },
        "/livekit/webhook": {
            "post": _operation(
                "LiveKit webhooks", _responses(webhook_answer), requestBody=_body(ANY_OBJECT)
            )
        },
        "/agora/webhook": {
            "post": _operation(
                "Agora NCS webhooks", _responses(webhook_answer), requestBody=_body(ANY_OBJECT)
            )
        },
        "/videosdk/webhook": {
            "post": _operation(
                "VideoSDK webhooks", _responses(webhook_answer), requestBody=_body(ANY_OBJECT)
            )
        },
        "/get-token": {
            "get": _operation(
                "VideoSDK's example servers",
                _responses(_object({"token": TOKEN}, ("token",))),
                parameters=_query("roomId", "participantId", "peerId"),
            )
        },
        "/v1/videosdk/token": {
            "post": _operation(
                "VideoSDK token",
                _responses(_object({"token": TOKEN, "expires_at": _integer()}, ("token",))),
                requestBody=_body(
                    _object(
                        {
                            "permissions": {"type": "array", "items": _string()},
                            "roomId": _string(),
                            "participantId": _string(),
                            "roles": {"type": "array", "items": _string()},
                            "ttl": _integer(),
                        }
                    )
                ),
            )
        },
        "/v1/events": {
            "get": _operation(
                "Stored webhook events (admin token)",
                _responses(
                    _object(
                        {"events": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}
                    )
                ),
                parameters=_query("after", "provider", "state", "limit"),
            )
        },
        "/ping": {
            "get": _operation(
                "Community servers' ping", _responses(_object({"message": _string()}))
            )
        },
        "/getToken": {
            "post": _operation(
                "agora-token-service's token route",
                _responses(_object({"token": TOKEN}, ("token",)), errors=community_error),
                requestBody=_body(
                    _object(
                        {
                            "tokenType": _string(),
                            "channel": _string(),
                            "role": _string(),
                            "uid": _string(),
                            "expire": _integer(),
                        }
                    )
                ),
            )
        },
    }
    meeting = _object({"roomId": _string(), "meetingId": _string()}, ("roomId", "meetingId"))
    meeting_body = _object(
        {
            "token": _string(),
            "customRoomId": _string(),
            "webhook": ANY_OBJECT,
            "autoCloseConfig": ANY_OBJECT,
            "region": _string(),
        }
    )
    for path in ("/create-meeting", "/create-meeting/"):
        paths[path] = {
            "post": _operation(
                "Create a VideoSDK meeting",
                _responses(meeting),
                requestBody=_body(meeting_body, required=False),
            )
        }
    paths["/validate-meeting/{meetingId}"] = {
        "post": _operation(
            "Check a VideoSDK meeting",
            _responses(meeting),
            parameters=_path_parameters("meetingId"),
            requestBody=_body(_object({"token": _string()}), required=False),
        )
    }
    community = {
        "/rtc/{channelName}/{role}/{tokenType}/{rtcuid}": (
            {"rtcToken": TOKEN},
            ("channelName", "role", "tokenType", "rtcuid"),
        ),
        "/rtm/{rtmuid}": ({"rtmToken": TOKEN}, ("rtmuid",)),
        "/rte/{channelName}/{role}/{tokenType}/{rtcuid}": (
            rte,
            ("channelName", "role", "tokenType", "rtcuid"),
        ),
        "/rte/{channelName}/{role}/{tokenType}/{rtcuid}/{rtmuid}": (
            rte,
            ("channelName", "role", "tokenType", "rtcuid", "rtmuid"),
        ),
        "/chat/account/{chatid}": ({"chatToken": TOKEN}, ("chatid",)),
        "/chat/app": ({"chatToken": TOKEN}, ()),
    }
    for path, (answer, names) in community.items():
        for suffix in ("", "/"):
            paths[path + suffix] = {
                "get": _operation(
                    "Community Agora token servers",
                    _responses(_object(answer, tuple(answer)), errors=community_error),
                    parameters=[*_path_parameters(*names), *_query("expiry")],
                )
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "rtc-token-service", "version": __version__},
        "paths": paths,
    }


DOCUMENT = build_document()


STATIC = Path(__file__).parent / "static"


async def openapi(request: web.Request) -> web.Response:
    return json_response(DOCUMENT)


async def playground(request: web.Request) -> web.FileResponse:
    """Open under --dev; otherwise for holders of the admin token (EVENTS_API_TOKEN)."""
    settings = request.app[SETTINGS]
    if not settings.dev:
        token = settings.events.api_token
        given = request.headers.get("Authorization", "")
        if token is None or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                "the playground is open under --dev; otherwise send Authorization: Bearer "
                "<EVENTS_API_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return web.FileResponse(STATIC / "playground.html", headers={"Content-Type": "text/html"})


async def docs(request: web.Request) -> web.FileResponse:
    """The document rendered by Swagger UI, whose assets ship in the package (offline)."""
    return web.FileResponse(STATIC / "docs.html", headers={"Content-Type": "text/html"})
