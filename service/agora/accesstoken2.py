"""Agora AccessToken2 ("007"): a pure builder and parser.

token        = "007" + base64(zlib(lenbytes(signature) + signing_info))
signing_info = lenstr(app_id) u32 issue_ts u32 expire u32 salt u16 n, n x service
signature    = HMAC(key=HMAC(key=u32 salt, msg=HMAC(key=u32 issue_ts, msg=certificate)),
                    msg=signing_info)

Every expiry inside a 007 token (the token's and each privilege's) counts seconds from
issue_ts; a privilege value of 0 means "never expires". No I/O, no clock, no randomness:
issue time and salt are arguments, so the same inputs always give the same payload.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from operator import attrgetter

from service.agora.wire import Reader, TokenFormatError, Writer, pack_u16, pack_u32

VERSION = "007"
SALT_MIN = 1
SALT_MAX = 99_999_999  # the official builders draw salts from [1, 99999999]

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


class ServiceType(IntEnum):
    RTC = 1
    RTM = 2
    STREAMING = 3
    FPA = 4
    CHAT = 5
    FCDN = 6
    APAAS = 7
    RTM2 = 8
    CONVOAI = 9
    STT = 10


class RtcPrivilege(IntEnum):
    JOIN_CHANNEL = 1
    PUBLISH_AUDIO_STREAM = 2
    PUBLISH_VIDEO_STREAM = 3
    PUBLISH_DATA_STREAM = 4


class RtmPrivilege(IntEnum):
    LOGIN = 1


class ChatPrivilege(IntEnum):
    USER = 1
    APP = 2


# Names of the privileges per service type, for people reading a decoded token.
PRIVILEGE_NAMES: dict[int, dict[int, str]] = {
    ServiceType.RTC: {p.value: p.name.lower() for p in RtcPrivilege},
    ServiceType.RTM: {1: "login"},
    ServiceType.STREAMING: {1: "publish_mix_stream", 2: "publish_raw_stream"},
    ServiceType.FPA: {1: "login"},
    ServiceType.CHAT: {1: "user", 2: "app"},
    ServiceType.FCDN: {1: "publish", 2: "play"},
    ServiceType.APAAS: {1: "room_user", 2: "user", 3: "app"},
    ServiceType.RTM2: {1: "login"},
}

# The fields that follow the privilege map, per service type, in wire order.
SERVICE_LAYOUT: dict[int, tuple[str, ...]] = {
    ServiceType.RTC: ("channel", "uid"),
    ServiceType.RTM: ("user_id",),
    ServiceType.STREAMING: ("channel", "uid"),
    ServiceType.FPA: (),
    ServiceType.CHAT: ("user_id",),
    ServiceType.FCDN: ("channel", "uid"),
    ServiceType.APAAS: ("room_uuid", "user_uuid", "role"),
    ServiceType.RTM2: ("user_id", "permissions"),
    ServiceType.CONVOAI: (),
    ServiceType.STT: (),
}

# RTM2 resource permissions: resource type -> permission type -> resource names.
Rtm2Permissions = Mapping[int, Mapping[int, tuple[str, ...]]]


@dataclass(slots=True)
class Service:
    """One service block. Only the fields of its type's layout are packed. Slotted, not
    frozen: one is built for every token, and frozen construction costs a call per field."""

    type: int
    privileges: Mapping[int, int]
    channel: str = ""
    uid: str = ""
    user_id: str = ""
    room_uuid: str = ""
    user_uuid: str = ""
    role: int = -1
    permissions: Rtm2Permissions = field(default_factory=dict)

    def pack(self, writer: Writer) -> None:
        writer.u16(self.type).privileges(self.privileges)
        for name in SERVICE_LAYOUT[self.type]:
            if name == "role":
                writer.i16(self.role)
            elif name == "permissions":
                _pack_rtm2_permissions(writer, self.permissions)
            else:
                writer.lenstr(getattr(self, name))


# Plain ints on the hot path: enum members cost a descriptor call per use.
_RTC, _RTM, _RTM_LOGIN = ServiceType.RTC.value, ServiceType.RTM.value, RtmPrivilege.LOGIN.value


def rtc_service(channel: str, uid: str, privileges: Mapping[int, int]) -> Service:
    return Service(_RTC, dict(privileges), channel=channel, uid=uid)


def rtm_service(user_id: str, login_expire: int) -> Service:
    return Service(_RTM, {_RTM_LOGIN: login_expire}, user_id=user_id)


def chat_service(user_id: str, privileges: Mapping[int, int]) -> Service:
    return Service(ServiceType.CHAT, dict(privileges), user_id=user_id)


def _pack_rtm2_permissions(writer: Writer, permissions: Rtm2Permissions) -> None:
    writer.u16(len(permissions))
    for resource_type in sorted(permissions):
        by_permission = permissions[resource_type]
        writer.u16(resource_type).u16(len(by_permission))
        for permission_type in sorted(by_permission):
            resources = by_permission[permission_type]
            writer.u16(permission_type).u16(len(resources))
            for resource in resources:
                writer.lenstr(resource)


def _unpack_rtm2_permissions(reader: Reader) -> dict[int, dict[int, tuple[str, ...]]]:
    permissions: dict[int, dict[int, tuple[str, ...]]] = {}
    for _ in range(reader.u16()):
        resource_type = reader.u16()
        by_permission: dict[int, tuple[str, ...]] = {}
        for _ in range(reader.u16()):
            permission_type = reader.u16()
            by_permission[permission_type] = tuple(reader.lenstr() for _ in range(reader.u16()))
        permissions[resource_type] = by_permission
    return permissions


def is_valid_credential(value: str) -> bool:
    """App ids and certificates are 32 hex characters, used as ASCII text, case kept."""
    return _HEX32.fullmatch(value) is not None


@functools.lru_cache(maxsize=64)
def _issue_time_key(certificate: str, issue_ts: int) -> bytes:
    # Shared by every token issued in the same second: cached, one HMAC fewer per token.
    return hmac.digest(pack_u32(issue_ts), certificate.encode("ascii"), "sha256")


def _signing_key(certificate: str, issue_ts: int, salt: int) -> bytes:
    # The packed number is the HMAC key and the certificate the message: Agora's order.
    return hmac.digest(pack_u32(salt), _issue_time_key(certificate, issue_ts), "sha256")


@functools.lru_cache(maxsize=16)
def _check_credentials(app_id: str, certificate: str) -> None:
    # Cached: a service signs every token with the same one or two pairs. A bad pair
    # raises, and exceptions are not cached.
    if not is_valid_credential(app_id):
        raise ValueError("app id must be 32 hexadecimal characters")
    if not is_valid_credential(certificate):
        raise ValueError("app certificate must be 32 hexadecimal characters")


# issue_ts, expire, salt and the number of services, in one call.
_pack_times = struct.Struct("<IIIH").pack


def _signing_info(
    app_id: str, issue_ts: int, expire: int, salt: int, services: Iterable[Service]
) -> bytes:
    # Stable sort by type, as current official builders do; same-type services keep order.
    ordered = sorted(services, key=attrgetter("type"))
    writer = Writer().lenstr(app_id).raw(_pack_times(issue_ts, expire, salt, len(ordered)))
    for service in ordered:
        service.pack(writer)
    return writer.getvalue()


def build_payload(
    app_id: str,
    certificate: str,
    *,
    issue_ts: int,
    expire: int,
    salt: int,
    services: Iterable[Service],
) -> bytes:
    """The uncompressed token content: lenbytes(signature) + signing_info."""
    _check_credentials(app_id, certificate)
    services = list(services)
    if not services:
        raise ValueError("a token needs at least one service")
    signing_info = _signing_info(app_id, issue_ts, expire, salt, services)
    signature = hmac.digest(_signing_key(certificate, issue_ts, salt), signing_info, "sha256")
    return pack_u16(len(signature)) + signature + signing_info


def build_token(
    app_id: str,
    certificate: str,
    *,
    issue_ts: int,
    expire: int,
    salt: int,
    services: Iterable[Service],
) -> str:
    payload = build_payload(
        app_id, certificate, issue_ts=issue_ts, expire=expire, salt=salt, services=services
    )
    return VERSION + base64.b64encode(zlib.compress(payload)).decode("ascii")


@dataclass(frozen=True)
class ParsedToken2:
    app_id: str
    issue_ts: int
    expire: int
    salt: int
    services: tuple[Service, ...]
    signature: bytes
    signing_info: bytes
    # Service types this parser does not know stop parsing (their length is unknown);
    # the signature still covers every byte.
    unknown_service_type: int | None = None

    @property
    def expires_at(self) -> int:
        return self.issue_ts + self.expire

    def verify_signature(self, certificate: str) -> bool:
        if not is_valid_credential(certificate) or len(self.signature) != 32:
            return False
        expected = hmac.digest(
            _signing_key(certificate, self.issue_ts, self.salt), self.signing_info, "sha256"
        )
        return hmac.compare_digest(expected, self.signature)


def _unpack_service(reader: Reader, service_type: int) -> Service:
    privileges = reader.privileges()
    values: dict[str, object] = {}
    for name in SERVICE_LAYOUT[service_type]:
        if name == "role":
            values[name] = reader.i16()
        elif name == "permissions":
            values[name] = _unpack_rtm2_permissions(reader)
        else:
            values[name] = reader.lenstr()
    return Service(service_type, privileges, **values)  # type: ignore[arg-type]


def parse_token(token: str) -> ParsedToken2:
    """Decode a 007 token. Raises TokenFormatError when it is not one."""
    if not token.startswith(VERSION):
        raise TokenFormatError("not an AccessToken2: it does not start with 007")
    try:
        compressed = base64.b64decode(token[len(VERSION) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenFormatError("token is not valid base64 after its 007 prefix") from exc
    try:
        # Real tokens inflate to well under 64 KiB; the bound stops a zip bomb.
        inflater = zlib.decompressobj()
        content = inflater.decompress(compressed, 1 << 16)
        if not inflater.eof:
            raise TokenFormatError("token's compressed content is truncated or too large")
    except zlib.error as exc:
        raise TokenFormatError("token's content is not zlib-compressed") from exc
    reader = Reader(content)
    signature = reader.lenbytes()
    signing_info = reader.rest()
    app_id = reader.lenstr()
    issue_ts = reader.u32()
    expire = reader.u32()
    salt = reader.u32()
    services: list[Service] = []
    unknown: int | None = None
    for _ in range(reader.u16()):
        service_type = reader.u16()
        if service_type not in SERVICE_LAYOUT:
            unknown = service_type
            break
        services.append(_unpack_service(reader, service_type))
    return ParsedToken2(
        app_id=app_id,
        issue_ts=issue_ts,
        expire=expire,
        salt=salt,
        services=tuple(services),
        signature=signature,
        signing_info=signing_info,
        unknown_service_type=unknown,
    )


__all__ = [
    "SALT_MAX",
    "SALT_MIN",
    "VERSION",
    "ChatPrivilege",
    "ParsedToken2",
    "RtcPrivilege",
    "RtmPrivilege",
    "Service",
    "ServiceType",
    "TokenFormatError",
    "build_payload",
    "build_token",
    "chat_service",
    "is_valid_credential",
    "parse_token",
    "rtc_service",
    "rtm_service",
]
