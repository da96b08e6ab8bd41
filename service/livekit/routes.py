"""LiveKit's routes: the versioned token route, LiveKit's standard token endpoint,
OpenVidu's application-server /token, and the webhook receiver; each declared with what
guards it and what its OpenAPI operation says."""

from __future__ import annotations

from service.guards import caller_required, error_shape, signed_body
from service.livekit import handlers
from service.livekit.shapes import (
    ConnectionDetailsAnswer,
    ConnectionDetailsBody,
    LiveKitTokenAnswer,
    LiveKitTokenBody,
    OpenViduBody,
    OpenViduError,
)
from service.routing import Platform, Routes
from service.shapes import TokenAnswer, WebhookAnswer

api = Routes("LiveKit", per_app=True)

api.post(
    "/v1/livekit/token",
    operation_id="livekitToken",
    summary="LiveKit access token",
    body=LiveKitTokenBody,
    answer=LiveKitTokenAnswer,
)(caller_required(handlers.livekit_token))

api.post(
    "/v1/livekit/connection-details",
    operation_id="livekitConnectionDetails",
    summary="LiveKit's standard token endpoint (TokenSource.endpoint)",
    body=ConnectionDetailsBody,
    answer=ConnectionDetailsAnswer,
    status=201,
)(caller_required(handlers.connection_details))

api.post(
    "/token",
    operation_id="openviduToken",
    summary="OpenVidu's application-server contract",
    body=OpenViduBody,
    answer=TokenAnswer,
    errors=OpenViduError,
)(error_shape(handlers.openvidu_error)(caller_required(handlers.openvidu_token)))

api.post(
    "/livekit/webhook",
    operation_id="livekitWebhook",
    summary="LiveKit server webhooks (application/webhook+json)",
    body={"type": "object"},
    answer=WebhookAnswer,
)(signed_body("livekit", handlers.verify_livekit_body)(handlers.livekit_webhook))

PLATFORM = Platform(
    name="livekit",
    routes=(api,),
    enabled=lambda apps: any(app.livekit.enabled for app in apps),
)
