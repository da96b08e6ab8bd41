"""Settings, read from the environment once at start-up and validated there.

A bad value raises ConfigError naming the variable and what is wrong (never echoing a
secret); the CLI prints that one line and exits. A platform whose credentials are unset
is disabled rather than refused, so one service can serve only the platforms it has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.access.callers import JwtRules
from service.access.policy import ALLOW_ALL, Policy, PolicyError, parse_policy
from service.access.ratelimit import Limit
from service.agora import accesstoken006, accesstoken2
from service.agora.rules import MAX_EXPIRE, RENEWAL_WARNING_SECONDS
from service.agora.tokens import AgoraCredentials
from service.proxy import Network, parse_networks
from service.videosdk.webhook import load_public_key

DEFAULT_PORT = 6080  # where OpenVidu deployments send webhooks
DEV_HOST = "127.0.0.1"

# Development-only credentials for --dev. They are public, so tokens made with them
# are useless against Agora's servers: good for trying the API, nothing else.
DEV_AGORA_APP_ID = "0123456789abcdef0123456789abcdef"
DEV_AGORA_APP_CERTIFICATE = "fedcba9876543210fedcba9876543210"

# LiveKit's own development pair (`livekit-server --dev`), and where that server listens.
DEV_LIVEKIT_API_KEY = "devkey"
DEV_LIVEKIT_API_SECRET = "secret"  # noqa: S105 - public by design, dev only
DEV_LIVEKIT_URL = "ws://localhost:7880"
LIVEKIT_MIN_SECRET_LENGTH = 32  # LiveKit server warns below this; .NET refuses
LIVEKIT_DEFAULT_TTL = 6 * 3600  # as every LiveKit SDK and OpenVidu's tutorials

DEV_VIDEOSDK_API_KEY = "00000000-0000-4000-8000-000000000dev"
DEV_VIDEOSDK_SECRET = "development-only-videosdk-secret-0000000000"  # noqa: S105 - dev only
VIDEOSDK_DEFAULT_ENDPOINT = "https://api.videosdk.live"


class ConfigError(Exception):
    """One configuration value is wrong; str() is a one-line message for the operator."""


@dataclass(frozen=True)
class AgoraSettings:
    credentials: AgoraCredentials | None = None
    token_expire: int = 3600
    max_token_expire: int = MAX_EXPIRE
    token_version: str = accesstoken2.VERSION
    allow_wildcard_channel: bool = False
    allow_chat_app_tokens: bool = False


@dataclass(frozen=True)
class LiveKitSettings:
    # API key -> secret. All are accepted on webhooks (chosen by the token's iss), so a
    # key can be rotated with no downtime; `signing_key` signs the tokens we mint.
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    signing_key: str | None = None
    url: str | None = None
    token_ttl: int = LIVEKIT_DEFAULT_TTL
    max_token_ttl: int = 86_400
    allow_admin_grants: bool = False

    @property
    def enabled(self) -> bool:
        return self.signing_key is not None

    @property
    def short_secret_keys(self) -> tuple[str, ...]:
        return tuple(k for k, s in self.keys.items() if len(s) < LIVEKIT_MIN_SECRET_LENGTH)


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

    @property
    def enabled(self) -> bool:
        return self.api_key is not None and self.secret is not None


@dataclass(frozen=True)
class EventSettings:
    """Where verified webhook events are stored, and where they are forwarded."""

    db_path: str = "data/events.sqlite3"
    # Webhook bodies carry whole rooms and participants: they get their own limit.
    webhook_max_body_bytes: int = 1024 * 1024
    # Events stamped older than this (or further ahead than FUTURE_SKEW_SECONDS) are refused
    # unstored: replays. At most 7 days, well inside the 30 days dedupe markers are kept.
    webhook_max_age: float = 86_400.0
    redis_url: str | None = field(default=None, repr=False)
    forward_url: str | None = None
    forward_secret: str | None = field(default=None, repr=False)
    forward_max_attempts: int = 10
    forward_timeout: float = 10.0
    forward_backoff: float = 1.0  # first retry after this many seconds, doubling to 300
    api_token: str | None = field(default=None, repr=False)
    agora_ncs_secret: str | None = field(default=None, repr=False)
    videosdk_public_key: str | None = field(default=None, repr=False)


# A client renewing a 40 s token asks once every 10-40 s. Per signed-in user: stops one that
# asks hundreds of times a second. Per address (anonymous callers, API-key callers, and
# failed authentications, each in its own bucket): one address may be a whole office or a
# carrier NAT, so it serves 1,000 requests at once (500 clients starting a meeting with two
# requests each) and 200 a second (8,000 clients renewing every 40 s).
DEFAULT_CALLER_LIMIT = Limit(rate=5.0, burst=30)
DEFAULT_ADDRESS_LIMIT = Limit(rate=200.0, burst=1000)


@dataclass(frozen=True)
class AccessSettings:
    """Who may get tokens (caller authentication), what they may ask for, how often."""

    mode: str = "none"  # "none", "api-key", "jwt"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    jwt: JwtRules | None = None
    policy: Policy = ALLOW_ALL
    caller_limit: Limit | None = DEFAULT_CALLER_LIMIT  # per signed-in user (jwt)
    address_limit: Limit | None = DEFAULT_ADDRESS_LIMIT  # per client address
    api_key_limit: Limit | None = None  # per API key: off unless set


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    dev: bool = False
    log_format: str = "json"
    log_level: str = "info"
    cors_allow_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 16 * 1024
    body_timeout: float = 10.0
    head_timeout: float = 10.0  # from a connection (or its last answer) to a request head
    keepalive_timeout: float = 30.0  # an idle kept-alive connection is closed after this
    shutdown_timeout: float = 30.0
    trusted_proxies: tuple[Network, ...] = ()
    trusted_proxy_header: str = "x-forwarded-for"  # or "forwarded": what the proxies write
    workers: int = 1
    agora: AgoraSettings = field(default_factory=AgoraSettings)
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)
    videosdk: VideoSdkSettings = field(default_factory=VideoSdkSettings)
    events: EventSettings = field(default_factory=EventSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    # Variables --dev filled with development values, to tell the operator.
    made_up: tuple[str, ...] = ()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# The community Agora token servers' variable names, so their deployments keep working.
ALIASES = {
    "AGORA_APP_ID": "APP_ID",
    "AGORA_APP_CERTIFICATE": "APP_CERTIFICATE",
    "CORS_ALLOW_ORIGINS": "CORS_ALLOW_ORIGIN",
    "SERVER_PORT": "PORT",
}


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        for name, alias in ALIASES.items():
            if not self._environ.get(name, "").strip() and self._environ.get(alias, "").strip():
                self._environ[name] = self._environ[alias]

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: must be a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name}: must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: must be a number of seconds, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name}: must be between {minimum} and {maximum}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{name}: must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise ConfigError(f"{name}: must be one of {', '.join(choices)}, got {raw!r}")
        return raw.lower()


def _agora_credentials(env: _Env, dev: bool, made_up: list[str]) -> AgoraCredentials | None:
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


def _agora_settings(env: _Env, dev: bool, made_up: list[str]) -> AgoraSettings:
    shortest = RENEWAL_WARNING_SECONDS + 1
    max_expire = env.integer(
        "AGORA_TOKEN_MAX_EXPIRE", MAX_EXPIRE, minimum=shortest, maximum=MAX_EXPIRE
    )
    token_expire = env.integer(
        "AGORA_TOKEN_EXPIRE", min(3600, max_expire), minimum=shortest, maximum=MAX_EXPIRE
    )
    if token_expire > max_expire:
        raise ConfigError(
            f"AGORA_TOKEN_EXPIRE: must not exceed AGORA_TOKEN_MAX_EXPIRE ({max_expire}), "
            f"got {token_expire}"
        )
    return AgoraSettings(
        credentials=_agora_credentials(env, dev, made_up),
        token_expire=token_expire,
        max_token_expire=max_expire,
        token_version=env.choice(
            "AGORA_TOKEN_VERSION",
            accesstoken2.VERSION,
            (accesstoken2.VERSION, accesstoken006.VERSION),
        ),
        allow_wildcard_channel=env.flag("AGORA_ALLOW_WILDCARD_CHANNEL", False),
        allow_chat_app_tokens=env.flag("AGORA_ALLOW_CHAT_APP_TOKENS", False),
    )


_KEY_LINE = re.compile(r"""\s*["']?([^\s:"']+)["']?:\s+["']?([^\s"']+)["']?\s*""")


def _parse_keys(text: str, source: str) -> dict[str, str]:
    """LiveKit server's key format: `key: secret` lines (the space is required), or a
    one-line YAML map `{key1: secret1, key2: secret2}`."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        entries = text[1:-1].split(",")
    else:
        entries = text.splitlines()
    keys: dict[str, str] = {}
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.fullmatch(entry)
        if match is None:
            # Never echo the line: it holds a secret.
            raise ConfigError(f'{source}: every entry must be exactly "key: secret"')
        keys[match.group(1)] = match.group(2)
    if not keys:
        raise ConfigError(f"{source}: holds no keys")
    return keys


def _livekit_keys(env: _Env, dev: bool, made_up: list[str]) -> tuple[dict[str, str], str | None]:
    keys: dict[str, str] = {}
    key_file = env.text("LIVEKIT_KEY_FILE")
    if key_file is not None:
        try:
            with open(key_file, encoding="utf-8") as handle:
                keys = _parse_keys(handle.read(), "LIVEKIT_KEY_FILE")
        except OSError as exc:
            raise ConfigError(f"LIVEKIT_KEY_FILE: cannot read {key_file}: {exc.strerror}") from None
    elif (listed := env.text("LIVEKIT_KEYS")) is not None:
        keys = _parse_keys(listed, "LIVEKIT_KEYS")
    api_key, api_secret = env.text("LIVEKIT_API_KEY"), env.text("LIVEKIT_API_SECRET")
    if api_secret is not None and api_key is None:
        raise ConfigError("LIVEKIT_API_KEY: must be set when LIVEKIT_API_SECRET is set")
    if api_key is not None and api_secret is not None:
        if keys.get(api_key, api_secret) != api_secret:
            raise ConfigError(
                f"LIVEKIT_API_SECRET: differs from the secret of {api_key} in the key list"
            )
        keys[api_key] = api_secret
    elif api_key is not None and api_key not in keys:
        raise ConfigError("LIVEKIT_API_SECRET: must be set when LIVEKIT_API_KEY is set")
    if not keys and dev:
        keys = {DEV_LIVEKIT_API_KEY: DEV_LIVEKIT_API_SECRET}
        made_up.extend(["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"])
    # Tokens are signed with LIVEKIT_API_KEY, else the first key listed.
    return keys, api_key or next(iter(keys), None)


def _livekit_settings(env: _Env, dev: bool, made_up: list[str]) -> LiveKitSettings:
    keys, signing_key = _livekit_keys(env, dev, made_up)
    url = env.text("LIVEKIT_URL")
    if url is None and dev:
        url = DEV_LIVEKIT_URL
        made_up.append("LIVEKIT_URL")
    if url is not None and not url.startswith(("ws://", "wss://", "http://", "https://")):
        raise ConfigError(f"LIVEKIT_URL: must be a ws://, wss:// or https:// address, got {url!r}")
    max_ttl = env.integer("LIVEKIT_TOKEN_MAX_TTL", 86_400, minimum=61, maximum=30 * 86_400)
    ttl = env.integer(
        "LIVEKIT_TOKEN_TTL", min(LIVEKIT_DEFAULT_TTL, max_ttl), minimum=61, maximum=max_ttl
    )
    return LiveKitSettings(
        keys=keys,
        signing_key=signing_key,
        url=url,
        token_ttl=ttl,
        max_token_ttl=max_ttl,
        allow_admin_grants=env.flag("LIVEKIT_ALLOW_ADMIN_GRANTS", False),
    )


def _videosdk_settings(env: _Env, dev: bool, made_up: list[str]) -> VideoSdkSettings:
    api_key = env.text("VIDEOSDK_API_KEY")
    secret = env.text("VIDEOSDK_SECRET_KEY") or env.text("VIDEOSDK_SECRET")
    if api_key is None and secret is None and dev:
        api_key, secret = DEV_VIDEOSDK_API_KEY, DEV_VIDEOSDK_SECRET
        made_up.extend(["VIDEOSDK_API_KEY", "VIDEOSDK_SECRET_KEY"])
    if api_key is not None and secret is None:
        raise ConfigError("VIDEOSDK_SECRET_KEY: must be set when VIDEOSDK_API_KEY is set")
    if secret is not None and api_key is None:
        raise ConfigError("VIDEOSDK_API_KEY: must be set when VIDEOSDK_SECRET_KEY is set")
    endpoint = (env.text("VIDEOSDK_API_ENDPOINT") or VIDEOSDK_DEFAULT_ENDPOINT).rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"VIDEOSDK_API_ENDPOINT: must be an http(s):// address, got {endpoint!r}")
    # The examples' value ends in /v2; the server SDK's does not. Both work.
    endpoint = endpoint.removesuffix("/v2")
    max_ttl = env.integer("VIDEOSDK_TOKEN_MAX_TTL", 86_400, minimum=60, maximum=30 * 86_400)
    return VideoSdkSettings(
        api_key=api_key,
        secret=secret,
        endpoint=endpoint,
        token_ttl=env.integer(
            "VIDEOSDK_TOKEN_TTL", min(3600, max_ttl), minimum=60, maximum=max_ttl
        ),
        max_token_ttl=max_ttl,
        timeout=env.number("VIDEOSDK_TIMEOUT", 10.0, minimum=0.1, maximum=300.0),
        allow_mod_tokens=env.flag("VIDEOSDK_ALLOW_MOD_TOKENS", False),
        allow_crawler_tokens=env.flag("VIDEOSDK_ALLOW_CRAWLER_TOKENS", False),
    )


def _public_key(env: _Env) -> str | None:
    """VIDEOSDK_WEBHOOK_PUBLIC_KEY: the PEM itself, or the path of a PEM file."""
    value = env.text("VIDEOSDK_WEBHOOK_PUBLIC_KEY")
    if value is None:
        return None
    if not value.startswith("-----BEGIN"):
        try:
            value = Path(value).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"VIDEOSDK_WEBHOOK_PUBLIC_KEY: cannot read {value}: {exc}") from None
    try:
        load_public_key(value)
    except ValueError:
        raise ConfigError("VIDEOSDK_WEBHOOK_PUBLIC_KEY: is not an RSA public key in PEM") from None
    return value


def _event_settings(env: _Env) -> EventSettings:
    forward_url = env.text("WEBHOOK_FORWARD_URL")
    forward_secret = env.text("WEBHOOK_FORWARD_SECRET")
    if forward_url is not None:
        if not forward_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"WEBHOOK_FORWARD_URL: must be an http(s):// URL, got {forward_url!r}"
            )
        if forward_secret is None or len(forward_secret) < 16:
            raise ConfigError(
                "WEBHOOK_FORWARD_SECRET: must be set, at least 16 characters, when "
                "WEBHOOK_FORWARD_URL is set (the app checks our signature with it)"
            )
    redis_url = env.text("REDIS_URL")
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return EventSettings(
        db_path=env.text("EVENTS_DB_PATH") or "data/events.sqlite3",
        webhook_max_age=env.number("WEBHOOK_MAX_AGE", 86_400.0, minimum=60.0, maximum=7 * 86_400.0),
        webhook_max_body_bytes=env.integer(
            "WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024, maximum=64 * 1024 * 1024
        ),
        redis_url=redis_url,
        forward_url=forward_url,
        forward_secret=forward_secret,
        forward_max_attempts=env.integer(
            "WEBHOOK_FORWARD_MAX_ATTEMPTS", 10, minimum=1, maximum=1000
        ),
        forward_timeout=env.number("WEBHOOK_FORWARD_TIMEOUT", 10.0, minimum=0.1, maximum=300.0),
        forward_backoff=env.number("WEBHOOK_FORWARD_BACKOFF", 1.0, minimum=0.01, maximum=300.0),
        api_token=env.text("EVENTS_API_TOKEN"),
        agora_ncs_secret=env.text("AGORA_NCS_SECRET"),
        videosdk_public_key=_public_key(env),
    )


def _trusted_proxies(env: _Env) -> tuple[Network, ...]:
    raw = env.text("TRUSTED_PROXIES")
    if raw is None:
        return ()
    try:
        return parse_networks(part for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXIES: {exc}") from None


def _limit(env: _Env, name: str, rate: float | None, burst: int) -> Limit | None:
    """<NAME>_RATE requests per second with bursts of <NAME>_BURST; a rate of 0 is off."""
    chosen = env.number(f"{name}_RATE", rate if rate is not None else 0.0, minimum=0.0, maximum=1e6)
    if chosen == 0:
        return None
    return Limit(
        rate=chosen, burst=env.integer(f"{name}_BURST", burst, minimum=1, maximum=1_000_000)
    )


def _jwt_rules(env: _Env) -> JwtRules:
    secret, jwks_url = env.text("AUTH_JWT_SECRET"), env.text("AUTH_JWKS_URL")
    if (secret is None) == (jwks_url is None):
        raise ConfigError(
            "AUTH_JWT_SECRET: set it (HS256) or AUTH_JWKS_URL (RS256/ES256), not both"
        )
    if secret is not None and len(secret) < 32:
        raise ConfigError("AUTH_JWT_SECRET: must be at least 32 characters")
    if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
        raise ConfigError(f"AUTH_JWKS_URL: must be an http(s):// URL, got {jwks_url!r}")
    issuer, audience = env.text("AUTH_JWT_ISSUER"), env.text("AUTH_JWT_AUDIENCE")
    if issuer is None:
        raise ConfigError(
            "AUTH_JWT_ISSUER: must be set with AUTH_MODE=jwt (tokens are checked against it)"
        )
    if audience is None:
        raise ConfigError(
            "AUTH_JWT_AUDIENCE: must be set with AUTH_MODE=jwt (tokens are checked against it)"
        )
    return JwtRules(
        issuer=issuer,
        audience=audience,
        identity_claim=env.text("AUTH_JWT_IDENTITY_CLAIM") or "sub",
        secret=secret,
        jwks_url=jwks_url,
    )


def _policy(env: _Env) -> Policy:
    path = env.text("POLICY_FILE")
    if path is None:
        return ALLOW_ALL
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"POLICY_FILE: cannot read {path}: {exc}") from None
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise ConfigError(f"POLICY_FILE: {path}: {exc}") from None


def _access_settings(env: _Env) -> AccessSettings:
    mode = env.choice("AUTH_MODE", "none", ("none", "api-key", "jwt"))
    api_keys: tuple[str, ...] = ()
    if mode == "api-key":
        api_keys = tuple(k.strip() for k in (env.text("API_KEYS") or "").split(",") if k.strip())
        if not api_keys:
            raise ConfigError("API_KEYS: must list at least one key with AUTH_MODE=api-key")
        if any(len(key) < 16 for key in api_keys):
            raise ConfigError("API_KEYS: every key must be at least 16 characters")
    return AccessSettings(
        mode=mode,
        api_keys=api_keys,
        jwt=_jwt_rules(env) if mode == "jwt" else None,
        policy=_policy(env),
        caller_limit=_limit(
            env, "RATE_LIMIT_CALLER", DEFAULT_CALLER_LIMIT.rate, DEFAULT_CALLER_LIMIT.burst
        ),
        address_limit=_limit(
            env, "RATE_LIMIT_ADDRESS", DEFAULT_ADDRESS_LIMIT.rate, DEFAULT_ADDRESS_LIMIT.burst
        ),
        api_key_limit=_limit(env, "RATE_LIMIT_API_KEY", None, 1000),
    )


def _origins(env: _Env) -> tuple[str, ...]:
    raw = env.text("CORS_ALLOW_ORIGINS") or "*"
    origins = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    if "*" in origins and len(origins) > 1:
        raise ConfigError("CORS_ALLOW_ORIGINS: '*' cannot be combined with other origins")
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                f"CORS_ALLOW_ORIGINS: {origin!r} is not an origin like https://app.example.com"
            )
    return origins or ("*",)


def load_settings(
    environ: Mapping[str, str],
    *,
    dev: bool = False,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> Settings:
    """Read every setting from `environ`; flags given on the command line win."""
    env = _Env(environ)
    made_up: list[str] = []
    agora = _agora_settings(env, dev, made_up)
    livekit = _livekit_settings(env, dev, made_up)
    videosdk = _videosdk_settings(env, dev, made_up)
    events = _event_settings(env)
    access = _access_settings(env)
    if port is None:
        port = env.integer("SERVER_PORT", DEFAULT_PORT, minimum=0, maximum=65535)
    elif not 0 <= port <= 65535:
        raise ConfigError(f"--port: must be between 0 and 65535, got {port}")
    if workers is not None and not 1 <= workers <= 256:
        raise ConfigError(f"--workers: must be between 1 and 256, got {workers}")
    return Settings(
        host=host or env.text("SERVER_HOST") or (DEV_HOST if dev else "0.0.0.0"),
        port=port,
        dev=dev,
        log_format=env.choice("LOG_FORMAT", "console" if dev else "json", ("json", "console")),
        log_level=env.choice(
            "LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
        ),
        cors_allow_origins=_origins(env),
        max_body_bytes=env.integer(
            "MAX_BODY_BYTES", 16 * 1024, minimum=1024, maximum=64 * 1024 * 1024
        ),
        body_timeout=env.number("BODY_TIMEOUT", 10.0, minimum=0.1, maximum=600.0),
        head_timeout=env.number("HEAD_TIMEOUT", 10.0, minimum=0.1, maximum=600.0),
        keepalive_timeout=env.number("KEEPALIVE_TIMEOUT", 30.0, minimum=0.1, maximum=3600.0),
        shutdown_timeout=env.number("SHUTDOWN_TIMEOUT", 30.0, minimum=0.0, maximum=3600.0),
        trusted_proxies=_trusted_proxies(env),
        trusted_proxy_header=env.choice(
            "TRUSTED_PROXY_HEADER", "x-forwarded-for", ("x-forwarded-for", "forwarded")
        ),
        workers=workers
        if workers is not None
        else env.integer("WORKERS", 1, minimum=1, maximum=256),
        agora=agora,
        livekit=livekit,
        videosdk=videosdk,
        events=events,
        access=access,
        made_up=tuple(made_up),
    )
