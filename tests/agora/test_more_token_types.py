"""Agora's RTM-with-permissions, APaaS and FPA tokens over HTTP: each equal to the
official builder's for the same issue time and salt, and each under the policy."""

from __future__ import annotations

import base64
import zlib
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

STAMP = {"app_id": APP_ID, "certificate": CERTIFICATE, "issue_ts": int(NOW), "salt": SALT}


def _inflate(token: str) -> bytes:
    return zlib.decompress(base64.b64decode(token[3:]))


async def _mint(client: Client, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(path, json=body)
    return response.status, await response.json()


def _official(oracle: Oracle, builder: str, **inputs: Any) -> str:
    (answer,) = oracle.run([{"op": "build", "builder": builder, **STAMP, **inputs}])
    return str(answer["token"])


async def test_rtm_permissions_equal_the_official_builders(
    make_client: MakeClient, oracle: Oracle
) -> None:
    client = await make_client()
    permissions = {
        "message_channels": {"read": ["lobby", "news"], "write": ["lobby"]},
        "users": {"write": ["support"]},
    }
    body = {"user_id": "ann", "expire": 600, "permissions": permissions}
    status, answer = await _mint(client, "/v1/agora/rtm-token", body)
    assert status == 200, answer
    official = _official(
        oracle,
        "rtm_permissions",
        user_id="ann",
        expire=600,
        permissions=[[0, 0, ["lobby", "news"]], [0, 1, ["lobby"]], [4, 1, ["support"]]],
    )
    assert _inflate(answer["token"]) == _inflate(official)
    assert answer["grants"]["rtm"]["permissions"] == permissions


@pytest.mark.parametrize(
    ("body", "builder", "inputs"),
    [
        (
            {"kind": "room_user", "room_uuid": "class-1", "user_uuid": "stu-9", "role": 2},
            "apaas_room_user",
            {"room_uuid": "class-1", "user_uuid": "stu-9", "role": 2},
        ),
        (
            {"kind": "room_user", "room_uuid": "class-1", "user_uuid": "stu-9"},
            "apaas_room_user",
            {"room_uuid": "class-1", "user_uuid": "stu-9", "role": 0},
        ),
        ({"kind": "user", "user_uuid": "stu-9"}, "apaas_user", {"user_uuid": "stu-9"}),
    ],
)
async def test_apaas_tokens_equal_the_official_builders(
    make_client: MakeClient, oracle: Oracle, body: dict[str, Any], builder: str, inputs: Any
) -> None:
    client = await make_client()
    status, answer = await _mint(client, "/v1/agora/apaas-token", {**body, "expire": 900})
    assert status == 200, answer
    official = _official(oracle, builder, expire=900, **inputs)
    assert _inflate(answer["token"]) == _inflate(official)


async def test_an_apaas_app_token_needs_its_switch(make_client: MakeClient, oracle: Oracle) -> None:
    body = {"kind": "app", "expire": 900}
    client = await make_client()
    status, answer = await _mint(client, "/v1/agora/apaas-token", body)
    assert (status, answer["error"]) == (403, "forbidden")
    allowed = make_settings(agora=agora_settings(allow_apaas_app_tokens=True))
    client = await make_client(allowed)
    status, answer = await _mint(client, "/v1/agora/apaas-token", body)
    assert status == 200
    assert _inflate(answer["token"]) == _inflate(_official(oracle, "apaas_app", expire=900))


async def test_an_fpa_token_equals_the_official_builders(
    make_client: MakeClient, oracle: Oracle
) -> None:
    client = await make_client()
    status, answer = await _mint(client, "/v1/agora/fpa-token", {})
    assert status == 200
    assert answer["expires_in"] == 24 * 3600
    assert _inflate(answer["token"]) == _inflate(_official(oracle, "fpa"))


def _governed(policy: str) -> Any:
    access = AccessSettings(policy=parse_policy(policy), caller_limit=None, address_limit=None)
    return make_settings(access=access)


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/v1/agora/rtm-token", {"user_id": "u", "permissions": {}}, "rtm_permissions"),
        ("/v1/agora/fpa-token", {}, "fpa"),
    ],
)
async def test_a_present_policy_section_must_name_these_types(
    make_client: MakeClient, path: str, body: dict[str, Any], key: str
) -> None:
    client = await make_client(_governed("[agora]\nroles = ['publisher']\n"))
    assert (await _mint(client, path, body))[0] == 403
    client = await make_client(_governed(f"[agora]\n{key} = true\n"))
    assert (await _mint(client, path, body))[0] == 200


async def test_rtm_channel_permissions_are_judged_by_the_channel_patterns(
    make_client: MakeClient,
) -> None:
    policy = "[agora]\nrtm_permissions = true\nchannels = ['team-*']\n"
    client = await make_client(_governed(policy))
    ok = {"user_id": "u", "permissions": {"message_channels": {"read": ["team-a"]}}}
    assert (await _mint(client, "/v1/agora/rtm-token", ok))[0] == 200
    for permissions in (
        {"message_channels": {"read": ["other"]}},
        {"stream_channels": {"write": ["*"]}},
        {"users": {"write": ["boss"]}},
    ):
        status, answer = await _mint(
            client, "/v1/agora/rtm-token", {"user_id": "u", "permissions": permissions}
        )
        assert (status, answer["error"]) == (403, "forbidden"), permissions


async def test_an_apaas_room_is_judged_by_the_channel_patterns(make_client: MakeClient) -> None:
    client = await make_client(_governed("[agora]\nchannels = ['class-*']\n"))
    body = {"kind": "room_user", "user_uuid": "s", "expire": 600}
    assert (await _mint(client, "/v1/agora/apaas-token", {**body, "room_uuid": "class-1"}))[
        0
    ] == 200
    assert (await _mint(client, "/v1/agora/apaas-token", {**body, "room_uuid": "staff"}))[0] == 403


@pytest.mark.parametrize(
    "permissions",
    [
        {"rooms": {"read": ["a"]}},
        {"users": {"delete": ["a"]}},
        {"users": {"read": "a"}},
        {"users": {"read": [""]}},
        {"users": ["a"]},
    ],
)
async def test_malformed_rtm_permissions_are_400_naming_the_field(
    make_client: MakeClient, permissions: Any
) -> None:
    client = await make_client()
    status, answer = await _mint(
        client, "/v1/agora/rtm-token", {"user_id": "u", "permissions": permissions}
    )
    assert status == 400 and answer["field"].startswith("permissions")


async def test_006_does_not_make_these_types(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    assert (await _mint(client, "/v1/agora/fpa-token", {}))[0] == 400
    body = {"kind": "user", "user_uuid": "s"}
    assert (await _mint(client, "/v1/agora/apaas-token", body))[0] == 400
    rtm = {"user_id": "u", "permissions": {"users": {"read": ["a"]}}}
    assert (await _mint(client, "/v1/agora/rtm-token", rtm))[0] == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/agora/convoai-token", {"channel": "c", "uid": 5, "role": "publisher"}),
        ("/v1/agora/stt-token", {"channel": "c", "uid": 5, "role": "subscriber"}),
        ("/v1/agora/apaas-token", {"kind": "room_user", "room_uuid": "r", "user_uuid": "u"}),
        ("/v1/agora/fpa-token", {}),
        ("/v1/agora/rtm-token", {"user_id": "u", "permissions": {"users": {"read": ["v"]}}}),
    ],
)
async def test_inspect_decodes_and_checks_every_new_type(
    make_client: MakeClient, path: str, body: dict[str, Any]
) -> None:
    from service.agora.inspect import describe_token

    client = await make_client()
    status, answer = await _mint(client, path, body)
    assert status == 200
    described = describe_token(answer["token"], certificate=CERTIFICATE, channel=None, uid=None)
    assert described["signature"] == "valid"
