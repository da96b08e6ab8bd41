"""A client of VideoSDK's example servers works against us unchanged: the real service
(python -m service --dev) in front of the fake VideoSDK API, driven by node."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest

from tests.helpers import VIDEOSDK_KEY, VIDEOSDK_SECRET, running_service
from tests.videosdk.fake_api import FakeVideoSdk

pytestmark = pytest.mark.slow


async def test_the_example_servers_client_gets_a_token_creates_and_validates_a_meeting(
    aiohttp_server: Any, node: str
) -> None:
    fake = FakeVideoSdk(VIDEOSDK_KEY, VIDEOSDK_SECRET)
    api = await aiohttp_server(fake.app(), host="127.0.0.1")
    environ = {
        "VIDEOSDK_API_KEY": VIDEOSDK_KEY,
        "VIDEOSDK_SECRET_KEY": VIDEOSDK_SECRET,
        "VIDEOSDK_API_ENDPOINT": str(api.make_url("/v2")),  # the examples' form
    }
    with running_service(env=environ) as (port, _):
        client = await asyncio.create_subprocess_exec(
            node,
            "tests/clients/videosdk_example_client.js",
            f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(client.communicate(), timeout=60)
    answer = json.loads(stdout)
    assert (answer["createdStatus"], answer["validStatus"], answer["unknownStatus"]) == (
        200,
        200,
        404,
    )
    assert answer["validRoomId"] == answer["meetingId"]
    claims = jwt.decode(answer["token"], VIDEOSDK_SECRET, algorithms=["HS256"])
    assert claims["apikey"] == VIDEOSDK_KEY
    # The REST calls went out with the service's own crawler tokens, never the client's
    # participant token (rtc only, which VideoSDK refuses on its server API).
    sent = {r.headers["Authorization"] for r in fake.requests}
    assert answer["token"] not in sent
    for token in sent:
        assert jwt.decode(token, VIDEOSDK_SECRET, algorithms=["HS256"])["roles"] == ["crawler"]
