"""OpenVidu's tutorial clients and LiveKit's endpoint token source work against us
unchanged, against the real service started with --dev."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.api import TokenVerifier

from service.livekit.settings import DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET, DEV_LIVEKIT_URL
from tests.helpers import run_node_client
from tests.livekit.server import participant_joined, post_webhook

pytestmark = pytest.mark.slow


def test_openvidus_client_gets_a_token_livekit_accepts(served: Any, node: str) -> None:
    port, _ = served
    answer = run_node_client(
        node, "openvidu_client.js", f"http://127.0.0.1:{port}/", "room1", "alice"
    )
    assert (answer["ok"], answer["status"]) == (True, 200)
    claims = TokenVerifier(DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET).verify(answer["token"])
    assert claims.video is not None
    assert (claims.identity, claims.video.room) == ("alice", "room1")


def test_openvidus_client_reads_our_error_message(served: Any, node: str) -> None:
    port, _ = served
    answer = run_node_client(node, "openvidu_client.js", f"http://127.0.0.1:{port}/", "", "alice")
    assert (answer["ok"], answer["status"]) == (False, 400)
    assert answer["errorMessage"] == "roomName and participantName are required"


def test_livekits_endpoint_token_source_gets_connection_details(served: Any, node: str) -> None:
    port, _ = served
    url = f"http://127.0.0.1:{port}/v1/livekit/connection-details"
    answer = run_node_client(node, "livekit_endpoint_client.js", url)
    assert (answer["status"], answer["serverUrl"]) == (201, DEV_LIVEKIT_URL)
    claims = TokenVerifier(DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET).verify(
        answer["participantToken"]
    )
    assert claims.identity == "alice"
    assert claims.room_config is not None
    assert claims.room_config.agents[0].agent_name == "my-agent"


def test_a_webhook_sent_over_http_as_livekit_server_sends_it_is_taken(served: Any) -> None:
    port, _ = served
    body = participant_joined("EV_overhttp00001")
    answer = post_webhook(
        port, body, DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET, **{"User-Agent": "LiveKit"}
    )
    assert answer == (200, {"status": "received", "id": "EV_overhttp00001"})
