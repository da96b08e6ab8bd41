"""The service behind a real nginx on 127.0.0.1, configured with deploy/nginx's snippet.

The client connects from 127.0.0.2 and nginx from 127.0.0.1 (TRUSTED_PROXIES), so the
address the service logs tells whether it believed the right hop."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.livekit.settings import DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET
from tests.deploy.nginx import nginx_in_front_of
from tests.helpers import running_service
from tests.livekit.server import NODE_SDK_BODY, sign_webhook

pytestmark = pytest.mark.slow

CLIENT = "127.0.0.2"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """(nginx port, service port, service log)."""
    log = tmp_path / "service.log"
    with (
        running_service(log_path=log, TRUSTED_PROXIES="127.0.0.1/32", LOG_FORMAT="json") as (
            port,
            _,
        ),
        nginx_in_front_of(port, tmp_path) as proxy,
    ):
        yield proxy, port, log


def _request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = CLIENT,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _logged_client(log: Path, request_id: str) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("{") and f'"{request_id}"' in line:
                entry = json.loads(line)
                if entry.get("event") == "request":
                    return entry["client"]
        time.sleep(0.05)
    pytest.fail(f"no log line for request {request_id}")


def test_tokens_come_through_the_proxy(stack: tuple[int, int, Path]) -> None:
    proxy, _, _ = stack
    body = json.dumps({"uid": 1, "channelName": "demo", "role": 1}).encode()
    status, _, answer = _request(
        proxy, "POST", "/fetch_rtc_token", body=body, headers={"Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(answer)["token"].startswith("007")


def test_a_cors_preflight_comes_through_the_proxy(stack: tuple[int, int, Path]) -> None:
    proxy, _, _ = stack
    status, headers, _ = _request(
        proxy,
        "OPTIONS",
        "/v1/livekit/connection-details",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_a_signed_livekit_webhook_still_verifies_through_the_proxy(
    stack: tuple[int, int, Path],
) -> None:
    proxy, _, _ = stack
    # Go protojson with a space after each comma: any re-encoding would break it.
    token = sign_webhook(NODE_SDK_BODY, DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET)
    status, _, answer = _request(
        proxy, "POST", "/livekit/webhook", body=NODE_SDK_BODY,
        headers={"Authorization": token, "Content-Type": "application/webhook+json"},
    )  # fmt: skip
    assert (status, json.loads(answer)["status"]) == (200, "received")


def test_the_service_logs_the_real_client_behind_the_proxy(stack: tuple[int, int, Path]) -> None:
    proxy, _, log = stack
    _, headers, _ = _request(proxy, "GET", "/healthz")
    # nginx names the request ($request_id); the service logs and echoes that id.
    assert _logged_client(log, headers["X-Request-ID"]) == CLIENT


def test_a_spoofed_forwarded_for_through_the_proxy_is_not_believed(
    stack: tuple[int, int, Path],
) -> None:
    proxy, _, log = stack
    _, headers, _ = _request(proxy, "GET", "/healthz", headers={"X-Forwarded-For": "6.6.6.6"})
    assert _logged_client(log, headers["X-Request-ID"]) == CLIENT


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(
    stack: tuple[int, int, Path],
) -> None:
    _, service, log = stack
    headers = {
        "X-Request-ID": "spoof-direct",
        "X-Forwarded-For": "6.6.6.6",
        "Forwarded": "for=7.7.7.7",
    }
    _request(service, "GET", "/healthz", headers=headers, source="127.0.0.3")
    assert _logged_client(log, "spoof-direct") == "127.0.0.3"


@pytest.mark.parametrize(
    "path", ["/metrics", "/v1/events", "/v1/events?limit=1", "/playground", "/v1/%65vents"]
)
def test_internal_routes_are_refused_to_outside_clients(
    stack: tuple[int, int, Path], path: str
) -> None:
    proxy, _, _ = stack
    status, headers, _ = _request(proxy, "GET", path, source=CLIENT)  # not an allowed range
    assert status == 403
    assert headers["Server"] == "nginx"  # server_tokens off: no version


def test_internal_routes_answer_from_an_internal_address(stack: tuple[int, int, Path]) -> None:
    proxy, _, _ = stack
    status, headers, body = _request(proxy, "GET", "/metrics", source="127.0.0.1")
    assert status == 200
    assert b"rtc_requests_total" in body
    assert headers["Server"] == "nginx"


def test_public_routes_hide_every_version(stack: tuple[int, int, Path]) -> None:
    proxy, _, _ = stack
    status, headers, _ = _request(proxy, "GET", "/healthz")
    assert (status, headers["Server"]) == (200, "nginx")
