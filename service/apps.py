"""Several apps in one service: each with its own platform credentials, API keys, policy,
rate limits and webhook forwarding.

Without APPS_FILE, the environment defines one app, `default`, exactly as before. With it,
each `[apps.<name>]` table defines an app; the environment still gives every app its
defaults for what the table leaves out (expiries, switches), never its credentials.

Apps is immutable: a reload (SIGHUP) builds a new Apps and swaps it in whole, so a request
sees one set or the other, never a mix (AppRegistry).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.access.callers import JwtRules
from service.access.policy import ALLOW_ALL, Policy, PolicyError, policy_from_tables
from service.access.ratelimit import Limit
from service.access.settings import (
    DEFAULT_ADDRESS_LIMIT,
    DEFAULT_API_KEY_BURST,
    DEFAULT_CALLER_LIMIT,
    MIN_API_KEY_LENGTH,
    AccessSettings,
    load_jwt_rules,
)
from service.agora.settings import AgoraSettings, load_agora_settings
from service.env import ConfigError, Env
from service.errors import ApiError, ErrorCode
from service.livekit.settings import LiveKitSettings, load_livekit_settings
from service.logs import get_logger
from service.store.settings import EventSettings, forward_secret_error
from service.videosdk.settings import VideoSdkSettings, load_videosdk_settings

log = get_logger("service.apps")

DEFAULT_APP = "default"
APP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_APPS = 10_000


@dataclass(frozen=True)
class App:
    name: str
    agora: AgoraSettings = field(default_factory=AgoraSettings)
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)
    videosdk: VideoSdkSettings = field(default_factory=VideoSdkSettings)
    policy: Policy = ALLOW_ALL
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    caller_limit: Limit | None = DEFAULT_CALLER_LIMIT
    address_limit: Limit | None = DEFAULT_ADDRESS_LIMIT
    api_key_limit: Limit | None = None
    forward_url: str | None = None
    forward_secret: str | None = field(default=None, repr=False)
    # AUTH_MODE=jwt: this app's own login-token rules ([apps.<name>.auth]), else the
    # service's (AUTH_JWT_*).
    jwt: JwtRules | None = None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Apps:
    """One consistent set of apps, with the indexes requests are resolved by."""

    by_name: Mapping[str, App]
    # sha256 of each API key -> (app name, key): one lookup whatever the number of apps.
    _by_key: Mapping[bytes, tuple[str, str]] = field(repr=False)
    # LiveKit API key -> app name: a webhook's signing key names its app.
    by_livekit_key: Mapping[str, str] = field(repr=False)
    # Every app's LiveKit keys (key -> secret), for verifying a webhook.
    livekit_secrets: Mapping[str, str] = field(repr=False)

    @classmethod
    def of(cls, apps: list[App]) -> Apps:
        by_name: dict[str, App] = {}
        by_key: dict[bytes, tuple[str, str]] = {}
        by_livekit_key: dict[str, str] = {}
        for app in apps:
            if app.name in by_name:
                raise ConfigError(f"APPS_FILE: apps.{app.name}: defined twice")
            by_name[app.name] = app
            for key in app.api_keys:
                owner = by_key.setdefault(_digest(key), (app.name, key))[0]
                if owner != app.name:
                    raise ConfigError(
                        f"APPS_FILE: apps.{app.name}.api_keys: a key of apps.{owner} too; "
                        "a key selects exactly one app"
                    )
            for key in app.livekit.keys:
                owner = by_livekit_key.setdefault(key, app.name)
                if owner != app.name:
                    raise ConfigError(
                        f"APPS_FILE: apps.{app.name}.livekit: API key {key!r} is also "
                        f"apps.{owner}'s; LiveKit webhooks could not tell the apps apart"
                    )
        secrets = {key: secret for app in apps for key, secret in app.livekit.keys.items()}
        return cls(by_name, by_key, by_livekit_key, secrets)

    def __iter__(self) -> Iterator[App]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> App | None:
        return self.by_name.get(name)

    @property
    def default(self) -> App | None:
        """The app a request that names none is for: `default`, or the only app."""
        app = self.by_name.get(DEFAULT_APP)
        if app is None and len(self.by_name) == 1:
            app = next(iter(self.by_name.values()))
        return app

    def requested(self, name: str | None) -> App:
        """The app a path prefix names, or with none the default app; 404 otherwise."""
        if name is not None:
            app = self.by_name.get(name)
            if app is None:
                shown = repr(name) if APP_NAME.fullmatch(name) else "so"
                raise ApiError(404, ErrorCode.NOT_FOUND, f"no app is named {shown}")
            return app
        default = self.default
        if default is None:
            raise ApiError(
                404,
                ErrorCode.NOT_FOUND,
                "this service serves several apps: name yours with /apps/<name>/ before the path",
            )
        return default

    def for_api_key(self, presented: str) -> tuple[App, str] | None:
        """The app a presented API key selects, and the key; compared in constant time
        after the lookup by digest."""
        found = self._by_key.get(_digest(presented))
        if found is None or not hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), found[1].encode()
        ):
            return None
        return self.by_name[found[0]], found[1]


class AppRegistry:
    """The current Apps, swapped whole on reload."""

    def __init__(self, apps: Apps, reload: Callable[[], Apps] | None = None) -> None:
        self.current = apps
        self._reload = reload

    @property
    def reloadable(self) -> bool:
        return self._reload is not None

    def reload(self) -> bool:
        """Build the set again (re-reading APPS_FILE) and swap it in whole. A file that
        does not load keeps the current set, and the reason is logged. True if swapped."""
        if self._reload is None:
            log.warning("SIGHUP: this service was built without a way to read its apps again")
            return False
        try:
            apps = self._reload()
        except ConfigError as error:
            log.error("apps not reloaded; the current set stays", reason=str(error))
            return False
        added = sorted(set(apps.by_name) - set(self.current.by_name))
        removed = sorted(set(self.current.by_name) - set(apps.by_name))
        self.current = apps
        log.info("apps reloaded", apps=len(apps), added=added, removed=removed)
        return True


# --- The environment's one app ------------------------------------------------------------


def app_from_environment(
    agora: AgoraSettings,
    livekit: LiveKitSettings,
    videosdk: VideoSdkSettings,
    access: AccessSettings,
    events: EventSettings,
) -> App:
    return App(
        name=DEFAULT_APP,
        agora=agora,
        livekit=livekit,
        videosdk=videosdk,
        policy=access.policy,
        api_keys=access.api_keys,
        caller_limit=access.caller_limit,
        address_limit=access.address_limit,
        api_key_limit=access.api_key_limit,
        forward_url=events.forward_url,
        forward_secret=events.forward_secret,
    )


# --- APPS_FILE -----------------------------------------------------------------------------

# An app's platform table key -> the environment variable it stands for. The environment
# gives every app the rest (expiries, switches); credentials only ever come from the table.
_PLATFORM_KEYS: dict[str, dict[str, str]] = {
    "agora": {
        "app_id": "AGORA_APP_ID",
        "app_certificate": "AGORA_APP_CERTIFICATE",
        "ncs_secret": "AGORA_NCS_SECRET",
        "token_expire": "AGORA_TOKEN_EXPIRE",
        "max_token_expire": "AGORA_TOKEN_MAX_EXPIRE",
        "token_version": "AGORA_TOKEN_VERSION",
        "allow_wildcard_channel": "AGORA_ALLOW_WILDCARD_CHANNEL",
        "allow_chat_app_tokens": "AGORA_ALLOW_CHAT_APP_TOKENS",
        "allow_apaas_app_tokens": "AGORA_ALLOW_APAAS_APP_TOKENS",
    },
    "livekit": {
        "api_key": "LIVEKIT_API_KEY",
        "api_secret": "LIVEKIT_API_SECRET",
        "keys": "LIVEKIT_KEYS",
        "key_file": "LIVEKIT_KEY_FILE",
        "url": "LIVEKIT_URL",
        "token_ttl": "LIVEKIT_TOKEN_TTL",
        "max_token_ttl": "LIVEKIT_TOKEN_MAX_TTL",
        "allow_admin_grants": "LIVEKIT_ALLOW_ADMIN_GRANTS",
    },
    "auth": {
        "issuer": "AUTH_JWT_ISSUER",
        "audience": "AUTH_JWT_AUDIENCE",
        "secret": "AUTH_JWT_SECRET",
        "jwks_url": "AUTH_JWKS_URL",
        "identity_claim": "AUTH_JWT_IDENTITY_CLAIM",
    },
    "videosdk": {
        "api_key": "VIDEOSDK_API_KEY",
        "secret_key": "VIDEOSDK_SECRET_KEY",
        "endpoint": "VIDEOSDK_API_ENDPOINT",
        "webhook_public_key": "VIDEOSDK_WEBHOOK_PUBLIC_KEY",
        "token_ttl": "VIDEOSDK_TOKEN_TTL",
        "max_token_ttl": "VIDEOSDK_TOKEN_MAX_TTL",
        "timeout": "VIDEOSDK_TIMEOUT",
        "allow_mod_tokens": "VIDEOSDK_ALLOW_MOD_TOKENS",
        "allow_crawler_tokens": "VIDEOSDK_ALLOW_CRAWLER_TOKENS",
    },
}
# Keys whose value is read from a file the key names.
_FILE_KEYS = {"agora": {"app_certificate_file": "app_certificate"}}
CREDENTIAL_VARIABLES = frozenset(
    {
        "AGORA_APP_ID",
        "APP_ID",
        "AGORA_APP_CERTIFICATE",
        "APP_CERTIFICATE",
        "AGORA_NCS_SECRET",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "LIVEKIT_KEYS",
        "LIVEKIT_KEY_FILE",
        "LIVEKIT_URL",
        "VIDEOSDK_API_KEY",
        "VIDEOSDK_SECRET_KEY",
        "VIDEOSDK_SECRET",
        "VIDEOSDK_API_ENDPOINT",
        "VIDEOSDK_WEBHOOK_PUBLIC_KEY",
    }
)
_APP_KEYS = {
    "api_keys",
    "auth",
    "agora",
    "livekit",
    "videosdk",
    "policy",
    "rate_limits",
    "forward_url",
    "forward_secret",
}
_LIMIT_KEYS = {
    f"{who}_{what}" for who in ("caller", "address", "api_key") for what in ("rate", "burst")
}


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(f"APPS_FILE: {where}: must be a string, number or boolean")


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"APPS_FILE: {where}: must be a table")
    return value


def _platform_environ(
    base: Mapping[str, str], platform: str, table: Mapping[str, Any], where: str, env: Env
) -> dict[str, str]:
    keys, files = _PLATFORM_KEYS[platform], _FILE_KEYS.get(platform, {})
    environ = dict(base)
    for key, value in table.items():
        if key in files:
            path = _text(value, f"{where}.{key}")
            environ[keys[files[key]]] = env.file_text(f"APPS_FILE: {where}.{key}", path).strip()
        elif key in keys:
            environ[keys[key]] = _text(value, f"{where}.{key}")
        else:
            raise ConfigError(f"APPS_FILE: {where}: unknown key {key!r}")
    return environ


def _renamed(error: ConfigError, platform: str, where: str) -> ConfigError:
    """The loader's message names variables; the operator wrote table keys."""
    message = str(error)
    # Longest names first: LIVEKIT_API_KEY must not be matched inside another name.
    for key, variable in sorted(_PLATFORM_KEYS[platform].items(), key=lambda kv: -len(kv[1])):
        if message.startswith(f"{variable}:"):
            message = f"{where}.{key}:{message[len(variable) + 1 :]}"
        message = message.replace(variable, key)
    if not message.startswith(where):
        message = f"{where}: {message}"
    return ConfigError(f"APPS_FILE: {message}")


def _limit(table: Mapping[str, Any], who: str, default: Limit | None, where: str) -> Limit | None:
    rate, burst = table.get(f"{who}_rate"), table.get(f"{who}_burst")
    if rate is None and burst is None:
        return default
    rate = default.rate if rate is None and default is not None else rate
    if rate is None:
        rate = 0
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1e6:
        raise ConfigError(f"APPS_FILE: {where}.{who}_rate: must be a number from 0 to 1000000")
    if rate == 0:
        return None
    fallback = default.burst if default is not None else DEFAULT_API_KEY_BURST
    burst = fallback if burst is None else burst
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
        raise ConfigError(
            f"APPS_FILE: {where}.{who}_burst: must be a whole number from 1 to 1000000"
        )
    return Limit(rate=float(rate), burst=burst)


def _app(
    name: str, table: Mapping[str, Any], base: Mapping[str, str], access: AccessSettings
) -> App:
    where = f"apps.{name}"
    unknown = sorted(set(table) - _APP_KEYS)
    if unknown:
        raise ConfigError(f"APPS_FILE: {where}: unknown key {unknown[0]!r}")
    env = Env(base)
    platforms: dict[str, Any] = {}
    loaders = {
        "agora": load_agora_settings,
        "livekit": load_livekit_settings,
        "videosdk": load_videosdk_settings,
    }
    for platform, load in loaders.items():
        section = f"{where}.{platform}"
        given = _table(table.get(platform, {}), section)
        environ = _platform_environ(base, platform, given, section, env)
        try:
            platforms[platform] = load(Env(environ), False, [])
        except ConfigError as error:
            raise _renamed(error, platform, section) from None
    login_rules = None
    if "auth" in table:
        section = f"{where}.auth"
        given = _table(table["auth"], section)
        inherited = dict(base)
        if "secret" in given or "jwks_url" in given:
            # The app's own signing key replaces the service's, whichever kind it is.
            inherited.pop("AUTH_JWT_SECRET", None)
            inherited.pop("AUTH_JWKS_URL", None)
        environ = _platform_environ(inherited, "auth", given, section, env)
        try:
            login_rules = load_jwt_rules(Env(environ))
        except ConfigError as error:
            raise _renamed(error, "auth", section) from None
    api_keys = table.get("api_keys", [])
    if not isinstance(api_keys, list) or not all(isinstance(k, str) for k in api_keys):
        raise ConfigError(f"APPS_FILE: {where}.api_keys: must be a list of strings")
    if any(len(key) < MIN_API_KEY_LENGTH for key in api_keys):
        raise ConfigError(
            f"APPS_FILE: {where}.api_keys: every key must be at least "
            f"{MIN_API_KEY_LENGTH} characters"
        )
    try:
        policy = policy_from_tables(_table(table.get("policy", {}), f"{where}.policy"))
    except PolicyError as error:
        raise ConfigError(f"APPS_FILE: {where}.policy: {error}") from None
    limits = _table(table.get("rate_limits", {}), f"{where}.rate_limits")
    unknown = sorted(set(limits) - _LIMIT_KEYS)
    if unknown:
        raise ConfigError(f"APPS_FILE: {where}.rate_limits: unknown key {unknown[0]!r}")
    forward_url = table.get("forward_url")
    forward_secret = table.get("forward_secret")
    if forward_url is not None:
        if not isinstance(forward_url, str) or not forward_url.startswith(("http://", "https://")):
            raise ConfigError(f"APPS_FILE: {where}.forward_url: must be an http(s):// URL")
        if (problem := forward_secret_error(forward_secret)) is not None:
            raise ConfigError(
                f"APPS_FILE: {where}.forward_secret: {problem}; it is required with forward_url"
            )
    rate_where = f"{where}.rate_limits"
    return App(
        name=name,
        agora=platforms["agora"],
        livekit=platforms["livekit"],
        videosdk=platforms["videosdk"],
        policy=policy,
        api_keys=tuple(api_keys),
        caller_limit=_limit(limits, "caller", access.caller_limit, rate_where),
        address_limit=_limit(limits, "address", access.address_limit, rate_where),
        api_key_limit=_limit(limits, "api_key", access.api_key_limit, rate_where),
        forward_url=forward_url,
        forward_secret=forward_secret if forward_url is not None else None,
        jwt=login_rules,
    )


def parse_apps(text: str, environ: Mapping[str, str], access: AccessSettings) -> Apps:
    """The apps an APPS_FILE defines. `environ` gives their shared defaults (never their
    credentials); `access` their default rate limits."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"APPS_FILE: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"apps"})
    if unknown:
        raise ConfigError(f"APPS_FILE: [{unknown[0]}]: unknown table (expected [apps.<name>])")
    tables = _table(document.get("apps", {}), "apps")
    if not tables:
        raise ConfigError("APPS_FILE: defines no app ([apps.<name>] tables)")
    if len(tables) > MAX_APPS:
        raise ConfigError(f"APPS_FILE: at most {MAX_APPS} apps, got {len(tables)}")
    base = {name: value for name, value in environ.items() if name not in CREDENTIAL_VARIABLES}
    apps = []
    for name, table in tables.items():
        if not APP_NAME.fullmatch(name):
            raise ConfigError(
                f"APPS_FILE: apps.{name[:64]!r}: a name is 1-63 of a-z, 0-9, '_' and '-', "
                "starting with a letter or digit"
            )
        apps.append(_app(name, _table(table, f"apps.{name}"), base, access))
    return Apps.of(apps)


def load_apps(
    environ: Mapping[str, str], access: AccessSettings
) -> tuple[Apps, Callable[[], Apps]]:
    """The apps APPS_FILE defines, and how to read the file again (SIGHUP)."""
    env = Env(environ)
    path = env.text("APPS_FILE") or ""
    environ = dict(environ)

    def read() -> Apps:
        return parse_apps(env.file_text("APPS_FILE", path), environ, access)

    return read(), read


def with_app(apps: Apps, app: App) -> Apps:
    """`apps` with `app` added or replaced (tests and tools)."""
    return Apps.of([*(a for a in apps if a.name != app.name), app])
