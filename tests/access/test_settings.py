"""AUTH_MODE, keys, JWT rules, the policy file and rate limits from the environment;
a service started without authentication outside --dev says so loudly."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from service.config import ConfigError, load_settings
from tests.helpers import environ_without_settings, running_service

KEY = "mobile-app-key-0123456789"


def test_the_default_is_no_authentication_with_default_limits() -> None:
    access = load_settings({}).access
    assert (access.mode, access.api_keys, access.jwt) == ("none", (), None)
    assert access.address_limit is not None and access.caller_limit is not None


def test_api_keys_are_a_comma_list_and_never_shown() -> None:
    settings = load_settings(
        {"AUTH_MODE": "api-key", "API_KEYS": f"{KEY}, other-app-key-0123456789"}
    )
    assert settings.access.api_keys == (KEY, "other-app-key-0123456789")
    assert KEY not in repr(settings)


def test_jwt_rules_with_a_jwks_url() -> None:
    environ = {
        "AUTH_MODE": "jwt",
        "AUTH_JWKS_URL": "https://login.example.com/.well-known/jwks.json",
        "AUTH_JWT_ISSUER": "https://login.example.com/",
        "AUTH_JWT_AUDIENCE": "rtc",
        "AUTH_JWT_IDENTITY_CLAIM": "user_id",
    }
    rules = load_settings(environ).access.jwt
    assert rules is not None
    assert (rules.jwks_url, rules.identity_claim, rules.secret) == (
        environ["AUTH_JWKS_URL"],
        "user_id",
        None,
    )


def test_rate_limits_are_configurable_and_zero_turns_one_off() -> None:
    access = load_settings(
        {
            "RATE_LIMIT_ADDRESS_RATE": "0",
            "RATE_LIMIT_CALLER_RATE": "1",
            "RATE_LIMIT_CALLER_BURST": "5",
        }
    ).access
    assert access.address_limit is None
    assert access.caller_limit is not None and (
        access.caller_limit.rate,
        access.caller_limit.burst,
    ) == (1.0, 5)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"AUTH_MODE": "password"}, "AUTH_MODE"),
        ({"AUTH_MODE": "api-key"}, "API_KEYS"),
        ({"AUTH_MODE": "api-key", "API_KEYS": "short"}, "API_KEYS"),
        ({"AUTH_MODE": "jwt", "AUTH_JWT_ISSUER": "i", "AUTH_JWT_AUDIENCE": "a"}, "AUTH_JWT_SECRET"),
        (
            {"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": "s" * 32, "AUTH_JWT_AUDIENCE": "a"},
            "AUTH_JWT_ISSUER",
        ),
        (
            {"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": "s" * 32, "AUTH_JWT_ISSUER": "i"},
            "AUTH_JWT_AUDIENCE",
        ),
        (
            {
                "AUTH_MODE": "jwt",
                "AUTH_JWT_SECRET": "short",
                "AUTH_JWT_ISSUER": "i",
                "AUTH_JWT_AUDIENCE": "a",
            },
            "AUTH_JWT_SECRET",
        ),
        (
            {
                "AUTH_MODE": "jwt",
                "AUTH_JWKS_URL": "ftp://x",
                "AUTH_JWT_ISSUER": "i",
                "AUTH_JWT_AUDIENCE": "a",
            },
            "AUTH_JWKS_URL",
        ),
        ({"POLICY_FILE": "/nonexistent/policy.toml"}, "POLICY_FILE"),
        ({"RATE_LIMIT_ADDRESS_RATE": "fast"}, "RATE_LIMIT_ADDRESS_RATE"),
    ],
)
def test_a_bad_access_setting_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert str(raised.value).startswith(f"{variable}:")
    assert KEY not in str(raised.value)


@pytest.mark.slow
def test_a_bad_policy_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[agora]\nroles = ['admin']\n")
    done = subprocess.run(
        [sys.executable, "-m", "service", "--dev", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ_without_settings(POLICY_FILE=str(policy)),
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"rtc-token-service: configuration error: POLICY_FILE: {policy}: "
        "[agora] roles: must be among publisher, subscriber"
    )


@pytest.mark.slow
def test_no_authentication_outside_dev_is_a_loud_warning(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    # --dev is given by running_service; SERVER_HOST keeps it on loopback either way.
    with running_service(log_path=log):
        pass
    assert "SECURITY" not in log.read_text()  # --dev: no warning
    done = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ_without_settings(EVENTS_DB_PATH=str(tmp_path / "events.sqlite3")),
    )
    try:
        assert done.stdout is not None
        first_lines = [done.stdout.readline() for _ in range(2)]
    finally:
        done.terminate()
        done.wait(timeout=30)
    assert any("SECURITY: AUTH_MODE=none" in line for line in first_lines), first_lines


@pytest.mark.slow
def test_a_live_service_logs_no_key_and_no_token(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    with running_service(log_path=log, AUTH_MODE="api-key", API_KEYS=KEY) as (port, _):
        issued = []
        for key in (KEY, "guessed-key-0123456789"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/agora/rtc-token",
                data=json.dumps({"channel": "demo", "uid": 1, "role": "publisher"}).encode(),
                method="POST",
                headers={"X-API-Key": key},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                    issued.append(json.loads(response.read())["token"])
            except urllib.error.HTTPError as refused:
                assert refused.code == 401
    text = log.read_text()
    assert issued and "request" in text
    for secret in (KEY, "guessed-key-0123456789", *issued):
        assert secret not in text and secret[:24] not in text
