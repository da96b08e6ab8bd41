"""Agora's newer token types over HTTP: RTC with RTM login for another user and its own
expiry (buildTokenWithRtm2), Conversational AI agents (ConvoAITokenBuilder) and
speech-to-text bots (SttTokenBuilder). Each token's payload equals the official builder's
for the same issue time and salt."""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from typing import Any

import pytest

from service.access.policy import parse_policy
from service.access.settings import AccessSettings
from tests.helpers import (
    APP_ID,
    CERTIFICATE,
    NOW,
    SALT,
    Client,
    MakeClient,
    Oracle,
    agora_settings,
    make_settings,
)

ROUTES = {
    "rtc_with_rtm2": "/v1/agora/rtc-token",
    "convoai": "/v1/agora/convoai-token",
    "stt": "/v1/agora/stt-token",
}


def _inflate(token: str) -> bytes:
    return zlib.decompress(base64.b64decode(token[3:]))


async def _mint(client: Client, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(path, json=body)
    return response.status, await response.json()


@pytest.mark.parametrize("builder", sorted(ROUTES))
@pytest.mark.parametrize("role", ["publisher", "subscriber"])
async def test_the_token_equals_the_official_builders(
    make_client: MakeClient, oracle: Oracle, builder: str, role: str
) -> None:
    client = await make_client()
    body = {
        "channel": "agents",
        "uid": 4242,
        "role": role,
        "expire": 900,
        "privilege_expire": 600,
        "rtm_user_id": "agent-7",
        "rtm_expire": 300,
    }
    status, answer = await _mint(client, ROUTES[builder], body)
    assert status == 200, answer
    (official,) = oracle.run(
        [
            {
                "op": "build",
                "builder": builder,
                "app_id": APP_ID,
                "certificate": CERTIFICATE,
                "issue_ts": int(NOW),
                "salt": SALT,
                "channel": "agents",
                "account": "4242",
                "role": 1 if role == "publisher" else 2,
                "token_expire": 900,
                "privileges": {"1": 600, "2": 600, "3": 600, "4": 600},
                "rtm_user_id": "agent-7",
                "rtm_expire": 300,
            }
        ]
    )
    assert _inflate(answer["token"]) == _inflate(official["token"])
    assert answer["grants"]["rtm"] == {
        "user_id": "agent-7",
        "privileges": {"login": int(NOW) + 300},
    }
    (parsed,) = oracle.parse([answer["token"]])
    assert parsed["signature_valid"]


@pytest.mark.parametrize("path", ["/v1/agora/convoai-token", "/v1/agora/stt-token"])
async def test_an_agents_rtm_user_defaults_to_its_rtc_account(
    make_client: MakeClient, path: str
) -> None:
    client = await make_client()
    body = {"channel": "agents", "user_account": "bot-1", "role": "publisher"}
    status, answer = await _mint(client, path, body)
    assert status == 200
    assert answer["grants"]["rtm"]["user_id"] == "bot-1"
    assert set(answer["grants"]) == {"rtc", "rtm", path.split("/")[3].removesuffix("-token")}


@pytest.mark.parametrize(
    ("path", "key"), [("/v1/agora/convoai-token", "convoai"), ("/v1/agora/stt-token", "stt")]
)
async def test_agent_tokens_need_the_policy_to_name_them(
    make_client: MakeClient, path: str, key: str
) -> None:
    body = {"channel": "agents", "uid": 1, "role": "publisher"}
    silent = AccessSettings(
        policy=parse_policy("[agora]\nroles = ['publisher']\n"),
        caller_limit=None,
        address_limit=None,
    )
    client = await make_client(make_settings(access=silent))
    status, answer = await _mint(client, path, body)
    assert (status, answer["error"]) == (403, "forbidden")
    named = replace(silent, policy=parse_policy(f"[agora]\n{key} = true\n"))
    client = await make_client(make_settings(access=named))
    assert (await _mint(client, path, body))[0] == 200


async def test_an_rtm_user_and_expiry_need_accesstoken2(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    body = {"channel": "c", "uid": 1, "role": "publisher", "rtm_user_id": "u"}
    status, answer = await _mint(client, "/v1/agora/rtc-token", body)
    assert (status, answer["field"]) == (400, "rtm_user_id")


async def test_an_rtm_expiry_is_bounded_like_any_lifetime(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"channel": "c", "uid": 1, "role": "publisher", "rtm_expire": 10}
    status, answer = await _mint(client, "/v1/agora/rtc-token", body)
    assert (status, answer["field"]) == (400, "rtm_expire")
