"""Where verified webhook events are stored, where they are forwarded, and the admin
token of the events API: read from the environment once."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from service.env import ConfigError, Env

MIN_FORWARD_SECRET_LENGTH = 16
# Standard Webhooks' secret form: "whsec_" + the base64 of the key.
WHSEC_PREFIX = "whsec_"
_SEPARATORS = re.compile(r"[\s,]+")
# Replays are refused inside this window at most: well inside the 30 days dedupe markers
# are kept.
LONGEST_WEBHOOK_MAX_AGE = 7 * 86_400.0


@dataclass(frozen=True)
class EventSettings:
    db_path: str = "data/events.sqlite3"
    # Webhook bodies carry whole rooms and participants: they get their own limit.
    webhook_max_body_bytes: int = 1024 * 1024
    # Events stamped older than this (or further ahead than FUTURE_SKEW_SECONDS) are refused
    # unstored: replays.
    webhook_max_age: float = 86_400.0
    redis_url: str | None = field(default=None, repr=False)
    forward_url: str | None = None
    forward_secret: str | None = field(default=None, repr=False)
    forward_max_attempts: int = 10
    forward_timeout: float = 10.0
    forward_backoff: float = 1.0  # first retry after this many seconds, doubling to 300
    api_token: str | None = field(default=None, repr=False)


_DEFAULTS = EventSettings()


def forward_secrets(text: str) -> tuple[str, ...]:
    """The secrets of WEBHOOK_FORWARD_SECRET (or an app's forward_secret): one, or several
    separated by spaces or commas while one is rotated out; each signs every forward."""
    return tuple(secret for secret in _SEPARATORS.split(text) if secret)


def signing_key(secret: str) -> bytes:
    """The HMAC key of one secret: a `whsec_` secret's base64-decoded part, as Standard
    Webhooks has it; any other secret's own UTF-8 bytes (a receiver passes them to its
    library as the raw key). Only for a secret forward_secret_error() accepts."""
    if secret.startswith(WHSEC_PREFIX):
        return base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
    return secret.encode()


def forward_secret_error(text: object) -> str | None:
    """Why a configured secret list cannot sign forwards, in a few words (never quoting a
    secret), or None when every secret in it can."""
    if not isinstance(text, str) or not (secrets := forward_secrets(text)):
        return f"must be set, at least {MIN_FORWARD_SECRET_LENGTH} characters"
    for number, secret in enumerate(secrets, 1):
        which = f"secret {number} of {len(secrets)}" if len(secrets) > 1 else "the secret"
        if secret.startswith(WHSEC_PREFIX):
            try:
                key = signing_key(secret)
            except (binascii.Error, ValueError):
                return f"{which} starts with {WHSEC_PREFIX!r} but the rest is not valid base64"
            if len(key) < MIN_FORWARD_SECRET_LENGTH:
                return (
                    f"{which} is a {WHSEC_PREFIX!r} key of {len(key)} bytes; "
                    f"at least {MIN_FORWARD_SECRET_LENGTH} are needed"
                )
        elif len(secret) < MIN_FORWARD_SECRET_LENGTH:
            return (
                f"{which} has {len(secret)} characters; "
                f"at least {MIN_FORWARD_SECRET_LENGTH} are needed"
            )
    return None


def load_event_settings(env: Env) -> EventSettings:
    forward_url = env.text("WEBHOOK_FORWARD_URL")
    forward_secret = env.text("WEBHOOK_FORWARD_SECRET")
    if forward_url is not None:
        if not forward_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"WEBHOOK_FORWARD_URL: must be an http(s):// URL, got {forward_url!r}"
            )
        if (problem := forward_secret_error(forward_secret)) is not None:
            raise ConfigError(
                f"WEBHOOK_FORWARD_SECRET: {problem}; it is required with WEBHOOK_FORWARD_URL "
                "(the app checks our signature with it; several, for rotation, are separated "
                "by spaces or commas)"
            )
    redis_url = env.text("REDIS_URL")
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return EventSettings(
        db_path=env.text("EVENTS_DB_PATH") or _DEFAULTS.db_path,
        webhook_max_age=env.number(
            "WEBHOOK_MAX_AGE",
            _DEFAULTS.webhook_max_age,
            minimum=60.0,
            maximum=LONGEST_WEBHOOK_MAX_AGE,
        ),
        webhook_max_body_bytes=env.integer(
            "WEBHOOK_MAX_BODY_BYTES",
            _DEFAULTS.webhook_max_body_bytes,
            minimum=1024,
            maximum=64 * 1024 * 1024,
        ),
        redis_url=redis_url,
        forward_url=forward_url,
        forward_secret=forward_secret,
        forward_max_attempts=env.integer(
            "WEBHOOK_FORWARD_MAX_ATTEMPTS", _DEFAULTS.forward_max_attempts, minimum=1, maximum=1000
        ),
        forward_timeout=env.number(
            "WEBHOOK_FORWARD_TIMEOUT", _DEFAULTS.forward_timeout, minimum=0.1, maximum=300.0
        ),
        forward_backoff=env.number(
            "WEBHOOK_FORWARD_BACKOFF", _DEFAULTS.forward_backoff, minimum=0.01, maximum=300.0
        ),
        api_token=env.text("EVENTS_API_TOKEN"),
    )
