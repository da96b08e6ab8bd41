"""The one error type handlers raise, and every error code a client can see.

Middlewares and route wrappers turn an ApiError into the route's JSON error shape. The
codes are an enum, so a code cannot be misspelt; CODES documents each one, and the error
table in docs/errors.md is generated from it (`python -m service.reference`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """The `error` member of every error answer."""

    MALFORMED_JSON = "malformed_json"
    MALFORMED_HEADER = "malformed_header"
    MALFORMED_REQUEST = "malformed_request"
    HEADERS_TOO_LARGE = "headers_too_large"
    INVALID_FIELD = "invalid_field"
    MISSING_SIGNATURE = "missing_signature"
    INVALID_SIGNATURE = "invalid_signature"
    MALFORMED_EVENT = "malformed_event"
    STALE_EVENT = "stale_event"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TIMEOUT = "body_timeout"
    MEETING_DISABLED = "meeting_disabled"
    MEETING_NOT_FOUND = "meeting_not_found"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    UPSTREAM_REJECTED = "upstream_rejected"
    UPSTREAM_UNAUTHORIZED = "upstream_unauthorized"
    UPSTREAM_FORBIDDEN = "upstream_forbidden"
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    INTERNAL_ERROR = "internal_error"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    PLATFORM_DISABLED = "platform_disabled"
    STORE_UNAVAILABLE = "store_unavailable"
    AUTH_UNAVAILABLE = "auth_unavailable"
    UPSTREAM_TIMEOUT = "upstream_timeout"


@dataclass(frozen=True)
class CodeDoc:
    statuses: tuple[int, ...]
    when: str


# What each code means, for the docs' error table (a test keeps it complete).
CODES: Mapping[ErrorCode, CodeDoc] = {
    ErrorCode.MALFORMED_JSON: CodeDoc(
        (400,),
        "not JSON, not an object, duplicate keys, `NaN`, a lone surrogate, an integer beyond "
        "64 bits, trailing data, nesting too deep",
    ),
    ErrorCode.MALFORMED_HEADER: CodeDoc((400,), "a header the service reads is not valid UTF-8"),
    ErrorCode.MALFORMED_REQUEST: CodeDoc(
        (400,), "the request could not be read as HTTP (nothing of it is echoed)"
    ),
    ErrorCode.HEADERS_TOO_LARGE: CodeDoc((431,), "a header line or the header block is too long"),
    ErrorCode.INVALID_FIELD: CodeDoc(
        (400,),
        "missing, mistyped (`true` is not a number, `1.0` not an integer), out of range, "
        "or unknown field; `field` names it",
    ),
    ErrorCode.MISSING_SIGNATURE: CodeDoc((400,), "a webhook without its signature header"),
    ErrorCode.INVALID_SIGNATURE: CodeDoc(
        (401,), "a webhook whose signature, signing token or body hash does not verify"
    ),
    ErrorCode.MALFORMED_EVENT: CodeDoc(
        (400,), "a correctly signed webhook body that is not the platform's event"
    ),
    ErrorCode.STALE_EVENT: CodeDoc(
        (400,), "a webhook stamped older than `WEBHOOK_MAX_AGE` or too far ahead: a replay"
    ),
    ErrorCode.UNAUTHORIZED: CodeDoc(
        (401,), "no or bad credentials: API key, login token, or the admin token"
    ),
    ErrorCode.FORBIDDEN: CodeDoc(
        (403,),
        "outside the issuance policy or the configuration's switches, or another caller's identity",
    ),
    ErrorCode.NOT_FOUND: CodeDoc((404,), "no such route"),
    ErrorCode.METHOD_NOT_ALLOWED: CodeDoc(
        (405,), "the route exists; the `Allow` header lists its methods"
    ),
    ErrorCode.BODY_TIMEOUT: CodeDoc((408,), "the body did not arrive within `BODY_TIMEOUT`"),
    ErrorCode.MEETING_DISABLED: CodeDoc((410,), "the VideoSDK meeting exists but is disabled"),
    ErrorCode.MEETING_NOT_FOUND: CodeDoc(
        (404,), "VideoSDK does not know the meeting (it answered 400, 402 or 404)"
    ),
    ErrorCode.BODY_TOO_LARGE: CodeDoc(
        (413,), "over `MAX_BODY_BYTES` (or `WEBHOOK_MAX_BODY_BYTES` on webhook routes)"
    ),
    ErrorCode.RATE_LIMITED: CodeDoc(
        (429,), "too many requests; `Retry-After` says when to try again"
    ),
    ErrorCode.HTTP_ERROR: CodeDoc((400,), "any other refusal of the HTTP layer"),
    ErrorCode.UPSTREAM_REJECTED: CodeDoc(
        (400,), "VideoSDK refused the call; its message is quoted"
    ),
    ErrorCode.UPSTREAM_UNAUTHORIZED: CodeDoc((401,), "VideoSDK refused the service's credentials"),
    ErrorCode.UPSTREAM_FORBIDDEN: CodeDoc((403,), "VideoSDK forbade the call"),
    ErrorCode.UPSTREAM_RATE_LIMITED: CodeDoc(
        (429,), "VideoSDK rate limits; `Retry-After` says when to try again"
    ),
    ErrorCode.INTERNAL_ERROR: CodeDoc(
        (500,), "a bug: the message quotes the request id; the traceback goes to the log only"
    ),
    ErrorCode.UPSTREAM_ERROR: CodeDoc(
        (502,), "VideoSDK failed (a 5xx or an answer not understood)"
    ),
    ErrorCode.UPSTREAM_UNAVAILABLE: CodeDoc((502,), "VideoSDK could not be reached"),
    ErrorCode.PLATFORM_DISABLED: CodeDoc(
        (503,), "the platform (or its webhooks) is not configured; the message names what to set"
    ),
    ErrorCode.STORE_UNAVAILABLE: CodeDoc(
        (503,), "the event store cannot take the event: the platform will deliver it again"
    ),
    ErrorCode.AUTH_UNAVAILABLE: CodeDoc(
        (503,), "the login token issuer's keys (`AUTH_JWKS_URL`) could not be fetched"
    ),
    ErrorCode.UPSTREAM_TIMEOUT: CodeDoc(
        (504,), "VideoSDK did not answer within `VIDEOSDK_TIMEOUT`"
    ),
}


class ApiError(Exception):
    """A client-visible failure: HTTP status, a stable machine code, a message for people,
    and the request field at fault, if any."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    @classmethod
    def invalid_field(cls, field: str, message: str) -> ApiError:
        return cls(400, ErrorCode.INVALID_FIELD, f"{field}: {message}", field=field)

    @classmethod
    def not_configured(cls, what: str, todo: str) -> ApiError:
        """A platform (or one of its features) whose settings are absent: 503, naming
        what to set. `what` is e.g. "LiveKit", `todo` e.g. "set LIVEKIT_API_KEY"."""
        return cls(503, ErrorCode.PLATFORM_DISABLED, f"{what} is not configured: {todo}")


class PolicyDenied(ApiError):
    """Outside what the configuration's switches or the caller's policy allow: a 403 whose
    message the client can show. The one way any route says "not for you"."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(403, ErrorCode.FORBIDDEN, message, field=field)
