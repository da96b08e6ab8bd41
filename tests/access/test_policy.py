"""The issuance policy file: parsing, validation errors, the defaults of a present section,
and the room-pattern ownership rule, for every claim value hypothesis can draw."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.access.policy import (
    ALLOW_ALL,
    PolicyError,
    RoomPatterns,
    check_ttl,
    glob_matches,
    parse_policy,
)
from service.errors import PolicyDenied

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


def _patterns(*patterns: str) -> RoomPatterns:
    return RoomPatterns.parse(patterns, "[test] rooms")


def test_a_policy_file_reads_into_per_platform_rules() -> None:
    policy = parse_policy(POLICY)
    assert policy.agora.channels is not None
    assert policy.agora.channels.patterns == ("team-{org}-*", "lobby")
    assert (policy.agora.roles, policy.agora.max_expire, policy.agora.rtm) == (
        frozenset({"subscriber"}),
        600,
        False,
    )
    assert policy.livekit.grants == frozenset({"canPublish", "canSubscribe"})
    assert policy.videosdk.permissions == frozenset({"allow_join"})


def test_a_present_section_allows_only_what_a_participant_gets_unless_it_says_more() -> None:
    policy = parse_policy("[agora]\n[livekit]\n[videosdk]\n")
    assert policy.agora.chat_app is False
    assert policy.livekit.grants == frozenset({"canPublish", "canSubscribe", "canPublishData"})
    assert policy.livekit.kinds == frozenset({"standard"})
    assert (policy.livekit.metadata, policy.livekit.attributes) == (False, ())
    assert (policy.livekit.room_config, policy.livekit.agents) == (frozenset(), ())
    assert policy.videosdk.permissions == frozenset({"allow_join", "ask_join"})
    assert policy.videosdk.roles == frozenset({"rtc"})
    assert policy.videosdk.meeting_webhooks is False


def test_a_missing_section_leaves_the_platform_to_configuration() -> None:
    policy = parse_policy("[agora]\nmax_expire = 60\n")
    assert policy.livekit == ALLOW_ALL.livekit
    assert policy.videosdk == ALLOW_ALL.videosdk


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[zoom]\nrooms = []", "[zoom]: unknown section"),
        ("[agora]\nrooms = ['x']", "[agora] rooms: unknown key"),
        ("[agora]\nroles = ['admin']", "[agora] roles: must be among"),
        ("[agora]\nmax_expire = -1", "positive whole number"),
        ("[livekit]\nrooms = 'room-*'", "must be a list"),
        ("[livekit]\ngrants = ['canFly']", "[livekit] grants: must be among"),
        ("[livekit]\nmetadata = 'yes'", "must be true or false"),
        ("[livekit]\nmin_participants = 5\nmax_participants = 2", "must not exceed"),
        ("[videosdk]\npermissions = ['allow_all']", "must be among"),
        ("[agora\n", "not valid TOML"),
        ("[agora]\nchannels = ['*-{org}']", "may not come before"),
        ("[agora]\nchannels = ['team-{org}*']", "must be followed by a literal"),
        ("[agora]\nchannels = ['{org}{team}-x']", "must be followed by a literal"),
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
        ("team-42-x", {"org": 42}, True),  # a number claim reads as its decimal
        ("team-True-x", {"org": True}, False),  # a boolean is no value
    ],
)
def test_room_patterns_fill_in_the_callers_claims(
    room: str, claims: dict[str, object], ok: bool
) -> None:
    patterns = _patterns("team-{org}-*", "lobby")
    assert patterns.admits(room, claims) is ok


def test_a_prefix_of_another_claim_value_does_not_reach_its_rooms() -> None:
    patterns = _patterns("team-{org}-*")
    # Org acme-corp's room, or acme's? Either reading fits, so it is nobody's.
    assert not patterns.admits("team-acme-corp-secret", {"org": "acme"})
    assert not patterns.admits("team-acme-corp-secret", {"org": "acme-corp"})
    assert patterns.admits("team-acme-secret", {"org": "acme"})


def test_a_delimiter_other_than_the_rooms_own_characters_keeps_them_usable() -> None:
    patterns = _patterns("team-{org}:*")
    assert patterns.admits("team-acme:standup-2024", {"org": "acme"})
    assert patterns.admits("team-acme-corp:standup", {"org": "acme-corp"})
    assert not patterns.admits("team-acme-corp:standup", {"org": "acme"})


def test_a_claim_holding_the_delimiter_matches_nothing_through_that_pattern() -> None:
    patterns = _patterns("team-{org}-*")
    assert not patterns.admits("team-acme-corp-x", {"org": "acme-corp"})
    assert not patterns.admits("team-a-b-c", {"org": "a-b"})


def test_a_public_pattern_opens_its_rooms_to_everyone() -> None:
    patterns = _patterns("team-{org}-*", "team-lobby-*")
    assert patterns.admits("team-lobby-1", {})
    assert patterns.admits("team-lobby-a-b", {"org": "x"})


def test_a_room_two_patterns_attribute_to_different_values_is_nobodys() -> None:
    patterns = _patterns("team-{org}-*", "{org}-*")
    assert not patterns.admits("team-acme-x", {"org": "acme"})
    assert not patterns.admits("team-acme-x", {"org": "team"})


def test_glob_and_regex_characters_in_claims_are_literal() -> None:
    patterns = _patterns("room:{org}")
    assert not patterns.admits("room:acme", {"org": "*"})
    assert not patterns.admits("room:acme", {"org": ".*"})
    assert patterns.admits("room:.*", {"org": ".*"})


def test_unicode_look_alikes_are_other_values() -> None:
    patterns = _patterns("team-{org}-*")
    cyrillic_a = "\u0430cme"
    assert not patterns.admits("team-acme-x", {"org": cyrillic_a})
    assert not patterns.admits(f"team-{cyrillic_a}-x", {"org": "acme"})
    assert not patterns.admits("team-acme\u2010corp-x", {"org": "acme"})


def test_brackets_in_a_pattern_are_literal() -> None:
    assert _patterns("[vip]*").admits("[vip] room", {})
    assert not _patterns("[vip]*").admits("v room", {})


def test_a_bare_star_allows_any_room_and_the_wildcard() -> None:
    assert _patterns("*").allows_any
    assert not _patterns("team-*").allows_any


def test_ttl_outside_the_policy_is_denied() -> None:
    check_ttl(None, 10**6, field="ttl")
    with pytest.raises(PolicyDenied, match="at most 600 seconds"):
        check_ttl(600, 601, field="expire")


def test_globs_match_whole_names() -> None:
    assert glob_matches(["support-*"], "support-bot")
    assert not glob_matches(["support-*"], "evil-support-bot")
    assert not glob_matches([], "anything")


_CLAIM = st.text(alphabet=st.sampled_from("ab-:_.*{}ä\u0430 1"), min_size=1, max_size=6)
_PATTERNS = st.sampled_from(
    [
        ("team-{org}-*",),
        ("team-{org}",),
        ("{org}:{team}-*",),
        ("x{org}-y-*",),
        ("team-{org}-*", "{org}-*"),
        ("team-{org}-*", "lobby"),
        ("t-{org}-{team}-*",),
    ]
)


def _fill(pattern: str, claims: dict[str, str], rest: str) -> str:
    return (
        pattern.replace("{org}", claims["org"]).replace("{team}", claims["team"]).replace("*", rest)
    )


@given(
    patterns=_PATTERNS,
    mine=st.fixed_dictionaries({"org": _CLAIM, "team": _CLAIM}),
    theirs=st.fixed_dictionaries({"org": _CLAIM, "team": _CLAIM}),
    rest=_CLAIM,
)
def test_no_room_is_admitted_to_two_different_claim_values(
    patterns: tuple[str, ...], mine: dict[str, str], theirs: dict[str, str], rest: str
) -> None:
    compiled = _patterns(*patterns)
    rooms = [_fill(p, who, rest) for p in patterns for who in (mine, theirs)]
    for room in rooms:
        if not compiled.admits(room, mine) or not compiled.admits(room, theirs):
            continue
        # Both got it: only a public room, or the values the patterns use are the same.
        used = {name for p in patterns for name in ("org", "team") if f"{{{name}}}" in p}
        public = any("{" not in p and compiled.admits(room, {}) for p in patterns)
        assert public or all(mine[n] == theirs[n] for n in used), (room, mine, theirs)
