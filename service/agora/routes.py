"""Agora's routes: the versioned API, the Go sample's /fetch_rtc_token, the community
token servers' routes, and the NCS webhook receiver; each declared with what guards it
and what its OpenAPI operation says."""

from __future__ import annotations

from service.agora import community, handlers
from service.agora.shapes import (
    AgentTokenBody,
    AgoraTokenAnswer,
    ApaasTokenBody,
    ChatAnswer,
    ChatTokenBody,
    CommunityError,
    CommunityTokenBody,
    FpaTokenBody,
    PingAnswer,
    RtcAnswer,
    RtcTokenBody,
    RteAnswer,
    RtmAnswer,
    RtmTokenBody,
    SampleAnswer,
    SampleBody,
)
from service.guards import caller_required, error_shape, signed_body
from service.routing import Handler, Platform, Routes
from service.shapes import TokenAnswer, WebhookAnswer

api = Routes("Agora", per_app=True)

api.post(
    "/v1/agora/rtc-token",
    operation_id="agoraRtcToken",
    summary="Agora RTC token (optionally with RTM in the same token)",
    body=RtcTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.rtc_token))

api.post(
    "/v1/agora/convoai-token",
    operation_id="agoraConvoaiToken",
    summary="Agora Conversational AI agent token (as ConvoAITokenBuilder)",
    body=AgentTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.convoai_token))

api.post(
    "/v1/agora/stt-token",
    operation_id="agoraSttToken",
    summary="Agora speech-to-text bot token (as SttTokenBuilder)",
    body=AgentTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.stt_token))

api.post(
    "/v1/agora/rtm-token",
    operation_id="agoraRtmToken",
    summary="Agora RTM token",
    body=RtmTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.rtm_token))

api.post(
    "/v1/agora/apaas-token",
    operation_id="agoraApaasToken",
    summary="Agora APaaS / Flexible Classroom token (as ApaasTokenBuilder)",
    body=ApaasTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.apaas_token))

api.post(
    "/v1/agora/fpa-token",
    operation_id="agoraFpaToken",
    summary="Agora FPA token (as FpaTokenBuilder)",
    body=FpaTokenBody,
    body_required=False,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.fpa_token))

api.post(
    "/v1/agora/chat-token",
    operation_id="agoraChatToken",
    summary="Agora Chat token (user, or app with AGORA_ALLOW_CHAT_APP_TOKENS)",
    body=ChatTokenBody,
    answer=AgoraTokenAnswer,
)(caller_required(handlers.chat_token))

# Its own CORS answers (byte for byte as the sample's) and its own error shape.
api.route(
    "*",
    "/fetch_rtc_token",
    documented_method="POST",
    operation_id="agoraGoSampleToken",
    summary="Agora's Go token-server sample",
    body=SampleBody,
    answer=SampleAnswer,
    errors=SampleAnswer,
)(error_shape(handlers.sample_error)(caller_required(handlers.fetch_rtc_token)))

api.post(
    "/agora/webhook",
    operation_id="agoraWebhook",
    summary="Agora Notification Center (NCS) webhooks",
    body={"type": "object"},
    answer=WebhookAnswer,
)(signed_body("agora", handlers.verify_ncs_body)(handlers.agora_webhook))

# The community token servers (agora-token-service in Go, Agora-Node-TokenServer), with
# and without the trailing slash, in their error shape.
compatible = Routes("Agora community token servers", per_app=True)


def _community(handler: Handler) -> Handler:
    return error_shape(community.community_error)(caller_required(handler))


_EXPIRY = ("expiry",)
compatible.get(
    "/ping",
    operation_id="communityPing",
    summary="Liveness, as the servers answer it",
    answer=PingAnswer,
)(community.ping)
compatible.post(
    "/getToken",
    operation_id="communityGetToken",
    summary="agora-token-service's token route (rtc, rtm or chat)",
    body=CommunityTokenBody,
    answer=TokenAnswer,
    errors=CommunityError,
)(_community(community.get_token))
compatible.get(
    "/rtc/{channelName}/{role}/{tokenType}/{rtcuid}",
    "/rtc/{channelName}/{role}/{tokenType}/{rtcuid}/",
    operation_id="communityRtcToken",
    summary="RTC token",
    answer=RtcAnswer,
    errors=CommunityError,
    query=_EXPIRY,
)(_community(community.rtc))
compatible.get(
    "/rtm/{rtmuid}",
    "/rtm/{rtmuid}/",
    operation_id="communityRtmToken",
    summary="RTM token",
    answer=RtmAnswer,
    errors=CommunityError,
    query=_EXPIRY,
)(_community(community.rtm))
compatible.get(
    "/rte/{channelName}/{role}/{tokenType}/{rtcuid}",
    "/rte/{channelName}/{role}/{tokenType}/{rtcuid}/",
    "/rte/{channelName}/{role}/{tokenType}/{rtcuid}/{rtmuid}",
    "/rte/{channelName}/{role}/{tokenType}/{rtcuid}/{rtmuid}/",
    operation_id="communityRteTokens",
    summary="RTC and RTM tokens; the RTM user defaults to the RTC uid",
    answer=RteAnswer,
    errors=CommunityError,
    query=_EXPIRY,
)(_community(community.rte))
compatible.get(
    "/chat/account/{chatid}",
    "/chat/account/{chatid}/",
    operation_id="communityChatUserToken",
    summary="Chat user token",
    answer=ChatAnswer,
    errors=CommunityError,
    query=_EXPIRY,
)(_community(community.chat_account))
compatible.get(
    "/chat/app",
    "/chat/app/",
    operation_id="communityChatAppToken",
    summary="Chat app token (with AGORA_ALLOW_CHAT_APP_TOKENS)",
    answer=ChatAnswer,
    errors=CommunityError,
    query=_EXPIRY,
)(_community(community.chat_app))

PLATFORM = Platform(
    name="agora",
    routes=(api, compatible),
    enabled=lambda apps: any(app.agora.enabled for app in apps),
)
