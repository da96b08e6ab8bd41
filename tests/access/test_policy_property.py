"""For random policies, switches, callers and requests on every token route: no token the
service mints grants more than its policy and configuration allow. Each token is read by
the platform's own code (Agora's npm parser, livekit-api's TokenVerifier, pyjwt with
VideoSDK's claims) and judged by rules written here, independently of the service's."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

import jwt
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from livekit.api import TokenVerifier

from service.access.callers import JwtRules
from service.access.policy import parse_policy
from service.access.settings import AccessSettings
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER, hs_token
from tests.helpers import (
    LIVEKIT_KEY,
    LIVEKIT_SECRET,
    VIDEOSDK_SECRET,
    MakeClient,
    Oracle,
    agora_settings,
    livekit_settings,
    make_settings,
    videosdk_settings,
)

ROOMS = ["team-acme-1", "team-acme-corp-1", "team-beta-1", "lobby"]
ORGS = ["acme", "acme-corp", "beta"]
SUBS = ["42", "alice", "042", "7"]
LIVEKIT_FLAGS = ["canPublish", "canSubscribe", "canPublishData", "canUpdateOwnMetadata"]
LIVEKIT_ADMIN = ["roomAdmin", "roomRecord", "hidden"]
ALL_SOURCES = ["camera", "microphone", "screen_share", "screen_share_audio"]
# Agora's RTC privileges: join, publish audio, video, data.
PUBLISH_PRIVILEGES = {"2", "3", "4"}


def _subset(values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), unique=True)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


_ROOM_PATTERNS = st.sampled_from([["team-{org}-*"], ["*"], ["team-{org}-*", "lobby"]])

_AGORA = st.fixed_dictionaries(
    {},
    optional={
        "channels": _ROOM_PATTERNS,
        "roles": _subset(["publisher", "subscriber"]),
        "max_expire": st.sampled_from([60, 600, 3600]),
        "rtm": st.booleans(),
        "chat": st.booleans(),
        "chat_app": st.booleans(),
        "convoai": st.booleans(),
        "stt": st.booleans(),
        "rtm_permissions": st.booleans(),
        "apaas": st.booleans(),
        "apaas_app": st.booleans(),
        "fpa": st.booleans(),
    },
)
_LIVEKIT = st.fixed_dictionaries(
    {},
    optional={
        "rooms": _ROOM_PATTERNS,
        "grants": _subset(LIVEKIT_FLAGS + LIVEKIT_ADMIN),
        "sources": _subset(ALL_SOURCES),
        "kinds": _subset(["standard", "agent"]),
        "max_ttl": st.sampled_from([120, 3600]),
        "metadata": st.booleans(),
        "attributes": st.sampled_from([["app.*"], ["*"], ["lk.*"], []]),
        "room_config": _subset(["agents", "maxParticipants"]),
        "agents": st.sampled_from([["support-*"], []]),
        "max_participants": st.sampled_from([5, 50]),
    },
)
_VIDEOSDK = st.fixed_dictionaries(
    {},
    optional={
        "rooms": _ROOM_PATTERNS,
        "permissions": _subset(["allow_join", "ask_join", "allow_mod"]),
        "roles": _subset(["rtc", "crawler"]),
        "max_ttl": st.sampled_from([120, 3600]),
    },
)


@dataclass
class World:
    policy: dict[str, dict[str, Any]]  # present sections only
    switches: dict[str, bool]
    sub: str
    org: str

    def section(self, name: str) -> dict[str, Any] | None:
        return self.policy.get(name)

    def room_allowed(self, platform: str, room: str) -> bool:
        """Independent reading of the patterns used here: team-{org}-* gives a caller the
        rooms team-<org>-<rest> where neither org nor rest holds a '-' (a room another
        reading could give to a longer org is nobody's); * gives every room."""
        section = self.section(platform)
        key = "channels" if platform == "agora" else "rooms"
        if section is None or key not in section:
            return True
        patterns = section[key]
        if "*" in patterns or (room == "lobby" and "lobby" in patterns):
            return True
        parts = room.split("-")
        return (
            len(parts) == 3 and parts[0] == "team" and parts[1] == self.org and "-" not in self.org
        )


def _toml(policy: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, table in policy.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


_WORLD = st.builds(
    World,
    policy=st.fixed_dictionaries(
        {}, optional={"agora": _AGORA, "livekit": _LIVEKIT, "videosdk": _VIDEOSDK}
    ),
    switches=st.fixed_dictionaries(
        {
            "chat_app": st.booleans(),
            "apaas_app": st.booleans(),
            "livekit_admin": st.booleans(),
            "allow_mod": st.booleans(),
            "crawler": st.booleans(),
        }
    ),
    sub=st.sampled_from(SUBS),
    org=st.sampled_from(ORGS),
)


def _agora_requests() -> st.SearchStrategy[tuple[str, str, Any]]:
    room = st.sampled_from(ROOMS)
    role = st.sampled_from(["publisher", "subscriber"])
    expire = st.sampled_from([60, 600, 3600, 7200])
    rtc_body = st.fixed_dictionaries(
        {"channel": room, "role": role},
        optional={"expire": expire, "with_rtm": st.booleans()},
    )
    return st.one_of(
        st.tuples(st.just("POST"), st.just("/v1/agora/rtc-token"), rtc_body),
        st.tuples(
            st.just("POST"),
            st.just("/fetch_rtc_token"),
            st.fixed_dictionaries(
                {
                    "channelName": room,
                    "uid": st.sampled_from([0, 7, 42]),
                    "role": st.sampled_from([1, 2]),
                }
            ),
        ),
        st.builds(lambda r, p: ("GET", f"/rtc/{r}/{p}/userAccount/alice/", None), room, role),
        st.tuples(
            st.just("POST"),
            st.just("/v1/agora/rtm-token"),
            st.fixed_dictionaries({}, optional={"expire": expire}),
        ),
        st.tuples(
            st.just("POST"),
            st.just("/v1/agora/chat-token"),
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["user", "app"])},
                optional={"expire": expire},
            ),
        ),
        st.just(("GET", "/chat/app/", None)),
        st.builds(
            lambda path, r, p, user: (
                "POST",
                path,
                {"channel": r, "role": p, **({"rtm_user_id": user} if user else {})},
            ),
            st.sampled_from(["/v1/agora/convoai-token", "/v1/agora/stt-token"]),
            room,
            role,
            st.sampled_from([None, "42", "bot"]),
        ),
        st.builds(
            lambda kind, r: (
                "POST",
                "/v1/agora/apaas-token",
                {"kind": kind, "room_uuid": r} if kind == "room_user" else {"kind": kind},
            ),
            st.sampled_from(["room_user", "user", "app"]),
            room,
        ),
        st.just(("POST", "/v1/agora/fpa-token", {})),
        st.builds(
            lambda resource, r: (
                "POST",
                "/v1/agora/rtm-token",
                {"permissions": {resource: {"read": [r]}}},
            ),
            st.sampled_from(["message_channels", "stream_channels", "users"]),
            st.sampled_from([*ROOMS, "*"]),
        ),
        st.builds(
            lambda r: ("POST", "/getToken", {"tokenType": "rtm", "uid": "alice", "channel": r}),
            room,
        ),
    )


def _livekit_requests() -> st.SearchStrategy[tuple[str, str, Any]]:
    room = st.sampled_from(ROOMS)
    video = st.dictionaries(
        st.sampled_from(LIVEKIT_FLAGS + LIVEKIT_ADMIN), st.booleans(), max_size=3
    ).map(dict)
    sources = st.lists(st.sampled_from(ALL_SOURCES), unique=True, max_size=2)
    body = st.fixed_dictionaries(
        {"room": room},
        optional={
            "video": st.builds(
                lambda v, s: {**v, **({"canPublishSources": s} if s is not None else {})},
                video,
                _maybe(sources),
            ),
            "kind": st.sampled_from(["standard", "agent"]),
            "metadata": st.just('{"role": "host"}'),
            "attributes": st.sampled_from([{"app.seat": "1"}, {"lk.agent.state": "x"}, {"k": "v"}]),
            "roomConfig": st.sampled_from(
                [
                    {"agents": [{"agentName": "support-bot"}]},
                    {"agents": [{"agentName": "x"}]},
                    {"maxParticipants": 0},
                    {"maxParticipants": 10},
                ]
            ),
            "ttl": st.sampled_from([120, 3600, 7200]),
        },
    )
    return st.one_of(
        st.tuples(st.just("POST"), st.just("/v1/livekit/token"), body),
        st.builds(lambda r: ("POST", "/token", {"roomName": r, "participantName": "A"}), room),
        st.builds(lambda r: ("POST", "/v1/livekit/connection-details", {"room_name": r}), room),
    )


def _videosdk_requests() -> st.SearchStrategy[tuple[str, str, Any]]:
    room = st.sampled_from(ROOMS)
    body = st.fixed_dictionaries(
        {"roomId": room},
        optional={
            "permissions": st.sampled_from(
                [["allow_join"], ["ask_join"], ["allow_join", "allow_mod"]]
            ),
            "roles": st.sampled_from([["rtc"], ["crawler"], ["rtc", "crawler"]]),
            "ttl": st.sampled_from([120, 3600, 7200]),
        },
    )
    return st.one_of(
        st.tuples(st.just("POST"), st.just("/v1/videosdk/token"), body),
        st.builds(lambda r: ("GET", f"/get-token?roomId={r}", None), room),
    )


_REQUESTS = st.lists(
    st.one_of(_agora_requests(), _livekit_requests(), _videosdk_requests()),
    min_size=1,
    max_size=8,
)


async def _client_for(make_client: MakeClient, world: World) -> Any:
    access = AccessSettings(
        mode="jwt",
        jwt=JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET),
        policy=parse_policy(_toml(world.policy)),
        caller_limit=None,
        address_limit=None,
    )
    switches = world.switches
    configured = replace(
        make_settings(access=access),
        agora=agora_settings(
            allow_chat_app_tokens=switches["chat_app"],
            allow_apaas_app_tokens=switches["apaas_app"],
        ),
        livekit=livekit_settings(allow_admin_grants=switches["livekit_admin"]),
        videosdk=videosdk_settings(
            allow_mod_tokens=switches["allow_mod"], allow_crawler_tokens=switches["crawler"]
        ),
    )
    return await make_client(configured, clock=time.time)


def _allowed(section: dict[str, Any] | None, key: str, present_default: bool) -> bool:
    """A flag of the agora section: as written, else its default when the section is
    present, else allowed."""
    if section is None:
        return True
    return bool(section.get(key, present_default))


def _check_agora(world: World, parsed: dict[str, Any]) -> None:
    present = world.section("agora")
    section = present or {}
    assert parsed["signature_valid"]
    types = {service["type"] for service in parsed["services"]}
    if 9 in types:
        assert _allowed(present, "convoai", False)
    if 10 in types:
        assert _allowed(present, "stt", False)
    if 4 in types:
        assert _allowed(present, "fpa", False)
    if 7 in types:
        assert _allowed(present, "apaas", True)
    apaas_token = 7 in types
    maximum = section.get("max_expire", 86_400)
    assert parsed["expire"] <= maximum
    for service in parsed["services"]:
        for seconds in service["privileges"].values():
            # FPA's login privilege is 0 in the official builder: as long as the token.
            assert 0 < seconds <= parsed["expire"] or (service["type"] == 4 and seconds == 0)
        kind = service["type"]
        if kind == 1:  # RTC
            assert world.room_allowed("agora", service["channel_name"]), service
            roles = section.get("roles", ["publisher", "subscriber"])
            if "publisher" not in roles:
                assert not set(service["privileges"]) & PUBLISH_PRIVILEGES
            # The caller's own identity, one spelling: "42" and "7" are uids, others accounts.
            assert service["uid"] == world.sub
        elif kind == 2:  # RTM
            assert section.get("rtm", True)
            assert service["user_id"] == world.sub
        elif kind == 5:  # Chat
            assert section.get("chat", True)
            if "2" in service["privileges"]:  # the app (admin) privilege
                assert world.switches["chat_app"]
                assert section.get("chat_app", not world.section("agora"))
            elif not apaas_token:  # an APaaS room user's Chat id is its uuid's md5
                assert service["user_id"] == world.sub
        elif kind == 7:  # APaaS
            if "3" in service["privileges"]:  # the app (admin) privilege
                assert world.switches["apaas_app"]
                assert _allowed(present, "apaas_app", False)
            else:
                assert service["user_uuid"] == world.sub
            if service["room_uuid"]:
                assert world.room_allowed("agora", service["room_uuid"])
        elif kind == 8:  # RTM with permissions
            assert section.get("rtm", True)
            assert _allowed(present, "rtm_permissions", False)
            assert service["user_id"] == world.sub
            for resource, by_kind in service["permissions"]["details"].items():
                for names in by_kind.values():
                    for name in names:
                        if "channels" in section:
                            assert resource in ("0", "1", "2")  # channels only
                            assert name != "*" or "*" in section["channels"]
                            assert name == "*" or world.room_allowed("agora", name)


def _check_livekit(world: World, token: str) -> None:
    claims = TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token)
    raw = jwt.decode(token, options={"verify_signature": False})
    section = world.section("livekit")
    policy = section or {}
    video = claims.video
    assert video is not None
    assert world.room_allowed("livekit", video.room)
    assert claims.identity == world.sub
    grants = policy.get("grants", LIVEKIT_FLAGS[:3] if section is not None else None)

    def may(name: str) -> bool:
        return grants is None or name in grants

    sources = policy.get("sources")
    assert not video.can_publish or (may("canPublish") and sources != [])
    assert not video.can_subscribe or may("canSubscribe")
    assert not video.can_publish_data or may("canPublishData")
    assert not raw["video"].get("canUpdateOwnMetadata") or may("canUpdateOwnMetadata")
    if video.can_publish and sources:
        assert video.can_publish_sources and set(video.can_publish_sources) <= set(sources)
    for admin in LIVEKIT_ADMIN:
        if raw["video"].get(admin):
            assert world.switches["livekit_admin"] and may(admin)
    kind = raw.get("kind", "standard")
    if kind != "standard":
        assert world.switches["livekit_admin"]
        assert kind in policy.get("kinds", ["standard"] if section is not None else [kind])
    if raw.get("metadata"):
        assert policy.get("metadata", section is None)
    for key in raw.get("attributes", {}):
        if key.startswith("lk."):
            assert world.switches["livekit_admin"]
        if section is not None:
            globs = policy.get("attributes", [])
            assert (
                ("lk.*" in globs)
                if key.startswith("lk.")
                else ("*" in globs or ("app.*" in globs and key.startswith("app.")))
            )
    config = raw.get("roomConfig", {})
    if section is not None:
        assert set(config) <= set(policy.get("room_config", []))
    for agent in config.get("agents", []):
        if section is not None:
            assert "support-*" in policy.get("agents", []) and agent["agentName"].startswith(
                "support-"
            )
    if "maxParticipants" in config and "max_participants" in policy:
        assert 0 < config["maxParticipants"] <= policy["max_participants"]
    assert raw["exp"] - raw["nbf"] <= policy.get("max_ttl", 86_400)


def _check_videosdk(world: World, token: str) -> None:
    claims = jwt.decode(token, VIDEOSDK_SECRET, algorithms=["HS256"])
    section = world.section("videosdk")
    policy = section or {}
    # No roles would mean every role, the server API (crawler) included.
    assert claims["roles"] and claims["version"] == 2
    assert claims["participantId"] == world.sub
    assert world.room_allowed("videosdk", claims["roomId"])
    if "allow_mod" in claims["permissions"]:
        assert world.switches["allow_mod"]
    if "crawler" in claims["roles"]:
        assert world.switches["crawler"]
    if section is not None:
        allowed = policy.get("permissions", ["allow_join", "ask_join"])
        assert set(claims["permissions"]) <= set(allowed)
        assert set(claims["roles"]) <= set(policy.get("roles", ["rtc"]))
    assert claims["exp"] - claims["iat"] <= policy.get("max_ttl", 86_400)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=_WORLD, requests=_REQUESTS)
async def test_no_minted_token_grants_more_than_its_policy_allows(
    make_client: MakeClient, oracle: Oracle, world: World, requests: list[tuple[str, str, Any]]
) -> None:
    client = await _client_for(make_client, world)
    headers = {"Authorization": f"Bearer {hs_token(sub=world.sub, org=world.org)}"}
    agora_tokens = []
    for method, path, body in requests:
        data = None if body is None else json.dumps(body)
        response = await client.request(method, path, data=data, headers=headers)
        assert response.status < 500, (path, await response.text())
        answer = await response.json()
        event(f"{path.split('?')[0].split('/team')[0]}: {response.status}")
        if response.status >= 300:
            continue
        for key in ("token", "participant_token", "rtcToken", "rtmToken", "chatToken"):
            token = answer.get(key) if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                continue
            if token.startswith("007"):
                agora_tokens.append(token)
            elif "livekit" in path or path == "/token":
                _check_livekit(world, token)
            else:
                _check_videosdk(world, token)
    for parsed in oracle.parse(agora_tokens) if agora_tokens else []:
        _check_agora(world, parsed)
