"""Nothing lost: an event answered 200 survives the process being killed, and is forwarded
exactly once after a restart; replicas sharing Redis store one copy between them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from service.livekit.settings import DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET
from tests.helpers import free_port, redis_server, running_service, wait_for
from tests.livekit.server import participant_joined, post_webhook

pytestmark = pytest.mark.slow

FORWARD_SECRET = "forward-secret-0123456789"


def _post_webhook(port: int, event_id: str) -> tuple[int, dict[str, Any]]:
    body = participant_joined(event_id)
    return post_webhook(port, body, DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET)


async def test_an_event_acknowledged_before_sigkill_is_stored_and_forwarded_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "events.sqlite3"
    hook_port = free_port()  # the app's receiver is not up yet: nothing can be forwarded
    environ = {
        "EVENTS_DB_PATH": str(database),
        "WEBHOOK_FORWARD_URL": f"http://127.0.0.1:{hook_port}/hooks",
        "WEBHOOK_FORWARD_SECRET": FORWARD_SECRET,
        "WEBHOOK_FORWARD_BACKOFF": "0.05",
    }
    with running_service(env=environ) as (port, process):
        status, answer = await asyncio.to_thread(_post_webhook, port, "EV_survivor")
        process.send_signal(signal.SIGKILL)  # right after the 200
        assert process.wait(timeout=10) == -signal.SIGKILL
    assert (status, answer["status"]) == (200, "received")
    rows = sqlite3.connect(database).execute("SELECT event_id, state FROM events").fetchall()
    assert rows == [("EV_survivor", "pending")]

    received: list[dict[str, Any]] = []

    async def hooks(request: web.Request) -> web.Response:
        body = await request.read()
        timestamp, signature = (
            p.split("=", 1)[1] for p in request.headers["X-RTC-Signature"].split(",")
        )
        expected = hmac.new(
            FORWARD_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        )
        assert hmac.compare_digest(signature, expected.hexdigest())
        received.append(json.loads(body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", hooks)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        with running_service(env=environ) as (port, _):
            await wait_for(lambda: len(received) >= 1)
            await asyncio.sleep(1.0)  # long enough for a second delivery, were there one
            # The platform redelivers after the crash: still one event, still one delivery.
            status, answer = await asyncio.to_thread(_post_webhook, port, "EV_survivor")
            assert answer["status"] == "duplicate"
            await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()
    assert [e["id"] for e in received] == ["EV_survivor"]
    rows = sqlite3.connect(database).execute("SELECT event_id, state FROM events").fetchall()
    assert rows == [("EV_survivor", "delivered")]


async def test_two_replicas_sharing_redis_store_one_copy_of_an_event() -> None:
    with (
        redis_server() as (url, _),
        running_service(REDIS_URL=url) as (one, _),
        running_service(REDIS_URL=url) as (two, _),
    ):
        answers = await asyncio.gather(
            *(asyncio.to_thread(_post_webhook, port, "EV_shared") for port in (one, two, one, two))
        )
        assert sorted(answer["status"] for _, answer in answers) == ["duplicate"] * 3 + ["received"]
        assert {status for status, _ in answers} == {200}
