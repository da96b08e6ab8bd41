"""The service's settings, composed: the server's own (address, limits, timeouts, proxies,
CORS, logs) read here, and each concern's read by its own module. Read once at start-up;
a bad value raises ConfigError with one line naming the variable (never echoing a
secret), which the CLI prints before it exits. A platform whose credentials are unset is
disabled rather than refused, so one service can serve only the platforms it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from service.access.policy import ALLOW_ALL
from service.access.settings import AccessSettings, load_access_settings
from service.agora.settings import AgoraSettings, load_agora_settings
from service.apps import CREDENTIAL_VARIABLES, Apps, app_from_environment, load_apps
from service.env import SECRET_VARIABLES, ConfigError, Env
from service.livekit.settings import LiveKitSettings, load_livekit_settings
from service.proxy import Network, parse_networks
from service.store.settings import EventSettings, load_event_settings
from service.videosdk.settings import VideoSdkSettings, load_videosdk_settings

__all__ = ["ConfigError", "Settings", "load_settings", "summarize_settings"]

DEFAULT_PORT = 6080  # where OpenVidu deployments send webhooks
DEV_HOST = "127.0.0.1"
MAX_WORKERS = 256


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
    # One typed field per platform (mypy checks every use); each read by its package.
    agora: AgoraSettings = field(default_factory=AgoraSettings)
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)
    videosdk: VideoSdkSettings = field(default_factory=VideoSdkSettings)
    events: EventSettings = field(default_factory=EventSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    # Variables --dev filled with development values, to tell the operator.
    made_up: tuple[str, ...] = ()
    # The apps APPS_FILE defines, and how to read it again (SIGHUP); None without it.
    file_apps: Apps | None = None
    apps_reader: Callable[[], Apps] | None = field(default=None, compare=False, repr=False)

    def apps(self) -> Apps:
        """The apps served: APPS_FILE's, or the environment's one app, `default`."""
        if self.file_apps is not None:
            return self.file_apps
        single = app_from_environment(
            self.agora, self.livekit, self.videosdk, self.access, self.events
        )
        return Apps.of([single])


_DEFAULTS = Settings()


def _trusted_proxies(env: Env) -> tuple[Network, ...]:
    raw = env.text("TRUSTED_PROXIES")
    if raw is None:
        return ()
    try:
        return parse_networks(part for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXIES: {exc}") from None


def _origins(env: Env) -> tuple[str, ...]:
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


def _environment_reader(environ: Mapping[str, str], dev: bool) -> Callable[[], Apps]:
    """How SIGHUP reads the environment's one app again: the files it names (POLICY_FILE,
    LIVEKIT_KEY_FILE, a webhook key's PEM file) are read afresh; a broken one raises
    ConfigError and the running app stays."""

    def read() -> Apps:
        env = Env(environ)
        single = app_from_environment(
            load_agora_settings(env, dev, []),
            load_livekit_settings(env, dev, []),
            load_videosdk_settings(env, dev, []),
            load_access_settings(env),
            load_event_settings(env),
        )
        return Apps.of([single])

    return read


def load_settings(
    environ: Mapping[str, str],
    *,
    dev: bool = False,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> Settings:
    """Read every setting from `environ`; flags given on the command line win."""
    env = Env(environ)
    apps_file = env.text("APPS_FILE")
    if apps_file is not None:
        for name in sorted(CREDENTIAL_VARIABLES):
            if (given := env.source(name)) is not None:
                raise ConfigError(
                    f"{given}: set while APPS_FILE is set; give each app its credentials in "
                    "APPS_FILE"
                )
    # Every secret's _FILE twin read once, here: a file named is a file checked, whether or
    # not this configuration uses the value, and APPS_FILE's apps inherit values, not paths.
    resolved = env.resolved()
    made_up: list[str] = []
    agora = load_agora_settings(env, dev, made_up)
    livekit = load_livekit_settings(env, dev, made_up)
    videosdk = load_videosdk_settings(env, dev, made_up)
    events = load_event_settings(env)
    access = load_access_settings(env, apps_file=apps_file is not None)
    file_apps, reader = None, None
    if apps_file is not None:
        file_apps, reader = load_apps(resolved, access)
        if access.mode == "api-key" and not any(app.api_keys for app in file_apps):
            raise ConfigError("APPS_FILE: AUTH_MODE=api-key, but no app lists api_keys")
    else:
        reader = _environment_reader(dict(environ), dev)
    if port is None:
        port = env.integer("SERVER_PORT", DEFAULT_PORT, minimum=0, maximum=65535)
    elif not 0 <= port <= 65535:
        raise ConfigError(f"--port: must be between 0 and 65535, got {port}")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers: must be between 1 and {MAX_WORKERS}, got {workers}")
    if host is None:
        # --dev binds loopback whatever SERVER_HOST says (a .env made for a container often
        # sets 0.0.0.0, and development credentials must not be served to the network);
        # only --host on the same command line moves it.
        host = DEV_HOST if dev else env.text("SERVER_HOST") or _DEFAULTS.host
    return Settings(
        host=host,
        port=port,
        dev=dev,
        log_format=env.choice("LOG_FORMAT", "console" if dev else "json", ("json", "console")),
        log_level=env.choice(
            "LOG_LEVEL", _DEFAULTS.log_level, ("debug", "info", "warning", "error", "critical")
        ),
        cors_allow_origins=_origins(env),
        max_body_bytes=env.integer(
            "MAX_BODY_BYTES", _DEFAULTS.max_body_bytes, minimum=1024, maximum=64 * 1024 * 1024
        ),
        body_timeout=env.number("BODY_TIMEOUT", _DEFAULTS.body_timeout, minimum=0.1, maximum=600.0),
        head_timeout=env.number("HEAD_TIMEOUT", _DEFAULTS.head_timeout, minimum=0.1, maximum=600.0),
        keepalive_timeout=env.number(
            "KEEPALIVE_TIMEOUT", _DEFAULTS.keepalive_timeout, minimum=0.1, maximum=3600.0
        ),
        shutdown_timeout=env.number(
            "SHUTDOWN_TIMEOUT", _DEFAULTS.shutdown_timeout, minimum=0.0, maximum=3600.0
        ),
        trusted_proxies=_trusted_proxies(env),
        trusted_proxy_header=env.choice(
            "TRUSTED_PROXY_HEADER",
            _DEFAULTS.trusted_proxy_header,
            ("x-forwarded-for", "forwarded"),
        ),
        workers=workers
        if workers is not None
        else env.integer("WORKERS", _DEFAULTS.workers, minimum=1, maximum=MAX_WORKERS),
        agora=agora,
        livekit=livekit,
        videosdk=videosdk,
        events=events,
        access=access,
        made_up=tuple(made_up),
        file_apps=file_apps,
        apps_reader=reader,
    )


# --- What check-config prints ----------------------------------------------------------------


def _host(url: str | None) -> str | None:
    """A URL's host alone: no scheme, user, password, path or query."""
    return urlsplit(url).hostname if url else None


def summarize_settings(settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    """What a configuration amounts to, with no secret in it: no credential, key, token,
    password or URL path, only names, counts, switches and hosts. `environ` is the one
    `settings` were read from; it says which secrets came from files (names only)."""
    env = Env(environ)
    access, events = settings.access, settings.events
    apps = settings.apps()
    warnings = []
    if settings.made_up:
        warnings.append(
            "development values in use (never in production): " + ", ".join(settings.made_up)
        )
    if access.mode == "none" and not settings.dev:
        warnings.append("AUTH_MODE=none: anyone who reaches the service gets tokens")
    short = sum(len(app.livekit.short_secret_keys) for app in apps)
    if short and "LIVEKIT_API_SECRET" not in settings.made_up:
        warnings.append(f"{short} LiveKit API secret(s) shorter than 32 characters")
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "dev": settings.dev,
        "apps_source": "APPS_FILE" if settings.file_apps is not None else "environment",
        "apps": [
            {
                "name": app.name,
                "platforms": {
                    "agora": app.agora.enabled,
                    "livekit": app.livekit.enabled,
                    "videosdk": app.videosdk.enabled,
                },
                "api_keys": len(app.api_keys),
                "policy": app.policy != ALLOW_ALL,
                "forward_host": _host(app.forward_url),
                "own_login_rules": app.jwt is not None,
            }
            for app in apps
        ],
        "auth_mode": access.mode,
        "api_keys": len(access.api_keys),
        "login_tokens": None
        if access.jwt is None
        else (
            "HS256 secret"
            if access.jwt.secret is not None
            else f"JWKS at {_host(access.jwt.jwks_url)}"
        ),
        "policy": env.text("POLICY_FILE") is not None,
        "event_store": "redis" if events.redis_url else "sqlite",
        "events_db_path": None if events.redis_url else events.db_path,
        "forward_host": _host(events.forward_url),
        "events_api": events.api_token is not None,
        "trusted_proxies": [str(network) for network in settings.trusted_proxies],
        "secret_files": sorted(
            given
            for name in SECRET_VARIABLES
            if (given := env.source(name)) is not None and given != name
        ),
        "warnings": warnings,
    }
