"""Decode any Agora 006 or 007 token into plain facts, and check its signature.

Agora has no jwt.io; this is ours. Pure: the result is a JSON-ready dict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.agora import accesstoken006, accesstoken2
from service.agora.accesstoken2 import PRIVILEGE_NAMES, SERVICE_LAYOUT, Service, ServiceType
from service.agora.wire import TokenFormatError

_006_PRIVILEGES = {p.value: p.name.lower() for p in accesstoken006.Privilege006}


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _privilege(issue_ts: int, seconds: int) -> dict[str, Any]:
    if seconds == 0:
        return {"seconds": 0, "expires_at": None, "note": "never expires"}
    expires_at = issue_ts + seconds
    return {"seconds": seconds, "expires_at": expires_at, "expires_at_utc": _utc(expires_at)}


def _describe_service(service: Service, issue_ts: int) -> dict[str, Any]:
    names = PRIVILEGE_NAMES.get(service.type, {})
    kind = ServiceType(service.type).name.lower()
    described: dict[str, Any] = {"type": service.type, "name": kind}
    for name in SERVICE_LAYOUT[service.type]:
        value = getattr(service, name)
        if name == "uid" and value == "":
            described[name] = ""
            described["uid_note"] = "empty: any uid may join (wildcard)"
        elif name == "permissions":
            described[name] = {
                str(resource): {str(perm): list(items) for perm, items in perms.items()}
                for resource, perms in value.items()
            }
        else:
            described[name] = value
    described["privileges"] = {
        names.get(pid, str(pid)): _privilege(issue_ts, seconds)
        for pid, seconds in sorted(service.privileges.items())
    }
    return described


def _describe_007(token: str, certificate: str | None) -> dict[str, Any]:
    parsed = accesstoken2.parse_token(token)
    described: dict[str, Any] = {
        "version": accesstoken2.VERSION,
        "app_id": parsed.app_id,
        "issued_at": parsed.issue_ts,
        "issued_at_utc": _utc(parsed.issue_ts),
        "expire_seconds": parsed.expire,
        "expires_at": parsed.expires_at,
        "expires_at_utc": _utc(parsed.expires_at),
        "salt": parsed.salt,
        "services": [_describe_service(s, parsed.issue_ts) for s in parsed.services],
    }
    if parsed.unknown_service_type is not None:
        described["unknown_service_type"] = parsed.unknown_service_type
    if certificate is None:
        described["signature"] = "not checked (no certificate given)"
    else:
        valid = parsed.verify_signature(certificate)
        described["signature"] = "valid" if valid else "invalid"
    return described


def _describe_006(
    token: str, certificate: str | None, channel: str | None, uid: str | None
) -> dict[str, Any]:
    parsed = accesstoken006.parse_token(token)
    described: dict[str, Any] = {
        "version": accesstoken006.VERSION,
        "app_id": parsed.app_id,
        "salt": parsed.salt,
        "expires_at": parsed.ts,
        "expires_at_utc": _utc(parsed.ts),
        "crc32_channel": parsed.crc_channel,
        "crc32_uid": parsed.crc_uid,
        "privileges": {
            _006_PRIVILEGES.get(pid, str(pid)): (
                {"expires_at": ts, "expires_at_utc": _utc(ts)}
                if ts
                else {"expires_at": None, "note": "never expires"}
            )
            for pid, ts in sorted(parsed.privileges.items())
        },
    }
    if channel is not None and uid is not None:
        described["matches_channel_and_uid"] = parsed.matches(channel, uid)
    if certificate is None:
        described["signature"] = "not checked (no certificate given)"
    elif channel is None or uid is None:
        described["signature"] = (
            "not checked: a 006 signature covers the channel and uid, which the token "
            "does not carry; give both (uid '' for a uid-0 token)"
        )
    else:
        valid = parsed.verify_signature(certificate, channel=channel, uid=uid)
        described["signature"] = "valid" if valid else "invalid"
    return described


def describe_token(
    token: str,
    *,
    certificate: str | None = None,
    channel: str | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    """Facts about a token. Raises TokenFormatError when it is neither 006 nor 007."""
    token = token.strip()
    if token.startswith(accesstoken2.VERSION):
        return _describe_007(token, certificate)
    if token.startswith(accesstoken006.VERSION):
        return _describe_006(token, certificate, channel, uid)
    raise TokenFormatError("not an Agora token: it starts with neither 006 nor 007")
