"""Verifying Agora Notification Center (NCS) webhooks.

NCS signs the raw body with the product's NCS secret: `Agora-Signature-V2` is hex
HMAC-SHA256, `Agora-Signature` hex HMAC-SHA1. V2 is checked when present, SHA1 only when
it is absent. Pure: body, headers and secret in; the verdict out.
"""

from __future__ import annotations

import hashlib
import hmac

from service.signatures import WebhookRejected


def verify_ncs(
    body: bytes, *, signature_v2: str | None, signature_v1: str | None, secret: str
) -> str:
    """The signature scheme that held ("v2" or "v1"); raises WebhookRejected otherwise."""
    if signature_v2:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        given, scheme = signature_v2, "v2"
    elif signature_v1:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
        given, scheme = signature_v1, "v1"
    else:
        raise WebhookRejected(400, "Agora-Signature-V2 (or Agora-Signature) header is required")
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise WebhookRejected(
            401, f"Agora-Signature{'-V2' if scheme == 'v2' else ''} does not match the body"
        )
    return scheme
