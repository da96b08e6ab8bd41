"""VideoSDK's routes: the example servers' /get-token, /create-meeting and
/validate-meeting, the versioned token route, and the webhook receiver; each declared with
what guards it and what its OpenAPI operation says. Its setup gives the application one
pooled client for VideoSDK's API and the webhook key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from service.guards import caller_required, signed_body
from service.routing import Platform, Routes
from service.shapes import TokenAnswer, WebhookAnswer
from service.videosdk import handlers
from service.videosdk.api import VIDEOSDK_API, VideoSdkClients
from service.videosdk.shapes import (
    CreateMeetingBody,
    MeetingAnswer,
    ValidateMeetingBody,
    VideoSdkTokenAnswer,
    VideoSdkTokenBody,
)
from service.videosdk.webhook_key import VIDEOSDK_WEBHOOK_KEYS, WebhookKeys

api = Routes("VideoSDK", per_app=True)

api.get(
    "/get-token",
    operation_id="videosdkExampleToken",
    summary="VideoSDK's example servers' token route",
    answer=TokenAnswer,
    query=("roomId", "participantId", "peerId"),
)(caller_required(handlers.get_token))

api.post(
    "/v1/videosdk/token",
    operation_id="videosdkToken",
    summary="VideoSDK token",
    body=VideoSdkTokenBody,
    answer=VideoSdkTokenAnswer,
)(caller_required(handlers.videosdk_token))

# The Node example serves /create-meeting/ too (Express matches both); so do we.
api.post(
    "/create-meeting",
    "/create-meeting/",
    operation_id="videosdkCreateMeeting",
    summary="Create a VideoSDK meeting",
    body=CreateMeetingBody,
    body_required=False,
    answer=MeetingAnswer,
)(caller_required(handlers.create_meeting))

api.post(
    "/validate-meeting/{meetingId}",
    operation_id="videosdkValidateMeeting",
    summary="Check a VideoSDK meeting",
    body=ValidateMeetingBody,
    body_required=False,
    answer=MeetingAnswer,
)(caller_required(handlers.validate_meeting))

api.post(
    "/videosdk/webhook",
    operation_id="videosdkWebhook",
    summary="VideoSDK webhooks",
    body={"type": "object"},
    answer=WebhookAnswer,
)(signed_body("videosdk", handlers.verify_videosdk_body)(handlers.videosdk_webhook))


async def _client(app: web.Application) -> AsyncIterator[None]:
    """One pooled HTTP session to VideoSDK for the application's lifetime."""
    async with aiohttp.ClientSession() as session:
        app[VIDEOSDK_API] = VideoSdkClients(session)
        yield


def _setup(app: web.Application) -> None:
    app[VIDEOSDK_WEBHOOK_KEYS] = WebhookKeys()
    app.cleanup_ctx.append(_client)


PLATFORM = Platform(
    name="videosdk",
    routes=(api,),
    enabled=lambda apps: any(app.videosdk.enabled for app in apps),
    setup=_setup,
)
