"""Agora's naming and lifetime rules, enforced before any token is made."""

from __future__ import annotations

import pytest

from service.agora.rules import (
    RuleViolation,
    check_account,
    check_channel,
    check_expire,
    check_uid,
    check_user_id,
)


@pytest.mark.parametrize("uid", [0, 1, 2882341273, 4294967295])
def test_uids_in_the_unsigned_32_bit_range_are_accepted(uid: int) -> None:
    assert check_uid(uid) == uid


@pytest.mark.parametrize("uid", [-1, 4294967296, 4294967297, 2**64])
def test_uids_outside_32_bits_are_refused_never_truncated(uid: int) -> None:
    with pytest.raises(RuleViolation, match="0 to 4294967295"):
        check_uid(uid)


@pytest.mark.parametrize(
    "channel", ["a", "demo", "my room", "x" * 63, "!#$%&()+-:;<=.>?@[]^_{}|~,"]
)
def test_channels_from_agoras_character_set_up_to_63_bytes_are_accepted(channel: str) -> None:
    assert check_channel(channel, allow_wildcard=False) == channel


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("", "empty"),
        ("x" * 64, "at most 63 bytes"),
        ("é", "may hold only"),
        ("a/b", "may hold only"),
        ("a\nb", "may hold only"),
        ("demo\n", "may hold only"),
        ('"quoted"', "may hold only"),
    ],
)
def test_channels_breaking_agoras_rules_are_refused(channel: str, reason: str) -> None:
    with pytest.raises(RuleViolation, match=reason):
        check_channel(channel, allow_wildcard=False)


def test_the_wildcard_channel_needs_configuration() -> None:
    with pytest.raises(RuleViolation, match="AGORA_ALLOW_WILDCARD_CHANNEL"):
        check_channel("*", allow_wildcard=False)
    assert check_channel("*", allow_wildcard=True) == "*"


def test_accounts_are_counted_in_bytes_up_to_255() -> None:
    assert check_account("é" * 127) == "é" * 127
    with pytest.raises(RuleViolation, match="at most 255 bytes"):
        check_account("é" * 128)


@pytest.mark.parametrize("account", ["", "a\x00b", "tab\there"])
def test_empty_accounts_and_control_characters_are_refused(account: str) -> None:
    with pytest.raises(RuleViolation):
        check_account(account)


def test_user_ids_are_at_most_64_bytes() -> None:
    assert check_user_id("u" * 64)
    with pytest.raises(RuleViolation, match="at most 64 bytes"):
        check_user_id("u" * 65)


def test_expiry_of_40_seconds_as_in_agoras_go_sample_is_accepted() -> None:
    assert check_expire(40, maximum=86400) == 40


@pytest.mark.parametrize("seconds", [-1, 0, 1, 30])
def test_expiry_that_leaves_no_time_to_renew_is_refused_with_the_reason(seconds: int) -> None:
    with pytest.raises(RuleViolation, match="no time to renew"):
        check_expire(seconds, maximum=86400)


def test_expiry_above_the_configured_maximum_is_refused() -> None:
    with pytest.raises(RuleViolation, match="at most 600"):
        check_expire(601, maximum=600)
