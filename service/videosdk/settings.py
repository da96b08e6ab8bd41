"""VideoSDK's settings: credentials, the REST API's address and timeout, token lifetimes,
admin-class switches, and the webhook public key."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.env import ConfigError, Env
from service.videosdk.webhook import load_public_key

DEV_VIDEOSDK_API_KEY = "00000000-0000-4000-8000-000000000dev"
DEV_VIDEOSDK_SECRET = "development-only-videosdk-secret-0000000000"  # noqa: S105 - dev only
VIDEOSDK_DEFAULT_ENDPOINT = "https://api.videosdk.live"
MIN_TTL_SECONDS = 60
LONGEST_TTL_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class VideoSdkSettings:
    api_key: str | None = None
    secret: str | None = field(default=None, repr=False)
    # The API's origin, without /v2: paths carry their own /v2/... as the server SDK does.
    endpoint: str = VIDEOSDK_DEFAULT_ENDPOINT
    token_ttl: int = 3600
    max_token_ttl: int = 86_400
    # Lifetime of the crawler tokens the server mints for its own REST calls.
    server_token_ttl: int = 120
    timeout: float = 10.0
    # Admin-class tokens for clients: moderation (allow_mod) and the server API (crawler).
    allow_mod_tokens: bool = False
    allow_crawler_tokens: bool = False
    # PEM of VideoSDK's webhook key; unset, it is fetched from VideoSDK once.
    webhook_public_key: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.api_key is not None and self.secret is not None


_DEFAULTS = VideoSdkSettings()


def _public_key(env: Env) -> str | None:
    """VIDEOSDK_WEBHOOK_PUBLIC_KEY: the PEM itself, or the path of a PEM file."""
    value = env.text("VIDEOSDK_WEBHOOK_PUBLIC_KEY")
    if value is None:
        return None
    if not value.startswith("-----BEGIN"):
        value = env.file_text("VIDEOSDK_WEBHOOK_PUBLIC_KEY", value)
    try:
        load_public_key(value)
    except ValueError:
        raise ConfigError("VIDEOSDK_WEBHOOK_PUBLIC_KEY: is not an RSA public key in PEM") from None
    return value


def load_videosdk_settings(env: Env, dev: bool, made_up: list[str]) -> VideoSdkSettings:
    api_key = env.text("VIDEOSDK_API_KEY")
    secret = env.text("VIDEOSDK_SECRET_KEY") or env.text("VIDEOSDK_SECRET")
    if api_key is None and secret is None and dev:
        api_key, secret = DEV_VIDEOSDK_API_KEY, DEV_VIDEOSDK_SECRET
        made_up.extend(["VIDEOSDK_API_KEY", "VIDEOSDK_SECRET_KEY"])
    if api_key is not None and secret is None:
        raise ConfigError("VIDEOSDK_SECRET_KEY: must be set when VIDEOSDK_API_KEY is set")
    if secret is not None and api_key is None:
        raise ConfigError("VIDEOSDK_API_KEY: must be set when VIDEOSDK_SECRET_KEY is set")
    endpoint = (env.text("VIDEOSDK_API_ENDPOINT") or _DEFAULTS.endpoint).rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"VIDEOSDK_API_ENDPOINT: must be an http(s):// address, got {endpoint!r}")
    # The examples' value ends in /v2; the server SDK's does not. Both work.
    endpoint = endpoint.removesuffix("/v2")
    max_ttl = env.integer(
        "VIDEOSDK_TOKEN_MAX_TTL",
        _DEFAULTS.max_token_ttl,
        minimum=MIN_TTL_SECONDS,
        maximum=LONGEST_TTL_SECONDS,
    )
    return VideoSdkSettings(
        api_key=api_key,
        secret=secret,
        endpoint=endpoint,
        token_ttl=env.integer(
            "VIDEOSDK_TOKEN_TTL",
            min(_DEFAULTS.token_ttl, max_ttl),
            minimum=MIN_TTL_SECONDS,
            maximum=max_ttl,
        ),
        max_token_ttl=max_ttl,
        timeout=env.number("VIDEOSDK_TIMEOUT", _DEFAULTS.timeout, minimum=0.1, maximum=300.0),
        allow_mod_tokens=env.flag("VIDEOSDK_ALLOW_MOD_TOKENS", _DEFAULTS.allow_mod_tokens),
        allow_crawler_tokens=env.flag(
            "VIDEOSDK_ALLOW_CRAWLER_TOKENS", _DEFAULTS.allow_crawler_tokens
        ),
        webhook_public_key=_public_key(env),
    )
