"""Every claim group livekit-api 1.2.2 knows, by LiveKit's JSON names, read back exactly by
livekit-api's TokenVerifier; each is server-class (LIVEKIT_ALLOW_ADMIN_GRANTS and the
policy). And a drift test: upstream adding a claim, a video grant or a RoomConfiguration
field the service neither serves nor refuses on purpose fails here."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import pytest
from livekit.api import TokenVerifier, access_token
from livekit.protocol import agent_dispatch, room

from service.access.policy import parse_policy
from service.access.settings import AccessSettings
from service.livekit.tokens import (
    AGENT_DISPATCH_TYPES,
    CLAIM_GROUP_TYPES,
    ROOM_CONFIG_TYPES,
    VIDEO_GRANT_TYPES,
)
from tests.helpers import LIVEKIT_KEY, LIVEKIT_SECRET, MakeClient, livekit_settings, make_settings

GROUPS: dict[str, dict[str, Any]] = {
    "sip": {"admin": True, "call": True},
    "inference": {"perform": True},
    "observability": {"write": True},
    "agent": {"admin": True, "simulationAdmin": True, "databaseAdmin": True, "dispatchAdmin": True},
    "agentEndpoint": {"call": True, "agentName": "support-bot", "deployment": "prod"},
    "agentThread": {
        "all": False,
        "scope": "project",
        "threadIds": ["t-1", "t-2"],
        "list": True,
        "create": True,
        "write": True,
        "read": True,
        "delete": True,
    },
}


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _admin(**access: Any) -> Any:
    return make_settings(
        livekit=livekit_settings(allow_admin_grants=True),
        access=AccessSettings(caller_limit=None, address_limit=None, **access),
    )


async def _token(client: Any, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/v1/livekit/token", json={"identity": "svc", **body})
    return response.status, await response.json()


@pytest.mark.parametrize("group", sorted(GROUPS))
async def test_a_claim_group_is_read_back_exactly_by_livekit_api(
    make_client: MakeClient, group: str
) -> None:
    client = await make_client(_admin(), clock=time.time)
    status, answer = await _token(client, {group: GROUPS[group]})
    assert status == 200, answer
    claims = TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(answer["token"])
    read = getattr(claims, _snake(group))
    assert read is not None
    for name, value in GROUPS[group].items():
        assert getattr(read, _snake(name)) == value, name


async def test_a_room_preset_is_read_back_exactly(make_client: MakeClient) -> None:
    client = await make_client(_admin(), clock=time.time)
    status, answer = await _token(client, {"room": "r", "roomPreset": "town-hall"})
    assert status == 200
    claims = TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(answer["token"])
    assert claims.room_preset == "town-hall"


@pytest.mark.parametrize("group", sorted(GROUPS))
async def test_claim_groups_need_the_admin_switch(make_client: MakeClient, group: str) -> None:
    client = await make_client(clock=time.time)
    status, answer = await _token(client, {group: GROUPS[group]})
    assert (status, answer["error"]) == (403, "forbidden")


async def test_a_present_policy_must_name_each_claim_group_field(make_client: MakeClient) -> None:
    body = {"sip": {"call": True}}
    client = await make_client(_admin(policy=parse_policy("[livekit]\n")), clock=time.time)
    status, answer = await _token(client, body)
    assert (status, answer["field"]) == (403, "sip.call")
    named = parse_policy('[livekit]\ngrants = ["sip.call"]\n')
    client = await make_client(_admin(policy=named), clock=time.time)
    assert (await _token(client, body))[0] == 200


async def test_a_present_policy_must_allow_the_room_preset(make_client: MakeClient) -> None:
    body = {"room": "r", "roomPreset": "town-hall"}
    client = await make_client(_admin(policy=parse_policy("[livekit]\n")), clock=time.time)
    assert (await _token(client, body))[0] == 403
    allowed = parse_policy('[livekit]\nroom_presets = ["town-*"]\n')
    client = await make_client(_admin(policy=allowed), clock=time.time)
    assert (await _token(client, body))[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        {"sip": {"dial": True}},
        {"sip": {"call": "yes"}},
        {"agentThread": {"threadIds": [1]}},
        {"voice": {"x": True}},
        {"agent": ["admin"]},
    ],
)
async def test_malformed_claim_groups_are_400(make_client: MakeClient, body: Any) -> None:
    client = await make_client(_admin(), clock=time.time)
    status, _ = await _token(client, body)
    assert status == 400


# --- drift ---------------------------------------------------------------------------------

# Known upstream fields the service refuses on purpose, and why.
REFUSED = {
    "claims.sha256": "webhook tokens only: never in a participant token",
    "claims.identity": "the token's sub, set from the identity",
    "roomConfig.egress": "carries storage credentials; never in a participant token",
    "agentDispatch.restart_policy": "an enum the service does not validate yet: refused",
}
SERVED_CLAIMS = {
    "name",
    "kind",
    "metadata",
    "video",
    "attributes",
    "room_config",
    "room_preset",
    *(_snake(group) for group in CLAIM_GROUP_TYPES),
}


def test_every_livekit_api_claim_is_served_or_refused_on_purpose() -> None:
    upstream = {f.name for f in dataclasses.fields(access_token.Claims)}
    unknown = (
        upstream - SERVED_CLAIMS - {k.split(".", 1)[1] for k in REFUSED if k.startswith("claims.")}
    )
    assert unknown == set()


def test_every_video_grant_is_served() -> None:
    upstream = {f.name for f in dataclasses.fields(access_token.VideoGrants)}
    assert upstream == {_snake(name) for name in VIDEO_GRANT_TYPES}


@pytest.mark.parametrize(
    ("grant_class", "group"),
    [
        (access_token.SIPGrants, "sip"),
        (access_token.InferenceGrants, "inference"),
        (access_token.ObservabilityGrants, "observability"),
        (access_token.AgentGrants, "agent"),
        (access_token.AgentEndpointGrants, "agentEndpoint"),
        (access_token.AgentThreadGrants, "agentThread"),
    ],
)
def test_every_claim_group_field_is_served(grant_class: Any, group: str) -> None:
    upstream = {f.name for f in dataclasses.fields(grant_class)}
    assert upstream == {_snake(name) for name in CLAIM_GROUP_TYPES[group]}


def test_every_room_configuration_field_is_served_or_refused_on_purpose() -> None:
    upstream = {f.name for f in room.RoomConfiguration.DESCRIPTOR.fields}
    served = {_snake(name) for name in ROOM_CONFIG_TYPES} | {"egress"}
    assert upstream == served
    dispatch = {f.name for f in agent_dispatch.RoomAgentDispatch.DESCRIPTOR.fields}
    assert dispatch == {_snake(name) for name in AGENT_DISPATCH_TYPES} | {"restart_policy"}
