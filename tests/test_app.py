"""The application's foundation: health, JSON errors, request ids, limits, logging."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from service.agora.accesstoken2 import SALT_MAX, SALT_MIN
from service.agora.salts import RandomSalts, random_salt
from service.agora.settings import AgoraSettings
from tests.helpers import CERTIFICATE, Client, MakeClient, make_settings

RTC = "/v1/agora/rtc-token"
GOOD_RTC = {"channel": "demo", "uid": 1, "role": "publisher"}


async def test_healthz_says_the_process_is_alive(client: Client) -> None:
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (
        200,
        {"status": "ok", "worker": os.getpid()},
    )


async def test_readyz_says_ready_and_which_platforms_are_enabled(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "platforms": {"agora": "enabled", "livekit": "enabled", "videosdk": "enabled"},
    }


async def test_readyz_reports_a_disabled_platform(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=AgoraSettings()))
    platforms = (await (await client.get("/readyz")).json())["platforms"]
    assert platforms["agora"] == "disabled"


async def test_unknown_route_is_a_json_404(client: Client) -> None:
    response = await client.get("/nope")
    assert response.status == 404
    body = await response.json()
    assert body["error"] == "not_found"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_trailing_slash_is_a_different_route(client: Client) -> None:
    assert (await client.post("/fetch_rtc_token/", json={})).status == 404


async def test_wrong_method_is_a_json_405_with_allow(client: Client) -> None:
    response = await client.get(RTC)
    assert response.status == 405
    assert "POST" in response.headers["Allow"]
    assert (await response.json())["error"] == "method_not_allowed"


async def test_a_sane_request_id_from_the_caller_is_kept(client: Client) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


async def test_an_unsafe_request_id_is_replaced(client: Client) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "a\u00e9b" + "x" * 200})
    assert response.headers["X-Request-ID"] != "a\u00e9b" + "x" * 200
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"null",
        b"[]",
        b"42",
        b"{",
        b'{"channel": "demo"} {}',
        b'{"channel": NaN}',
        b'{"uid": Infinity}',
        b'{"channel": "a", "channel": "b"}',
        b"\xff\xfe{}",
        b"[" * 8000 + b"]" * 8000,
    ],
)
async def test_malformed_bodies_are_400_with_a_message(client: Client, raw: bytes) -> None:
    response = await client.post(RTC, data=raw)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "malformed_json"
    assert body["message"]


async def test_body_over_the_limit_is_413(client: Client) -> None:
    response = await client.post(RTC, data=json.dumps({**GOOD_RTC, "pad": "x" * 17000}))
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"


async def test_chunked_body_over_the_limit_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 1024

    response = await client.post(RTC, data=chunks())
    assert response.status == 413


async def test_the_body_limit_is_configurable(make_client: MakeClient) -> None:
    client = await make_client(make_settings(max_body_bytes=1024))
    response = await client.post(RTC, data=json.dumps({**GOOD_RTC, "pad": "x" * 2000}))
    assert response.status == 413


async def test_a_body_that_never_finishes_is_408_not_a_hang(make_client: MakeClient) -> None:
    client = await make_client(make_settings(body_timeout=0.2))

    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"channel": '
        await asyncio.sleep(5)
        yield b'"demo"}'

    response = await asyncio.wait_for(client.post(RTC, data=stalls()), timeout=4)
    assert response.status == 408
    assert (await response.json())["error"] == "body_timeout"


async def test_unexpected_errors_are_a_json_500_with_the_request_id_and_no_traceback(
    make_client: MakeClient,
) -> None:
    def broken_salt() -> int:
        raise RuntimeError("salt source exploded")

    client = await make_client(salt=broken_salt)
    with capture_logs() as logs:
        response = await client.post(RTC, json=GOOD_RTC)
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "internal_error"
    assert body["request_id"] in body["message"]
    assert "exploded" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    (logged,) = [entry for entry in logs if entry["event"] == "unhandled error"]
    assert logged["exc_info"] is True


async def test_compatibility_route_keeps_its_shape_for_a_500(make_client: MakeClient) -> None:
    def broken_salt() -> int:
        raise RuntimeError("boom")

    client = await make_client(salt=broken_salt)
    response = await client.post(
        "/fetch_rtc_token", json={"uid": 1, "channelName": "demo", "role": 1}
    )
    assert response.status == 500
    assert (await response.json())["code"] == "500"


async def test_disabled_platform_is_503_naming_the_variables_to_set(
    make_client: MakeClient,
) -> None:
    client = await make_client(make_settings(agora=AgoraSettings()))
    response = await client.post(RTC, json=GOOD_RTC)
    assert response.status == 503
    body = await response.json()
    assert body["error"] == "platform_disabled"
    assert "AGORA_APP_ID" in body["message"] and "AGORA_APP_CERTIFICATE" in body["message"]


async def test_one_access_log_line_per_request_without_tokens_or_secrets(
    client: Client,
) -> None:
    with capture_logs() as logs:
        response = await client.post(RTC, json=GOOD_RTC, headers={"X-Request-ID": "req-1"})
        token = (await response.json())["token"]
        await client.post("/fetch_rtc_token", json={"uid": 1, "channelName": "demo", "role": 1})
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert len(lines) == 2
    first = lines[0]
    assert first["request_id"] == "req-1"
    assert (first["method"], first["route"], first["status"]) == ("POST", RTC, 200)
    assert first["duration_ms"] >= 0
    assert first["client"] == "127.0.0.1"
    everything = json.dumps(logs, default=str)
    assert token not in everything and token[:40] not in everything
    assert CERTIFICATE not in everything


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_routes_answer_a_browser_preflight(client: Client, path: str) -> None:
    response = await client.options(
        path, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_salts_are_drawn_from_the_official_builders_range() -> None:
    salts = RandomSalts()
    drawn = [salts() for _ in range(5000)]
    assert all(SALT_MIN <= salt <= SALT_MAX for salt in drawn)
    assert len(set(drawn)) > 4990


def test_a_draw_above_the_last_whole_range_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0xFFFFFFFF is past the largest multiple of the range: taking it modulo the range
    # would favour small salts, so it is skipped and the next draw (7) is used.
    draws = (0xFFFFFFFF).to_bytes(4, "little") + (7).to_bytes(4, "little")
    monkeypatch.setattr(os, "urandom", lambda size: draws.ljust(size, b"\0"))
    assert RandomSalts()() == SALT_MIN + 7


@pytest.mark.slow
def test_a_forked_worker_draws_its_own_salts() -> None:
    random_salt()  # the parent holds a batch of draws
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, str([random_salt() for _ in range(4)]).encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 256).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child != str([random_salt() for _ in range(4)])
