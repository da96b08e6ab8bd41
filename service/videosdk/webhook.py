"""Verifying VideoSDK webhooks: `videosdk-signature` is base64 RSA-SHA256 (PKCS#1 v1.5)
over the raw body, checked with VideoSDK's public key. Pure."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.signatures import WebhookRejected


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Raises ValueError when the PEM is not an RSA public key."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("VideoSDK's webhook key must be an RSA public key")
    return key


def decode_signature(signature: str | None) -> bytes:
    """The signature's bytes; a request without one (or not base64) is refused here,
    before anything fetches VideoSDK's key for it."""
    if not signature or not signature.strip():
        raise WebhookRejected(400, "videosdk-signature header is required")
    try:
        return base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(401, "videosdk-signature is not base64") from None


def verify_videosdk(body: bytes, signature: str | None, public_key: rsa.RSAPublicKey) -> None:
    raw = decode_signature(signature)
    try:
        public_key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WebhookRejected(401, "videosdk-signature does not match the body") from None
