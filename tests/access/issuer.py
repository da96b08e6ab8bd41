"""A login-token issuer for tests: RSA and EC keys, a JWKS served on 127.0.0.1."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://login.example.com/"
AUDIENCE = "rtc-token-service"
HS_SECRET = "hs256-login-secret-0123456789abcdef"


@dataclass
class Issuer:
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    published: list[str] = field(default_factory=list)  # kids in the JWKS
    fetches: int = 0

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published.append(kid)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid in self.published:
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                entry = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                entry["alg"] = "RS256"
            else:
                entry = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                entry["alg"] = "ES256"
            entries.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def token(self, kid: str, **overrides: Any) -> str:
        key = self.keys[kid]
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(
            _claims(overrides),
            key,
            algorithm=algorithm,
            headers={"kid": kid},
        )

    def app(self) -> web.Application:
        async def serve(request: web.Request) -> web.Response:
            self.fetches += 1
            return web.json_response(self.jwks())

        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", serve)
        return app


def hs_token(**overrides: Any) -> str:
    return jwt.encode(_claims(overrides), HS_SECRET, algorithm="HS256")


def _claims(overrides: dict[str, Any]) -> dict[str, Any]:
    """A valid caller's claims; an override of None leaves that claim out."""
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "exp": int(time.time()) + 300,
        **overrides,
    }
    return {name: value for name, value in claims.items() if value is not None}
