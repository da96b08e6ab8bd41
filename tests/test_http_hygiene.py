"""HTTP hygiene: a connection that sends no request head in time is closed, an idle
kept-alive one too; token answers are never cached; no version banner."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.helpers import Client, running_service

TOKEN_REQUESTS = [
    ("POST", "/v1/agora/rtc-token", {"channel": "c", "uid": 1, "role": "publisher"}),
    ("POST", "/fetch_rtc_token", {"channelName": "c", "uid": 1, "role": 1}),
    ("POST", "/v1/livekit/token", {"room": "r", "identity": "a"}),
    ("POST", "/token", {"roomName": "r", "participantName": "a"}),
    ("GET", "/get-token", None),
    ("POST", "/v1/videosdk/token", {}),
    ("GET", "/rtc/c/publisher/uid/1/", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), TOKEN_REQUESTS, ids=[r[1] for r in TOKEN_REQUESTS]
)
async def test_a_token_answer_is_never_stored_by_a_cache(
    client: Client, method: str, path: str, body: object
) -> None:
    data = None if body is None else json.dumps(body)
    response = await client.request(method, path, data=data)
    assert response.status == 200
    assert "no-store" in response.headers["Cache-Control"]


async def test_no_answer_names_the_server_software_version(client: Client) -> None:
    for path in ("/healthz", "/v1/agora/rtc-token", "/no-such-route"):
        response = await client.get(path)
        server = response.headers.get("Server", "")
        assert "aiohttp" not in server and "Python" not in server, server


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


@pytest.mark.slow
def test_a_connection_that_sends_no_request_head_in_time_is_closed() -> None:
    with running_service(HEAD_TIMEOUT="0.5") as (port, _):
        silent = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        assert _closed_within(silent, 5)
        assert time.monotonic() - started < 3


@pytest.mark.slow
def test_a_request_head_trickled_byte_by_byte_is_cut_off() -> None:
    with running_service(HEAD_TIMEOUT="0.5") as (port, _):
        sock = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > 4:
                break
        assert closed or _closed_within(sock, 2)
        assert time.monotonic() - started < 4


@pytest.mark.slow
def test_an_idle_kept_alive_connection_is_closed() -> None:
    with running_service(KEEPALIVE_TIMEOUT="0.5", HEAD_TIMEOUT="0.5") as (port, _):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert _closed_within(sock, 5)
        assert time.monotonic() - started < 3
