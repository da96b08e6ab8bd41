"""What a caller may hold, per platform, from a TOML policy file validated at start-up.

The policy judges the *effective* grant of a token (what its holder can do once the
platform has applied its defaults), never only the fields a request named. Each platform's
admission step (`service/<platform>/admission.py`) applies it. docs/policy.md describes
every key; in short:

    [agora]
    channels = ["team-{org}-*", "lobby"]   # * matches anything; {claim} is the caller's claim
    roles = ["publisher", "subscriber"]
    max_expire = 3600                      # every privilege and service in the token
    rtm = true
    chat = true
    chat_app = false                       # Chat app (admin) tokens

    [livekit]
    rooms = ["team-{org}-*"]
    grants = ["canPublish", "canSubscribe", "canPublishData"]
    sources = ["camera", "microphone"]
    kinds = ["standard"]
    max_ttl = 3600
    metadata = false
    attributes = ["app.*"]
    room_config = ["emptyTimeout", "maxParticipants", "agents"]
    agents = ["support-bot"]
    min_participants = 2
    max_participants = 50

    [videosdk]
    rooms = ["team-{org}-*"]
    permissions = ["allow_join", "ask_join"]
    roles = ["rtc"]
    max_ttl = 3600
    meetings = true
    meeting_webhooks = false

A platform without a section is governed by configuration alone. Inside a section that is
present, a key left out allows what an ordinary participant gets and nothing more: any room,
LiveKit's participant grants, Agora RTC/RTM/Chat user tokens, VideoSDK join and ask-to-join
with the rtc role. Admin-class capabilities (Chat app tokens, LiveKit server grants and
non-standard kinds, VideoSDK allow_mod and crawler), participant metadata and attributes,
and LiveKit room configuration must be named to be allowed.

Pure: no I/O.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.errors import PolicyDenied
from service.livekit import tokens as livekit_tokens
from service.videosdk import tokens as videosdk_tokens

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


class PolicyError(ValueError):
    """The policy file is wrong; the message names the key."""


def claim_text(value: Any) -> str | None:
    """A claim's value as it is substituted into a pattern: a non-empty string as it is, an
    integer in decimal; anything else (booleans, lists, objects, "") has no value."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text or None


# A room a pattern could give to more than one set of claim values: nobody's room.
_AMBIGUOUS: dict[str, str] = {"": ""}


@dataclass(frozen=True)
class _CompiledPattern:
    source: str
    regex: re.Pattern[str]  # each placeholder: text without its delimiter
    shortest: re.Pattern[str]  # each placeholder: any text, as little as possible
    longest: re.Pattern[str]  # each placeholder: any text, as much as possible
    claims: tuple[str, ...]  # the claim each capture group stands for, in order

    def attribution(self, room: str) -> dict[str, str] | None:
        """The claim values that make this pattern match `room`; {} for a pattern without
        placeholders; None for no match; _AMBIGUOUS when other values (longer ones, holding
        the delimiter) would match the same room too."""
        match = self.regex.fullmatch(room)
        if match is None:
            return None
        groups = match.groups()
        if not groups:
            return {}
        for other in (self.shortest, self.longest):
            alternative = other.fullmatch(room)
            if alternative is None or alternative.groups() != groups:
                return _AMBIGUOUS
        values: dict[str, str] = {}
        for name, value in zip(self.claims, groups, strict=True):
            if values.setdefault(name, value) != value:
                return _AMBIGUOUS  # "{org}-{org}" with two different values
        return values


def _compile(pattern: str, where: str) -> _CompiledPattern:
    """A room pattern as regexes, checked against the ownership rule:

    - no `*` before a placeholder, so where a claim value starts is fixed by literal text;
    - a placeholder is followed by a literal character (its delimiter) or ends the pattern.

    A caller's value matches only if it does not contain its delimiter; and a room that a
    value containing the delimiter could also claim (under `team-{org}-*`, the room
    `team-acme-corp-x` could be org `acme`'s or org `acme-corp`'s) belongs to nobody. So a
    room has at most one owner, whatever values an identity provider hands out.
    """
    strict: list[str] = []
    shortest: list[str] = []
    longest: list[str] = []
    claims: list[str] = []
    position = 0
    placeholders = list(_PLACEHOLDER.finditer(pattern))
    for index, match in enumerate(placeholders):
        literal = pattern[position : match.start()]
        if "*" in literal:
            raise PolicyError(
                f"{where}: {pattern!r}: a * may not come before a {{claim}} placeholder "
                "(the claim's value would have no fixed start)"
            )
        following = pattern[match.end() : match.end() + 1]
        adjacent = index + 1 < len(placeholders) and placeholders[index + 1].start() == match.end()
        if following == "*" or adjacent:
            raise PolicyError(
                f"{where}: {pattern!r}: a {{claim}} placeholder must be followed by a "
                "literal character (such as - or :) or end the pattern"
            )
        claims.append(match.group(1))
        for parts, group in (
            (strict, f"([^{re.escape(following)}]+)" if following else "(.+)"),
            (shortest, "(.+?)"),
            (longest, "(.+)"),
        ):
            parts.extend((re.escape(literal), group))
        position = match.end()
    tail = re.escape(pattern[position:]).replace(r"\*", ".*")

    def compiled(parts: list[str]) -> re.Pattern[str]:
        return re.compile("".join(parts) + tail, re.DOTALL)

    return _CompiledPattern(
        pattern, compiled(strict), compiled(shortest), compiled(longest), tuple(claims)
    )


@dataclass(frozen=True)
class RoomPatterns:
    """The rooms (channels) a policy allows. A room is admitted when a pattern without
    placeholders matches it, or when a pattern matches it with the caller's own claim
    values and no pattern attributes it to any other values or to several (so neither
    overlapping patterns nor values holding a delimiter hand one value's rooms to
    another)."""

    patterns: tuple[str, ...]
    _compiled: tuple[_CompiledPattern, ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, patterns: Iterable[str], where: str) -> RoomPatterns:
        listed = tuple(patterns)
        return cls(listed, tuple(_compile(p, where) for p in listed))

    @property
    def allows_any(self) -> bool:
        """Whether every room is allowed (a bare "*"): what a wildcard token needs."""
        return "*" in self.patterns

    def admits(self, room: str, claims: Mapping[str, Any]) -> bool:
        attributions = [pattern.attribution(room) for pattern in self._compiled]
        if any(values == {} for values in attributions):
            return True  # a room the policy opens to everyone
        owners = [values for values in attributions if values is not None]
        if not owners or any(values is _AMBIGUOUS for values in owners):
            return False
        # Every pattern that matches must give the room to the caller's own values.
        return all(
            claim_text(claims.get(name)) == value
            for values in owners
            for name, value in values.items()
        )

    def check(self, room: str, claims: Mapping[str, Any], *, field: str, noun: str) -> None:
        if not self.admits(room, claims):
            raise PolicyDenied(field, f"you may not join {noun} {room!r}")


def glob_matches(patterns: Iterable[str], value: str) -> bool:
    """Plain globs (`*` matches anything) for names such as agents and attribute keys."""
    return any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), value, re.DOTALL) for p in patterns)


# --- per platform ---------------------------------------------------------------------

AGORA_ROLES = frozenset({"publisher", "subscriber"})
LIVEKIT_PARTICIPANT_GRANTS = frozenset({"canPublish", "canSubscribe", "canPublishData"})
# Every boolean video grant (canPublishSources is accepted for old policy files: narrowing
# the sources is always allowed) and destinationRoom.
LIVEKIT_GRANTS = (
    frozenset(
        name
        for name, kind in livekit_tokens.VIDEO_GRANT_TYPES.items()
        if kind is bool or name in ("canPublishSources", "destinationRoom")
    )
    - {"roomJoin"}
    | livekit_tokens.CLAIM_GROUP_GRANTS
)
LIVEKIT_SOURCES = livekit_tokens.TRACK_SOURCES
LIVEKIT_KINDS = livekit_tokens.PARTICIPANT_KINDS
LIVEKIT_ROOM_CONFIG = frozenset(livekit_tokens.ROOM_CONFIG_TYPES)
VIDEOSDK_PERMISSIONS = frozenset(videosdk_tokens.PERMISSIONS)
VIDEOSDK_ROLES = frozenset(videosdk_tokens.ROLES)


@dataclass(frozen=True)
class AgoraPolicy:
    present: bool = False
    channels: RoomPatterns | None = None  # None: any channel
    roles: frozenset[str] | None = None
    max_expire: int | None = None
    rtm: bool = True
    chat: bool = True
    chat_app: bool = True  # with a section present, False unless named
    # AI agents' (ConvoAI) and speech-to-text bots' tokens: with a section present, False
    # unless named.
    convoai: bool = True
    stt: bool = True
    # RTM resource permissions, APaaS tokens (app tokens: admin-class) and FPA tokens.
    rtm_permissions: bool = True
    apaas: bool = True
    apaas_app: bool = True
    fpa: bool = True


@dataclass(frozen=True)
class LiveKitPolicy:
    present: bool = False
    rooms: RoomPatterns | None = None
    grants: frozenset[str] | None = None  # None: whatever configuration allows
    sources: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    max_ttl: int | None = None
    metadata: bool = True
    max_metadata_bytes: int | None = None
    attributes: tuple[str, ...] | None = None  # attribute key globs; None: any
    max_attributes_bytes: int | None = None
    room_config: frozenset[str] | None = None
    agents: tuple[str, ...] | None = None
    min_participants: int | None = None
    max_participants: int | None = None
    max_empty_timeout: int | None = None
    max_departure_timeout: int | None = None
    room_presets: tuple[str, ...] | None = None  # roomPreset name globs; None: any


@dataclass(frozen=True)
class VideoSdkPolicy:
    present: bool = False
    rooms: RoomPatterns | None = None
    permissions: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    max_ttl: int | None = None
    meetings: bool = True
    meeting_webhooks: bool = True


@dataclass(frozen=True)
class Policy:
    agora: AgoraPolicy = AgoraPolicy()
    livekit: LiveKitPolicy = LiveKitPolicy()
    videosdk: VideoSdkPolicy = VideoSdkPolicy()


ALLOW_ALL = Policy()

# What a present section means for a key it leaves out (the safe defaults).
_PRESENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "agora": {
        "chat_app": False,
        "convoai": False,
        "stt": False,
        "rtm_permissions": False,
        "apaas_app": False,
        "fpa": False,
    },
    "livekit": {
        "grants": LIVEKIT_PARTICIPANT_GRANTS,
        "room_presets": (),
        "kinds": frozenset({"standard"}),
        "metadata": False,
        "attributes": (),
        "room_config": frozenset(),
        "agents": (),
    },
    "videosdk": {
        "permissions": frozenset({"allow_join", "ask_join"}),
        "roles": frozenset({"rtc"}),
        "meeting_webhooks": False,
    },
}

# key -> (attribute, kind, choices). Kinds: patterns, names, globs, seconds, count, flag.
_KEYS: dict[str, dict[str, tuple[str, str, frozenset[str] | None]]] = {
    "agora": {
        "channels": ("channels", "patterns", None),
        "roles": ("roles", "names", AGORA_ROLES),
        "max_expire": ("max_expire", "seconds", None),
        "rtm": ("rtm", "flag", None),
        "chat": ("chat", "flag", None),
        "chat_app": ("chat_app", "flag", None),
        "convoai": ("convoai", "flag", None),
        "stt": ("stt", "flag", None),
        "rtm_permissions": ("rtm_permissions", "flag", None),
        "apaas": ("apaas", "flag", None),
        "apaas_app": ("apaas_app", "flag", None),
        "fpa": ("fpa", "flag", None),
    },
    "livekit": {
        "rooms": ("rooms", "patterns", None),
        "grants": ("grants", "names", LIVEKIT_GRANTS),
        "room_presets": ("room_presets", "globs", None),
        "sources": ("sources", "names", LIVEKIT_SOURCES),
        "kinds": ("kinds", "names", LIVEKIT_KINDS),
        "max_ttl": ("max_ttl", "seconds", None),
        "metadata": ("metadata", "flag", None),
        "max_metadata_bytes": ("max_metadata_bytes", "count", None),
        "attributes": ("attributes", "globs", None),
        "max_attributes_bytes": ("max_attributes_bytes", "count", None),
        "room_config": ("room_config", "names", LIVEKIT_ROOM_CONFIG),
        "agents": ("agents", "globs", None),
        "min_participants": ("min_participants", "count", None),
        "max_participants": ("max_participants", "count", None),
        "max_empty_timeout": ("max_empty_timeout", "seconds", None),
        "max_departure_timeout": ("max_departure_timeout", "seconds", None),
    },
    "videosdk": {
        "rooms": ("rooms", "patterns", None),
        "permissions": ("permissions", "names", VIDEOSDK_PERMISSIONS),
        "roles": ("roles", "names", VIDEOSDK_ROLES),
        "max_ttl": ("max_ttl", "seconds", None),
        "meetings": ("meetings", "flag", None),
        "meeting_webhooks": ("meeting_webhooks", "flag", None),
    },
}
_CLASSES: dict[str, type[AgoraPolicy | LiveKitPolicy | VideoSdkPolicy]] = {
    "agora": AgoraPolicy,
    "livekit": LiveKitPolicy,
    "videosdk": VideoSdkPolicy,
}


def _value(section: str, key: str, kind: str, choices: frozenset[str] | None, value: Any) -> Any:
    where = f"[{section}] {key}"
    if kind in ("seconds", "count"):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 2**31:
            unit = "seconds" if kind == "seconds" else "a whole number"
            raise PolicyError(f"{where}: must be a positive whole number ({unit})")
        return value
    if kind == "flag":
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: must be true or false")
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"{where}: must be a list of non-empty strings")
    if kind == "patterns":
        return RoomPatterns.parse(value, where)
    if kind == "globs":
        return tuple(value)
    if choices is not None and not set(value) <= choices:
        raise PolicyError(f"{where}: must be among {', '.join(sorted(choices))}")
    return frozenset(value)


def _section(name: str, table: Any) -> AgoraPolicy | LiveKitPolicy | VideoSdkPolicy:
    if not isinstance(table, dict):
        raise PolicyError(f"[{name}] must be a table")
    values: dict[str, Any] = {"present": True, **_PRESENT_DEFAULTS[name]}
    for key, value in table.items():
        if key not in _KEYS[name]:
            raise PolicyError(f"[{name}] {key}: unknown key (expected: {', '.join(_KEYS[name])})")
        attribute, kind, choices = _KEYS[name][key]
        values[attribute] = _value(name, key, kind, choices, value)
    low, high = values.get("min_participants"), values.get("max_participants")
    if low is not None and high is not None and low > high:
        raise PolicyError(f"[{name}] min_participants: must not exceed max_participants")
    return _CLASSES[name](**values)


def parse_policy(text: str) -> Policy:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}") from None
    return policy_from_tables(document)


def policy_from_tables(document: Mapping[str, Any]) -> Policy:
    """A policy from its parsed TOML tables (a POLICY_FILE, or an app's [policy])."""
    unknown = sorted(set(document) - set(_KEYS))
    if unknown:
        raise PolicyError(f"[{unknown[0]}]: unknown section (expected agora, livekit, videosdk)")
    sections: dict[str, Any] = {name: _section(name, table) for name, table in document.items()}
    return Policy(**sections)


# --- checks shared by the admission steps ------------------------------------------------


def check_ttl(maximum: int | None, seconds: int, *, field: str) -> None:
    if maximum is not None and seconds > maximum:
        raise PolicyDenied(field, f"tokens may last at most {maximum} seconds")


def lifetime(maximum: int | None, asked: int | None, default: int, *, field: str) -> int:
    """The lifetime to issue: as asked (within the policy's maximum, else refused), or the
    configured default shortened to the policy's maximum."""
    if asked is not None:
        check_ttl(maximum, asked, field=field)
        return asked
    if maximum is not None and default > maximum:
        return maximum
    return default
