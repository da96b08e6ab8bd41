"""Agora's rules for what a token may name. The official builders check none of these,
so a token server must: Agora rejects a bad name only when the client tries to join."""

from __future__ import annotations

import re

UID_MAX = 2**32 - 1
CHANNEL_MAX_BYTES = 63  # "less than 64 bytes"
ACCOUNT_MAX_BYTES = 255
USER_ID_MAX_BYTES = 64  # RTM and Chat user ids
WILDCARD_CHANNEL = "*"
# The SDKs fire tokenPrivilegeWillExpire this long before privileges expire.
RENEWAL_WARNING_SECONDS = 30
MAX_EXPIRE = 86_400  # Agora refuses tokens older than 24 hours whatever they say

_CHANNEL = re.compile(r"[a-zA-Z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RuleViolation(ValueError):
    """An input breaks one of Agora's rules; the message says which."""


def check_uid(uid: int) -> int:
    if not 0 <= uid <= UID_MAX:
        raise RuleViolation(f"must be an integer from 0 to {UID_MAX} (0 means any uid)")
    return uid


def check_channel(channel: str, *, allow_wildcard: bool) -> str:
    if channel == WILDCARD_CHANNEL:
        if not allow_wildcard:
            raise RuleViolation(
                "the wildcard channel '*' is not allowed here "
                "(set AGORA_ALLOW_WILDCARD_CHANNEL=true to allow it)"
            )
        return channel
    size = len(channel.encode("utf-8"))
    if size == 0:
        raise RuleViolation("must not be empty")
    if size > CHANNEL_MAX_BYTES:
        raise RuleViolation(f"must be at most {CHANNEL_MAX_BYTES} bytes (got {size})")
    if _CHANNEL.fullmatch(channel) is None:
        raise RuleViolation(
            "may hold only letters a-z A-Z, digits, space and "
            "! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,"
        )
    return channel


def _check_name(value: str, max_bytes: int) -> str:
    size = len(value.encode("utf-8"))
    if size == 0:
        raise RuleViolation("must not be empty")
    if size > max_bytes:
        raise RuleViolation(f"must be at most {max_bytes} bytes (got {size})")
    if _CONTROL.search(value):
        raise RuleViolation("must not contain control characters")
    return value


def check_account(account: str) -> str:
    return _check_name(account, ACCOUNT_MAX_BYTES)


def check_user_id(user_id: str) -> str:
    return _check_name(user_id, USER_ID_MAX_BYTES)


def check_expire(seconds: int, *, maximum: int) -> int:
    """A lifetime a client can live with: longer than the SDK's 30 s warning, so the
    renewal callback is not already due when the token arrives, and within the cap."""
    if seconds <= RENEWAL_WARNING_SECONDS:
        raise RuleViolation(
            f"must be more than {RENEWAL_WARNING_SECONDS} seconds: Agora's SDKs ask for a "
            f"new token {RENEWAL_WARNING_SECONDS} s before expiry, so a shorter token "
            "leaves the client no time to renew"
        )
    if seconds > maximum:
        raise RuleViolation(f"must be at most {maximum} seconds (the configured maximum)")
    return seconds
