"""The renewal load tester's logic, at small scale (its numbers live in bench/README.md)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest
from aiohttp import web

from service.loadtest import (
    LoadConfig,
    LoadTestRefused,
    Report,
    check_target,
    cpu_ticks,
    run_loadtest,
    steal_percent,
    summary_table,
)
from tests.helpers import MakeClient, run_cli, running_service


async def _served(make_client: MakeClient) -> str:
    client = await make_client(clock=time.time)
    return str(client.make_url("")).rstrip("/")


@pytest.mark.slow
async def test_a_compressed_fleet_renews_with_no_errors_and_no_late_renewals(
    make_client: MakeClient,
) -> None:
    url = await _served(make_client)
    config = LoadConfig(
        url=url, clients=20, expire=40, duration=2.0, compression=40.0, connections=8
    )
    report = await run_loadtest(config)
    summary = report.summary()
    assert report.renewals >= 20  # each client renews every 0.25 s of real time
    assert (summary["errors"], summary["late_renewals"]) == ({}, 0)
    assert summary["latency_ms"]["p50"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["livekit", "videosdk"])
async def test_livekit_and_videosdk_modes_check_their_tokens(
    make_client: MakeClient, mode: str
) -> None:
    url = await _served(make_client)
    report = await run_loadtest(
        LoadConfig(url=url, mode=mode, clients=5, duration=1.0, compression=40.0)
    )
    assert report.requests >= 5
    assert not report.errors


async def _fake(aiohttp_server: Any, handler: Any) -> str:
    app = web.Application()
    app.router.add_post("/v1/agora/rtc-token", handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


def _token(channel: str, uid: str, expire: int = 40) -> str:
    from service.agora import accesstoken2

    services = [accesstoken2.rtc_service(channel, uid, {1: expire})]
    return accesstoken2.build_token(
        "0" * 32, "1" * 32, issue_ts=int(time.time()), expire=expire, salt=1, services=services
    )


@pytest.mark.slow
async def test_a_token_for_someone_else_is_counted_as_an_error(aiohttp_server: Any) -> None:
    async def wrong(request: web.Request) -> web.Response:
        return web.json_response({"token": _token("other-room", "999")})

    report = await run_loadtest(
        LoadConfig(
            url=await _fake(aiohttp_server, wrong), clients=3, duration=0.5, compression=40.0
        )
    )
    assert report.errors["wrong_grant"] >= 3


@pytest.mark.slow
async def test_an_expired_token_and_http_errors_are_counted(aiohttp_server: Any) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            return web.json_response({"error": "busy"}, status=503)
        body = await request.json()
        return web.json_response({"token": _token(body["channel"], str(body["uid"]), expire=0)})

    report = await run_loadtest(
        LoadConfig(
            url=await _fake(aiohttp_server, flaky), clients=2, duration=0.5, compression=40.0
        )
    )
    assert report.errors["http_503"] >= 1
    assert report.errors["expired_token"] >= 1


@pytest.mark.slow
async def test_a_renewal_that_arrives_after_expiry_is_late(aiohttp_server: Any) -> None:
    answered = False

    async def slow(request: web.Request) -> web.Response:
        nonlocal answered
        body = await request.json()
        if answered:
            await asyncio.sleep(1.5)  # longer than the 30 s (virtual) that were left
        answered = True
        return web.json_response({"token": _token(body["channel"], str(body["uid"]))})

    config = LoadConfig(
        url=await _fake(aiohttp_server, slow),
        clients=1,
        expire=40,
        duration=3.0,
        compression=30.0,
        jitter=0.0,
    )
    report = await run_loadtest(config)
    assert report.late_renewals >= 1


@pytest.mark.slow
async def test_it_never_opens_more_connections_than_asked(aiohttp_server: Any) -> None:
    peers: set[Any] = set()
    in_flight = most = 0

    async def count(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        body = await request.json()
        return web.json_response({"token": _token(body["channel"], str(body["uid"]))})

    url = await _fake(aiohttp_server, count)
    await run_loadtest(
        LoadConfig(url=url, clients=30, duration=1.0, compression=40.0, connections=3)
    )
    assert most <= 3
    assert len(peers) <= 3


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"url": "http://192.0.2.10:6080"}, "not a loopback address"),
        ({"expire": 30}, "more than 30 seconds"),
        ({"duration": 0}, "--duration"),
        ({"duration": 3601}, "--duration"),
        ({"mode": "zoom"}, "--mode"),
        ({"connections": 0}, "positive"),
    ],
)
def test_unsafe_or_impossible_runs_are_refused(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(LoadTestRefused, match=words):
        check_target(LoadConfig(**overrides))


def test_a_remote_target_needs_allow_remote() -> None:
    check_target(LoadConfig(url="http://192.0.2.10:6080", allow_remote=True))


@pytest.mark.slow
def test_the_command_line_prints_json_and_exits_0_on_a_clean_run() -> None:
    with running_service() as (port, _):
        done = run_cli(
            "loadtest", "--url", f"http://127.0.0.1:{port}",
            "--clients", "10", "--duration", "2", "--compression", "40", "--json",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["renewals"] > 0 and summary["late_renewals"] == 0 and summary["errors"] == {}


@pytest.mark.slow
def test_the_command_line_refuses_a_remote_target_in_one_line() -> None:
    done = run_cli("loadtest", "--url", "http://192.0.2.10:6080")
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr


def test_cpu_steal_is_read_from_the_first_line_of_proc_stat() -> None:
    stat = "cpu  100 5 50 800 10 0 20 15 7 0\ncpu0 50 2 25 400 5 0 10 8 3 0\n"
    # guest time (7) is already part of user time and is not counted twice.
    assert cpu_ticks(stat) == (1000, 15)


def test_cpu_steal_is_the_stolen_share_of_all_cpu_time_between_two_readings() -> None:
    assert steal_percent((1000, 15), (3000, 115)) == pytest.approx(5.0)
    assert steal_percent((1000, 15), (1000, 15)) == 0.0


def test_the_summary_gives_the_cpu_steal_overall_and_in_the_worst_second() -> None:
    report = Report(duration=3.0, steal_overall=4.04, steal_by_second=[0.5, 27.64, 3.0])
    summary = report.summary()
    assert summary["cpu_steal_percent"] == {"overall": 4.0, "worst_second": 27.6}
    name, value = summary_table(summary).splitlines()[-1].split("  ", 1)
    assert (name, value.strip()) == (
        "CPU steal (host)",
        "4.0 % overall, 27.6 % in the worst second",
    )


def test_without_proc_stat_the_summary_says_nothing_about_steal() -> None:
    summary = Report(duration=1.0).summary()
    assert summary["cpu_steal_percent"] is None
    assert "steal" not in summary_table(summary)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
async def test_a_run_measures_the_cpu_steal_once_a_second(make_client: MakeClient) -> None:
    url = await _served(make_client)
    config = LoadConfig(url=url, clients=5, duration=2.5, compression=40.0, connections=4)
    report = await run_loadtest(config)
    assert report.steal_overall is not None and 0.0 <= report.steal_overall <= 100.0
    assert len(report.steal_by_second) >= 2
