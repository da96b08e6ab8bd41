"""Every secret variable NAME has a twin NAME_FILE naming a file that holds the value (Docker
and Kubernetes secrets): the file's text without its one trailing newline. Giving both, or a
file that cannot be read, stops start-up with one line that never shows the content."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.agora import accesstoken2
from service.cli import main
from service.config import ConfigError, Settings, load_settings
from service.env import FILE_SUFFIX, SECRET_VARIABLES, Env
from tests.helpers import APP_ID, CERTIFICATE

JWT = {"AUTH_MODE": "jwt", "AUTH_JWT_ISSUER": "https://login.example", "AUTH_JWT_AUDIENCE": "rtc"}

# Each secret variable: the other variables it needs, a value, and where the settings hold it.
CASES: dict[str, tuple[dict[str, str], str, Callable[[Settings], Any]]] = {
    "AGORA_APP_CERTIFICATE": (
        {"AGORA_APP_ID": APP_ID},
        CERTIFICATE,
        lambda s: s.agora.credentials and s.agora.credentials.certificate,
    ),
    "AGORA_NCS_SECRET": ({}, "ncs-secret-from-a-file", lambda s: s.agora.ncs_secret),
    "LIVEKIT_API_SECRET": (
        {"LIVEKIT_API_KEY": "APIfile"},
        "livekit-secret-from-a-file-0123456789",
        lambda s: s.livekit.keys["APIfile"],
    ),
    "LIVEKIT_KEYS": (
        {},
        "APIone: livekit-secret-one-0123456789abcdef\nAPItwo: livekit-secret-two-0123456789abcdef",
        lambda s: "\n".join(f"{k}: {v}" for k, v in s.livekit.keys.items()),
    ),
    "VIDEOSDK_SECRET_KEY": (
        {"VIDEOSDK_API_KEY": "videosdk-key"},
        "videosdk-secret-from-a-file",
        lambda s: s.videosdk.secret,
    ),
    "VIDEOSDK_SECRET": (
        {"VIDEOSDK_API_KEY": "videosdk-key"},
        "videosdk-alias-secret-from-a-file",
        lambda s: s.videosdk.secret,
    ),
    "API_KEYS": (
        {"AUTH_MODE": "api-key"},
        "api-key-one-0123456789,api-key-two-0123456789",
        lambda s: ",".join(s.access.api_keys),
    ),
    "AUTH_JWT_SECRET": (
        JWT,
        "jwt-secret-from-a-file-0123456789abc",
        lambda s: s.access.jwt and s.access.jwt.secret,
    ),
    "WEBHOOK_FORWARD_SECRET": (
        {"WEBHOOK_FORWARD_URL": "https://hooks.example.com/events"},
        "forward-secret-from-a-file",
        lambda s: s.events.forward_secret,
    ),
    "EVENTS_API_TOKEN": ({}, "events-api-token-from-a-file", lambda s: s.events.api_token),
    "REDIS_URL": (
        {},
        "redis://:pass-from-a-file@redis.internal:6379/0",
        lambda s: s.events.redis_url,
    ),
}


def _file(tmp_path: Path, content: str | bytes, name: str = "secret") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def test_every_secret_variable_has_a_case_here() -> None:
    """A secret added to SECRET_VARIABLES without a case below fails here; one missing from
    SECRET_VARIABLES has no twin, and its case below fails."""
    assert set(CASES) == SECRET_VARIABLES


@pytest.mark.parametrize("name", sorted(SECRET_VARIABLES))
def test_every_secret_variable_reads_its_file_twin(name: str, tmp_path: Path) -> None:
    env = Env({name + FILE_SUFFIX: _file(tmp_path, "the-value\n")})
    assert env.text(name) == "the-value"
    assert env.source(name) == name + FILE_SUFFIX


@pytest.mark.parametrize("newline", ["\n", "\r\n", ""])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_file_twin_reaches_the_settings(name: str, newline: str, tmp_path: Path) -> None:
    others, value, read_back = CASES[name]
    from_file = load_settings({**others, name + "_FILE": _file(tmp_path, value + newline)})
    assert read_back(from_file) == value
    # Exactly what the variable itself gives.
    assert read_back(load_settings({**others, name: value})) == value


def test_only_one_trailing_newline_is_ignored(tmp_path: Path) -> None:
    path = _file(tmp_path, "forward-secret-from-a-file\n\n")
    with pytest.raises(ConfigError) as error:
        load_settings({"WEBHOOK_FORWARD_SECRET_FILE": path})
    assert str(error.value) == (
        f"WEBHOOK_FORWARD_SECRET_FILE: {path} has white space around the value "
        "(only one trailing newline is ignored)"
    )


@pytest.mark.parametrize("content", [" padded-secret-value", "padded-secret-value \n", "a\tb\t"])
def test_white_space_around_the_value_is_refused(content: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has white space around the value") as error:
        load_settings({"EVENTS_API_TOKEN_FILE": _file(tmp_path, content)})
    assert "padded" not in str(error.value)


@pytest.mark.parametrize("content", ["", "\n", "\r\n", "  \n"])
def test_an_empty_file_is_an_error_not_an_unset_secret(content: str, tmp_path: Path) -> None:
    path = _file(tmp_path, content)
    with pytest.raises(ConfigError) as error:
        load_settings({"AGORA_NCS_SECRET_FILE": path})
    assert str(error.value) == f"AGORA_NCS_SECRET_FILE: {path} is empty"


def test_setting_both_the_variable_and_its_file_is_one_line_naming_both(tmp_path: Path) -> None:
    environ = {
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": CERTIFICATE,
        "AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE),
    }
    with pytest.raises(ConfigError) as error:
        load_settings(environ)
    assert str(error.value) == (
        "AGORA_APP_CERTIFICATE_FILE: set together with AGORA_APP_CERTIFICATE; set one of them"
    )


def test_a_missing_file_names_the_variable_and_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError) as error:
        load_settings({"AUTH_JWT_SECRET_FILE": path, **JWT})
    assert (
        str(error.value) == f"AUTH_JWT_SECRET_FILE: cannot read {path}: No such file or directory"
    )


def test_a_directory_is_not_a_secret_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^REDIS_URL_FILE: cannot read .*: Is a directory$"):
        load_settings({"REDIS_URL_FILE": str(tmp_path)})


def test_a_file_that_is_not_utf8_is_refused_without_a_byte_of_it(tmp_path: Path) -> None:
    path = _file(tmp_path, b"secret\xff\xfe-sentinel")
    with pytest.raises(ConfigError) as error:
        load_settings({"EVENTS_API_TOKEN_FILE": path})
    assert str(error.value) == f"EVENTS_API_TOKEN_FILE: {path} is not UTF-8 text"


def test_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    path = _file(tmp_path, "x" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match=r"is larger than 1048576 bytes$"):
        load_settings({"EVENTS_API_TOKEN_FILE": path})


def test_a_wrong_secret_from_a_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    wrong = "not-a-certificate-sentinel"
    environ = {"AGORA_APP_ID": APP_ID, "AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, wrong)}
    with pytest.raises(ConfigError) as error:
        load_settings(environ)
    assert wrong not in str(error.value)


def test_a_file_named_is_checked_even_when_this_configuration_does_not_use_it(
    tmp_path: Path,
) -> None:
    # AUTH_MODE=none reads no API key; a broken API_KEYS_FILE still stops start-up.
    with pytest.raises(ConfigError, match=r"^API_KEYS_FILE: cannot read "):
        load_settings({"API_KEYS_FILE": str(tmp_path / "nowhere")})


# --- The community aliases ------------------------------------------------------------------


def test_app_id_alias_works_with_the_certificate_file(tmp_path: Path) -> None:
    environ = {"APP_ID": APP_ID, "AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE)}
    credentials = load_settings(environ).agora.credentials
    assert credentials is not None
    assert (credentials.app_id, credentials.certificate) == (APP_ID, CERTIFICATE)


def test_the_certificate_file_wins_over_the_alias_as_the_variable_does(tmp_path: Path) -> None:
    environ = {
        "AGORA_APP_ID": APP_ID,
        "APP_CERTIFICATE": "0" * 32,
        "AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE),
    }
    credentials = load_settings(environ).agora.credentials
    assert credentials is not None and credentials.certificate == CERTIFICATE


def test_app_certificate_file_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    environ = {"APP_ID": APP_ID, "APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE)}
    with pytest.raises(ConfigError) as error:
        load_settings(environ)
    assert str(error.value) == (
        "APP_CERTIFICATE_FILE: is not read; set AGORA_APP_CERTIFICATE_FILE instead"
    )


# --- APPS_FILE ---------------------------------------------------------------------------------

APPS = f"""
[apps.alpha.agora]
app_id = "{APP_ID}"
app_certificate = "{CERTIFICATE}"

[apps.beta.auth]
jwks_url = "https://login.example/jwks.json"
"""


def test_a_credential_file_twin_is_refused_with_apps_file(tmp_path: Path) -> None:
    environ = {
        "APPS_FILE": _file(tmp_path, APPS, "apps.toml"),
        "AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE),
    }
    with pytest.raises(ConfigError, match=r"^AGORA_APP_CERTIFICATE_FILE: set while APPS_FILE"):
        load_settings(environ)


def test_apps_inherit_the_login_secret_from_its_file_and_may_replace_it(tmp_path: Path) -> None:
    secret = "service-jwt-secret-from-a-file-0123"
    environ = {
        **JWT,
        "APPS_FILE": _file(tmp_path, APPS, "apps.toml"),
        "AUTH_JWT_SECRET_FILE": _file(tmp_path, secret + "\n"),
    }
    settings = load_settings(environ)
    assert settings.access.jwt is not None and settings.access.jwt.secret == secret
    beta = settings.apps().get("beta")
    assert beta is not None and beta.jwt is not None
    # beta's own JWKS replaces the service's secret, as when AUTH_JWT_SECRET is set.
    assert (beta.jwt.secret, beta.jwt.jwks_url) == (None, "https://login.example/jwks.json")


# --- Other commands ----------------------------------------------------------------------------


def test_inspect_checks_the_signature_with_the_certificate_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = accesstoken2.build_token(
        APP_ID,
        CERTIFICATE,
        issue_ts=1_700_000_000,
        expire=600,
        salt=1,
        services=[accesstoken2.rtc_service("demo", "", {1: 600})],
    )
    monkeypatch.setattr(
        os, "environ", {"AGORA_APP_CERTIFICATE_FILE": _file(tmp_path, CERTIFICATE + "\n")}
    )
    assert main(["inspect", token]) == 0
    assert '"signature": "valid"' in capsys.readouterr().out
