"""Agora's legacy AccessToken ("006"), for SDKs older than 4.0 (Web older than 4.8).

token     = "006" + app_id + base64(lenbytes(signature) u32 crc32(channel) u32 crc32(uid)
                                    lenbytes(message))
message   = u32 salt u32 ts privileges
signature = HMAC-SHA256(key=certificate, msg=app_id + channel + uid + message)

Unlike 007, ts (the token's own expiry) and every privilege value are absolute unix
times, 0 meaning "never". The channel and uid are not in the token, only their CRC32s,
so checking a 006 signature needs them from elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from service.agora.accesstoken2 import is_valid_credential
from service.agora.wire import Reader, TokenFormatError, Writer

VERSION = "006"
# Official 006 builders always give the token itself 24 hours; Agora enforces that cap.
TOKEN_LIFETIME = 86_400


class Privilege006(IntEnum):
    JOIN_CHANNEL = 1
    PUBLISH_AUDIO_STREAM = 2
    PUBLISH_VIDEO_STREAM = 3
    PUBLISH_DATA_STREAM = 4
    RTM_LOGIN = 1000


def _message(salt: int, ts: int, privileges: Mapping[int, int]) -> bytes:
    return Writer().u32(salt).u32(ts).privileges(privileges).getvalue()


def _signature(certificate: str, app_id: str, channel: str, uid: str, message: bytes) -> bytes:
    signed = app_id.encode("ascii") + channel.encode("utf-8") + uid.encode("utf-8") + message
    return hmac.digest(certificate.encode("ascii"), signed, "sha256")


def build_token(
    app_id: str,
    certificate: str,
    *,
    channel: str,
    uid: str,
    salt: int,
    ts: int,
    privileges: Mapping[int, int],
) -> str:
    """A 006 token. `uid` is the string form ("" for the any-uid wildcard)."""
    if not is_valid_credential(app_id):
        raise ValueError("app id must be 32 hexadecimal characters")
    if not is_valid_credential(certificate):
        raise ValueError("app certificate must be 32 hexadecimal characters")
    message = _message(salt, ts, privileges)
    content = (
        Writer()
        .lenbytes(_signature(certificate, app_id, channel, uid, message))
        .u32(zlib.crc32(channel.encode("utf-8")))
        .u32(zlib.crc32(uid.encode("utf-8")))
        .lenbytes(message)
        .getvalue()
    )
    return VERSION + app_id + base64.b64encode(content).decode("ascii")


@dataclass(frozen=True)
class ParsedToken006:
    app_id: str
    signature: bytes
    crc_channel: int
    crc_uid: int
    salt: int
    ts: int
    privileges: Mapping[int, int]
    message: bytes

    def matches(self, channel: str, uid: str) -> bool:
        """Whether the token was made for this channel and uid (by their CRC32s)."""
        return (
            zlib.crc32(channel.encode("utf-8")) == self.crc_channel
            and zlib.crc32(uid.encode("utf-8")) == self.crc_uid
        )

    def verify_signature(self, certificate: str, *, channel: str, uid: str) -> bool:
        if not is_valid_credential(certificate) or len(self.signature) != 32:
            return False
        expected = _signature(certificate, self.app_id, channel, uid, self.message)
        return hmac.compare_digest(expected, self.signature)


def parse_token(token: str) -> ParsedToken006:
    if not token.startswith(VERSION):
        raise TokenFormatError("not a 006 token: it does not start with 006")
    app_id = token[3:35]
    if not is_valid_credential(app_id):
        raise TokenFormatError("a 006 token carries a 32-character hex app id after 006")
    try:
        content = base64.b64decode(token[35:], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenFormatError("token is not valid base64 after its app id") from exc
    reader = Reader(content)
    signature = reader.lenbytes()
    crc_channel = reader.u32()
    crc_uid = reader.u32()
    message = reader.lenbytes()
    inner = Reader(message)
    salt = inner.u32()
    ts = inner.u32()
    privileges = inner.privileges()
    return ParsedToken006(
        app_id=app_id,
        signature=signature,
        crc_channel=crc_channel,
        crc_uid=crc_uid,
        salt=salt,
        ts=ts,
        privileges=privileges,
        message=message,
    )
