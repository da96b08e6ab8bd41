"""Agora's settings: credentials, expiries, token version, switches, NCS webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.agora import accesstoken006, accesstoken2
from service.agora.rules import MAX_EXPIRE, RENEWAL_WARNING_SECONDS
from service.agora.tokens import AgoraCredentials
from service.env import ConfigError, Env

# Development-only credentials for --dev. They are public, so tokens made with them
# are useless against Agora's servers: good for trying the API, nothing else.
DEV_AGORA_APP_ID = "0123456789abcdef0123456789abcdef"
DEV_AGORA_APP_CERTIFICATE = "fedcba9876543210fedcba9876543210"


@dataclass(frozen=True)
class AgoraSettings:
    credentials: AgoraCredentials | None = None
    token_expire: int = 3600
    max_token_expire: int = MAX_EXPIRE
    token_version: str = accesstoken2.VERSION
    allow_wildcard_channel: bool = False
    allow_chat_app_tokens: bool = False
    allow_apaas_app_tokens: bool = False  # APaaS app tokens administer the whole app
    # Agora Notification Center's HMAC secret; unset, /agora/webhook answers 503.
    ncs_secret: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.credentials is not None


_DEFAULTS = AgoraSettings()


def _credentials(env: Env, dev: bool, made_up: list[str]) -> AgoraCredentials | None:
    app_id = env.text("AGORA_APP_ID")
    certificate = env.text("AGORA_APP_CERTIFICATE")
    if app_id is None and certificate is None and not dev:
        return None
    if app_id is None:
        if not dev:
            raise ConfigError("AGORA_APP_ID: must be set when AGORA_APP_CERTIFICATE is set")
        app_id = DEV_AGORA_APP_ID
        made_up.append("AGORA_APP_ID")
    if certificate is None:
        if not dev:
            raise ConfigError("AGORA_APP_CERTIFICATE: must be set when AGORA_APP_ID is set")
        certificate = DEV_AGORA_APP_CERTIFICATE
        made_up.append("AGORA_APP_CERTIFICATE")
    if not accesstoken2.is_valid_credential(app_id):
        raise ConfigError(
            f"AGORA_APP_ID: must be 32 hexadecimal characters, got {len(app_id)} characters"
        )
    if not accesstoken2.is_valid_credential(certificate):
        # Never echo the certificate, not even in part.
        raise ConfigError("AGORA_APP_CERTIFICATE: must be 32 hexadecimal characters")
    return AgoraCredentials(app_id=app_id, certificate=certificate)


def load_agora_settings(env: Env, dev: bool, made_up: list[str]) -> AgoraSettings:
    shortest = RENEWAL_WARNING_SECONDS + 1
    max_expire = env.integer(
        "AGORA_TOKEN_MAX_EXPIRE", _DEFAULTS.max_token_expire, minimum=shortest, maximum=MAX_EXPIRE
    )
    token_expire = env.integer(
        "AGORA_TOKEN_EXPIRE",
        min(_DEFAULTS.token_expire, max_expire),
        minimum=shortest,
        maximum=MAX_EXPIRE,
    )
    if token_expire > max_expire:
        raise ConfigError(
            f"AGORA_TOKEN_EXPIRE: must not exceed AGORA_TOKEN_MAX_EXPIRE ({max_expire}), "
            f"got {token_expire}"
        )
    return AgoraSettings(
        credentials=_credentials(env, dev, made_up),
        token_expire=token_expire,
        max_token_expire=max_expire,
        token_version=env.choice(
            "AGORA_TOKEN_VERSION",
            _DEFAULTS.token_version,
            (accesstoken2.VERSION, accesstoken006.VERSION),
        ),
        allow_wildcard_channel=env.flag(
            "AGORA_ALLOW_WILDCARD_CHANNEL", _DEFAULTS.allow_wildcard_channel
        ),
        allow_chat_app_tokens=env.flag(
            "AGORA_ALLOW_CHAT_APP_TOKENS", _DEFAULTS.allow_chat_app_tokens
        ),
        allow_apaas_app_tokens=env.flag(
            "AGORA_ALLOW_APAAS_APP_TOKENS", _DEFAULTS.allow_apaas_app_tokens
        ),
        ncs_secret=env.text("AGORA_NCS_SECRET"),
    )
