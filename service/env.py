"""Reading the environment: typed, bounded values, each failure one line naming the
variable (never echoing a secret). Each settings module reads its own variables with it;
service/config.py composes them.

Every secret variable NAME (SECRET_VARIABLES) has a twin, NAME_FILE, naming a file that
holds the value instead (Docker and Kubernetes secrets): `text(NAME)` reads it, so every
settings module honours the twin without knowing of it."""

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

# Variables that hold a secret (a password, or a credential that signs or authenticates).
# Each may be given instead as NAME_FILE, the path of a file holding the value.
SECRET_VARIABLES = frozenset(
    {
        "AGORA_APP_CERTIFICATE",
        "AGORA_NCS_SECRET",
        "LIVEKIT_API_SECRET",
        "LIVEKIT_KEYS",
        "VIDEOSDK_SECRET_KEY",
        "VIDEOSDK_SECRET",
        "API_KEYS",
        "AUTH_JWT_SECRET",
        "WEBHOOK_FORWARD_SECRET",
        "EVENTS_API_TOKEN",
        "REDIS_URL",
    }
)
FILE_SUFFIX = "_FILE"
# Twins no version of the service reads, refused rather than silently ignored: the
# community servers have no APP_CERTIFICATE_FILE, so AGORA_APP_CERTIFICATE_FILE is the one.
_REFUSED_TWINS = {"AGORA_APP_CERTIFICATE": "APP_CERTIFICATE_FILE"}
# A secret file is small; a bigger one is a wrong path (a log, a device), not read whole.
MAX_SECRET_FILE_BYTES = 1024 * 1024


class ConfigError(Exception):
    """One configuration value is wrong; str() is a one-line message for the operator."""


class Env:
    """The environment at start-up, read once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._secrets: dict[str, str | None] = {}
        for name, alias in ALIASES.items():
            # An alias stands in only when neither the variable nor its _FILE twin is set.
            if (
                self._raw(name) is None
                and (name not in SECRET_VARIABLES or self._raw(name + FILE_SUFFIX) is None)
                and self._raw(alias) is not None
            ):
                self._environ[name] = self._environ[alias]

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str) -> str | None:
        if name in SECRET_VARIABLES:
            if name not in self._secrets:
                self._secrets[name] = self._secret(name)
            return self._secrets[name]
        return self._raw(name)

    def source(self, name: str) -> str | None:
        """The variable a value is given by: NAME, its twin NAME_FILE, or None when unset.
        Nothing is read; a value given twice is the caller's error to find with text()."""
        if name in SECRET_VARIABLES and self._raw(name + FILE_SUFFIX) is not None:
            return name + FILE_SUFFIX
        return name if self._raw(name) is not None else None

    def resolved(self) -> dict[str, str]:
        """The environment with every secret's file read in: NAME holds the value, NAME_FILE
        is gone. For code that builds Env objects of its own from a dict (APPS_FILE)."""
        environ = {k: v for k, v in self._environ.items() if k not in _twins()}
        for name in SECRET_VARIABLES:
            value = self.text(name)
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        return environ

    def _secret(self, name: str) -> str | None:
        twin = name + FILE_SUFFIX
        refused = _REFUSED_TWINS.get(name)
        if refused is not None and self._raw(refused) is not None:
            raise ConfigError(f"{refused}: is not read; set {twin} instead")
        path = self._raw(twin)
        if path is None:
            return self._raw(name)
        if self._raw(name) is not None:
            raise ConfigError(f"{twin}: set together with {name}; set one of them")
        return read_secret_file(twin, path)

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


def _twins() -> frozenset[str]:
    return frozenset(name + FILE_SUFFIX for name in SECRET_VARIABLES)


def read_secret_file(variable: str, path: str) -> str:
    """The secret a file holds, without its one trailing newline (\n or \r\n). The file must
    be UTF-8, not empty, with no other white space around the value. Errors name `variable`
    and the path, never the content, not even a byte of it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror or 'error'}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(f"{variable}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {path} is not UTF-8 text") from None
    value = value.removesuffix("\n").removesuffix("\r") if value.endswith("\n") else value
    if not value.strip():
        raise ConfigError(f"{variable}: {path} is empty")
    if value != value.strip():
        raise ConfigError(
            f"{variable}: {path} has white space around the value (only one trailing "
            "newline is ignored)"
        )
    return value
