"""The issuance policy file: parsing, validation errors, and matching."""

from __future__ import annotations

import pytest

from service.access.policy import (
    PolicyDenied,
    PolicyError,
    check_allowed,
    check_room,
    check_ttl,
    parse_policy,
)

POLICY = """
[agora]
channels = ["team-{org}-*", "lobby"]
roles = ["subscriber"]
max_expire = 600
rtm = false

[livekit]
rooms = ["room-*"]
grants = ["canPublish", "canSubscribe"]
max_ttl = 3600

[videosdk]
rooms = ["*"]
permissions = ["allow_join"]
roles = ["rtc"]
"""


def test_a_policy_file_reads_into_per_platform_rules() -> None:
    policy = parse_policy(POLICY)
    assert policy.agora.rooms == ("team-{org}-*", "lobby")
    assert (policy.agora.roles, policy.agora.max_ttl, policy.agora.rtm) == (
        ("subscriber",),
        600,
        False,
    )
    assert policy.livekit.grants == ("canPublish", "canSubscribe")
    assert policy.videosdk.permissions == ("allow_join",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[zoom]\nrooms = []", "[zoom]: unknown section"),
        ("[agora]\nrooms = ['x']", "[agora] rooms: unknown key"),
        ("[agora]\nroles = ['admin']", "[agora] roles: must be among"),
        ("[agora]\nmax_expire = -1", "positive whole number"),
        ("[livekit]\nrooms = 'room-*'", "must be a list"),
        ("[videosdk]\npermissions = ['allow_all']", "must be among"),
        ("[agora\n", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_says_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(PolicyError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(text)


@pytest.mark.parametrize(
    ("room", "claims", "ok"),
    [
        ("team-acme-standup", {"org": "acme"}, True),
        ("team-other-standup", {"org": "acme"}, False),
        ("team-acme-standup", {}, False),  # no claim: the pattern cannot match
        ("lobby", {}, True),
        ("lobby2", {}, False),
        ("team-a.b-x", {"org": "a.b"}, True),  # claim values are literal, not patterns
        ("team-aXb-x", {"org": "a.b"}, False),
    ],
)
def test_room_patterns_fill_in_the_callers_claims(
    room: str, claims: dict[str, str], ok: bool
) -> None:
    patterns = ("team-{org}-*", "lobby")
    if ok:
        check_room(patterns, room, claims, field="channel", noun="channel")
    else:
        with pytest.raises(PolicyDenied, match="you may not join channel"):
            check_room(patterns, room, claims, field="channel", noun="channel")


def test_brackets_in_a_pattern_are_literal() -> None:
    check_room(("[vip]*",), "[vip] room", {}, field="room", noun="room")
    with pytest.raises(PolicyDenied):
        check_room(("[vip]*",), "v room", {}, field="room", noun="room")


def test_no_policy_allows_everything() -> None:
    check_room(None, "anything", {}, field="room", noun="room")
    check_allowed(None, ["roomAdmin"], field="video", what="grant")
    check_ttl(None, 10**6, field="ttl")


def test_grants_and_ttl_outside_the_policy_are_denied() -> None:
    with pytest.raises(PolicyDenied, match="grant 'roomAdmin' is not allowed"):
        check_allowed(("canPublish",), ["canPublish", "roomAdmin"], field="video", what="grant")
    with pytest.raises(PolicyDenied, match="at most 600 seconds"):
        check_ttl(600, 601, field="expire")
