"""Signing JWTs with HS256, the one algorithm LiveKit and VideoSDK tokens use.

PyJWT signs the same bytes, but on every call it re-serialises a constant header,
inspects the secret for PEM, SSH and DER shapes and warns about short secrets; on the
token routes that was a third of the time spent making a token. Here the header is
encoded once and the claims are serialised with orjson. Verification (webhooks, callers'
login tokens) stays with PyJWT, and the tests check every token we sign with PyJWT and
with LiveKit's own verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import orjson

# base64url({"alg":"HS256","typ":"JWT"}), the header PyJWT writes (keys sorted).
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _claims_json(claims: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(claims)
    except TypeError:
        # orjson refuses integers beyond 64 bits, which a client's JSON may carry into
        # metadata-like claims; the standard library writes them.
        return json.dumps(claims, separators=(",", ":")).encode()


def sign_hs256(claims: Mapping[str, Any], secret: str) -> str:
    signing_input = _HEADER + b"." + _b64url(_claims_json(claims))
    signature = hmac.digest(secret.encode("utf-8"), signing_input, hashlib.sha256)
    return (signing_input + b"." + _b64url(signature)).decode("ascii")
