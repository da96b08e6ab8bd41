"""What a caller may ask for, per platform, from a TOML policy file validated at start-up.

    [agora]
    channels = ["team-{org}-*", "lobby"]   # * matches anything; {claim} is the caller's claim
    roles = ["publisher", "subscriber"]
    max_expire = 3600
    rtm = true
    chat = true

    [livekit]
    rooms = ["team-{org}-*"]
    grants = ["canPublish", "canSubscribe", "canPublishData"]   # video grants beyond joining
    max_ttl = 3600

    [videosdk]
    rooms = ["*"]
    permissions = ["allow_join", "ask_join"]
    roles = ["rtc"]
    max_ttl = 3600

A missing platform section, or a missing key, allows what configuration allows. Pure.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


class PolicyError(ValueError):
    """The policy file is wrong; the message names the key."""


class PolicyDenied(Exception):
    """A request the policy does not allow; the message is for the client to show."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PlatformPolicy:
    rooms: tuple[str, ...] | None = None  # patterns; None = any
    roles: tuple[str, ...] | None = None
    grants: tuple[str, ...] | None = None
    permissions: tuple[str, ...] | None = None
    max_ttl: int | None = None
    rtm: bool = True
    chat: bool = True

    @functools.cached_property
    def unrestricted(self) -> bool:
        """Nothing to check: every field at its default (the policy with no file)."""
        return self == _OPEN


_OPEN = PlatformPolicy()


@dataclass(frozen=True)
class Policy:
    agora: PlatformPolicy = PlatformPolicy()
    livekit: PlatformPolicy = PlatformPolicy()
    videosdk: PlatformPolicy = PlatformPolicy()


ALLOW_ALL = Policy()

_KEYS: dict[str, dict[str, tuple[str, type]]] = {
    "agora": {
        "channels": ("rooms", list),
        "roles": ("roles", list),
        "max_expire": ("max_ttl", int),
        "rtm": ("rtm", bool),
        "chat": ("chat", bool),
    },
    "livekit": {"rooms": ("rooms", list), "grants": ("grants", list), "max_ttl": ("max_ttl", int)},
    "videosdk": {
        "rooms": ("rooms", list),
        "permissions": ("permissions", list),
        "roles": ("roles", list),
        "max_ttl": ("max_ttl", int),
    },
}
_CHOICES = {
    ("agora", "roles"): {"publisher", "subscriber"},
    ("videosdk", "permissions"): {"allow_join", "ask_join", "allow_mod"},
    ("videosdk", "roles"): {"rtc", "crawler"},
}


def _platform(name: str, table: Any) -> PlatformPolicy:
    if not isinstance(table, dict):
        raise PolicyError(f"[{name}] must be a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS[name]:
            raise PolicyError(f"[{name}] {key}: unknown key (expected: {', '.join(_KEYS[name])})")
        attribute, kind = _KEYS[name][key]
        if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise PolicyError(f"[{name}] {key}: must be a positive whole number of seconds")
        if kind is bool and not isinstance(value, bool):
            raise PolicyError(f"[{name}] {key}: must be true or false")
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise PolicyError(f"[{name}] {key}: must be a list of non-empty strings")
            allowed = _CHOICES.get((name, key))
            if allowed is not None and not set(value) <= allowed:
                raise PolicyError(f"[{name}] {key}: must be among {', '.join(sorted(allowed))}")
            value = tuple(value)
        values[attribute] = value
    return PlatformPolicy(**values)


def parse_policy(text: str) -> Policy:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(document) - set(_KEYS))
    if unknown:
        raise PolicyError(f"[{unknown[0]}]: unknown section (expected agora, livekit, videosdk)")
    return Policy(**{name: _platform(name, table) for name, table in document.items()})


def _pattern(pattern: str, claims: Mapping[str, Any]) -> re.Pattern[str] | None:
    """A room pattern as a regex: * matches anything, {claim} the caller's claim value.
    None when the caller lacks a claim the pattern needs (so it cannot match)."""
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]).replace(r"\*", ".*"))
        value = claims.get(match.group(1))
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
            return None
        parts.append(re.escape(str(value)))
        position = match.end()
    parts.append(re.escape(pattern[position:]).replace(r"\*", ".*"))
    return re.compile("".join(parts))


def check_room(
    patterns: tuple[str, ...] | None, room: str, claims: Mapping[str, Any], *, field: str, noun: str
) -> None:
    if patterns is None:
        return
    for pattern in patterns:
        compiled = _pattern(pattern, claims)
        if compiled is not None and compiled.fullmatch(room):
            return
    raise PolicyDenied(field, f"you may not join {noun} {room!r}")


def check_allowed(
    allowed: tuple[str, ...] | None, asked: Iterable[str], *, field: str, what: str
) -> None:
    if allowed is None:
        return
    for value in asked:
        if value not in allowed:
            raise PolicyDenied(field, f"{what} {value!r} is not allowed for you")


def check_ttl(maximum: int | None, seconds: int, *, field: str) -> None:
    if maximum is not None and seconds > maximum:
        raise PolicyDenied(field, f"tokens may last at most {maximum} seconds")


def lifetime(maximum: int | None, asked: int | None, default: int, *, field: str) -> int | None:
    """The lifetime to issue: as asked (within the policy), else the configured default,
    shortened to the policy's maximum. None means "the default", unchanged."""
    if asked is not None:
        check_ttl(maximum, asked, field=field)
        return asked
    if maximum is not None and default > maximum:
        return maximum
    return None
