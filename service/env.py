"""Reading the environment: typed, bounded values, each failure one line naming the
variable (never echoing a secret). Each settings module reads its own variables with it;
service/config.py composes them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# The community Agora token servers' variable names, so their deployments keep working.
ALIASES = {
    "AGORA_APP_ID": "APP_ID",
    "AGORA_APP_CERTIFICATE": "APP_CERTIFICATE",
    "CORS_ALLOW_ORIGINS": "CORS_ALLOW_ORIGIN",
    "SERVER_PORT": "PORT",
}


class ConfigError(Exception):
    """One configuration value is wrong; str() is a one-line message for the operator."""


class Env:
    """The environment at start-up, read once."""

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

    def file_text(self, name: str, path: str) -> str:
        """The text of the file a variable names."""
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{name}: cannot read {path}: {reason}") from None
