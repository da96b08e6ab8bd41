"""LiveKit's settings: API keys (several, for rotation; all verify webhooks), the key that
signs tokens, the server's URL, token lifetimes and the admin switch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from service.env import ConfigError, Env

# LiveKit's own development pair (`livekit-server --dev`), and where that server listens.
DEV_LIVEKIT_API_KEY = "devkey"
DEV_LIVEKIT_API_SECRET = "secret"  # noqa: S105 - public by design, dev only
DEV_LIVEKIT_URL = "ws://localhost:7880"
LIVEKIT_MIN_SECRET_LENGTH = 32  # LiveKit server warns below this; .NET refuses
# A token must outlive the SDK's 60 s refresh margin; the longest a token may be asked for.
MIN_TTL_SECONDS = 61
LONGEST_TTL_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class LiveKitSettings:
    # API key -> secret. All are accepted on webhooks (chosen by the token's iss), so a
    # key can be rotated with no downtime; `signing_key` signs the tokens we mint.
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    signing_key: str | None = None
    url: str | None = None
    token_ttl: int = 6 * 3600  # as every LiveKit SDK and OpenVidu's tutorials
    max_token_ttl: int = 86_400
    allow_admin_grants: bool = False

    @property
    def enabled(self) -> bool:
        return self.signing_key is not None

    @property
    def short_secret_keys(self) -> tuple[str, ...]:
        return tuple(k for k, s in self.keys.items() if len(s) < LIVEKIT_MIN_SECRET_LENGTH)


_DEFAULTS = LiveKitSettings()
_KEY_LINE = re.compile(r"""\s*["']?([^\s:"']+)["']?:\s+["']?([^\s"']+)["']?\s*""")


def parse_keys(text: str, source: str) -> dict[str, str]:
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


def _keys(env: Env, dev: bool, made_up: list[str]) -> tuple[dict[str, str], str | None]:
    keys: dict[str, str] = {}
    key_file = env.text("LIVEKIT_KEY_FILE")
    if key_file is not None:
        try:
            with open(key_file, encoding="utf-8") as handle:
                keys = parse_keys(handle.read(), "LIVEKIT_KEY_FILE")
        except OSError as exc:
            raise ConfigError(f"LIVEKIT_KEY_FILE: cannot read {key_file}: {exc.strerror}") from None
    elif (listed := env.text("LIVEKIT_KEYS")) is not None:
        keys = parse_keys(listed, "LIVEKIT_KEYS")
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


def load_livekit_settings(env: Env, dev: bool, made_up: list[str]) -> LiveKitSettings:
    keys, signing_key = _keys(env, dev, made_up)
    url = env.text("LIVEKIT_URL")
    if url is None and dev:
        url = DEV_LIVEKIT_URL
        made_up.append("LIVEKIT_URL")
    if url is not None and not url.startswith(("ws://", "wss://", "http://", "https://")):
        raise ConfigError(f"LIVEKIT_URL: must be a ws://, wss:// or https:// address, got {url!r}")
    max_ttl = env.integer(
        "LIVEKIT_TOKEN_MAX_TTL",
        _DEFAULTS.max_token_ttl,
        minimum=MIN_TTL_SECONDS,
        maximum=LONGEST_TTL_SECONDS,
    )
    ttl = env.integer(
        "LIVEKIT_TOKEN_TTL",
        min(_DEFAULTS.token_ttl, max_ttl),
        minimum=MIN_TTL_SECONDS,
        maximum=max_ttl,
    )
    return LiveKitSettings(
        keys=keys,
        signing_key=signing_key,
        url=url,
        token_ttl=ttl,
        max_token_ttl=max_ttl,
        allow_admin_grants=env.flag("LIVEKIT_ALLOW_ADMIN_GRANTS", _DEFAULTS.allow_admin_grants),
    )
