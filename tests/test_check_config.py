"""`rtc-token-service check-config` reads the configuration exactly as `serve` does (every
file it names too), prints a summary that holds no secret and exits 0; a bad configuration
gets serve's one line and exit 2. Run in-process, with the environment replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from tests.helpers import APP_ID

# Every secret holds the sentinel, so any secret in the output shows up.
SENTINEL = "SENTINEL0123456789abcdef"
CERTIFICATE = "abcdef0123456789abcdef0123456789"  # hex, as a certificate must be


def _run(
    argv: list[str],
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    monkeypatch.setattr(os, "environ", dict(environ))
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _secrets_environ(tmp_path: Path) -> dict[str, str]:
    files = {
        "AGORA_NCS_SECRET": f"ncs-{SENTINEL}",
        "LIVEKIT_API_SECRET": f"livekit-{SENTINEL}-0123456789",
        "WEBHOOK_FORWARD_SECRET": f"forward-{SENTINEL}",
    }
    environ = {}
    for name, value in files.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        environ[f"{name}_FILE"] = str(path)
    policy = tmp_path / "policy.toml"
    policy.write_text('[agora]\nchannels = ["room-*"]\n')
    return {
        **environ,
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": CERTIFICATE,
        "LIVEKIT_API_KEY": "APIcheck",
        "VIDEOSDK_API_KEY": "videosdk-key",
        "VIDEOSDK_SECRET_KEY": f"videosdk-{SENTINEL}",
        "AUTH_MODE": "api-key",
        "API_KEYS": f"key-one-{SENTINEL},key-two-{SENTINEL}",
        "EVENTS_API_TOKEN": f"events-{SENTINEL}",
        "REDIS_URL": f"redis://:{SENTINEL}@redis.internal:6379/0",
        "WEBHOOK_FORWARD_URL": f"https://user:{SENTINEL}@hooks.example.com/in?token={SENTINEL}",
        "POLICY_FILE": str(policy),
        "WORKERS": "3",
    }


def test_a_good_configuration_is_summed_up_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["check-config"], _secrets_environ(tmp_path), monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert SENTINEL not in out and CERTIFICATE not in out
    assert out.splitlines()[0] == "rtc-token-service: configuration OK"
    for line in [
        "  listen:       0.0.0.0:6080, 3 workers",
        "  apps:         1 (from environment)",
        "    default: platforms agora, livekit, videosdk; 2 API keys; policy; "
        "forwards to hooks.example.com",
        "  AUTH_MODE:    api-key (2 service-wide API keys)",
        "  POLICY_FILE:  set",
        "  event store:  redis",
        "  forwarding:   hooks.example.com",
        "  events API:   on",
        "  secret files: AGORA_NCS_SECRET_FILE, LIVEKIT_API_SECRET_FILE, "
        "WEBHOOK_FORWARD_SECRET_FILE",
    ]:
        assert line in out.splitlines()


def test_json_is_the_same_summary_for_machines_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = _secrets_environ(tmp_path)
    code, out, _ = _run(["check-config", "--json"], environ, monkeypatch, capsys)
    assert code == 0
    assert SENTINEL not in out and CERTIFICATE not in out
    summary: dict[str, Any] = json.loads(out)
    assert summary["apps"] == [
        {
            "name": "default",
            "platforms": {"agora": True, "livekit": True, "videosdk": True},
            "api_keys": 2,
            "policy": True,
            "forward_host": "hooks.example.com",
            "own_login_rules": False,
        }
    ]
    assert (summary["auth_mode"], summary["api_keys"], summary["workers"]) == ("api-key", 2, 3)
    assert (summary["event_store"], summary["events_db_path"]) == ("redis", None)
    assert summary["secret_files"] == [
        "AGORA_NCS_SECRET_FILE",
        "LIVEKIT_API_SECRET_FILE",
        "WEBHOOK_FORWARD_SECRET_FILE",
    ]


def test_apps_file_apps_are_listed_with_their_platforms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text(
        f'[apps.alpha]\napi_keys = ["alpha-key-{SENTINEL}"]\n'
        f'[apps.alpha.agora]\napp_id = "{APP_ID}"\napp_certificate = "{CERTIFICATE}"\n'
        f'[apps.beta.livekit]\napi_key = "APIbeta"\napi_secret = "b-{SENTINEL}"\n'
    )
    environ = {"APPS_FILE": str(apps), "AUTH_MODE": "api-key"}
    code, out, _ = _run(["check-config", "--json"], environ, monkeypatch, capsys)
    assert code == 0 and SENTINEL not in out and CERTIFICATE not in out
    summary = json.loads(out)
    assert summary["apps_source"] == "APPS_FILE"
    assert [(a["name"], a["platforms"], a["api_keys"]) for a in summary["apps"]] == [
        ("alpha", {"agora": True, "livekit": False, "videosdk": False}, 1),
        ("beta", {"agora": False, "livekit": True, "videosdk": False}, 0),
    ]
    warnings = " ".join(summary["warnings"])
    assert "1 LiveKit API secret(s) shorter than 32 characters" in warnings


def test_dev_fills_credentials_as_serve_does_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["check-config", "--dev"], {}, monkeypatch, capsys)
    assert code == 0
    assert "rtc-token-service: configuration OK (--dev)" in out
    assert "listen:       127.0.0.1:6080, 1 worker" in out
    assert "warning: development values in use" in out


def test_auth_mode_none_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["check-config"], {}, monkeypatch, capsys)
    assert code == 0
    assert "default: platforms none; 0 API keys; no policy" in out
    assert "warning: AUTH_MODE=none" in out


def test_a_bad_configuration_gets_serves_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": f"{SENTINEL}-not-hex",
        "SERVER_PORT": "8080",
    }
    code, out, err = _run(["check-config"], environ, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == (
        "rtc-token-service: configuration error: AGORA_APP_CERTIFICATE: must be 32 "
        "hexadecimal characters\n"
    )
    # serve stops on the same line, before it binds anything.
    assert _run(["serve"], environ, monkeypatch, capsys) == (2, "", err)


@pytest.mark.parametrize(
    "variable", ["POLICY_FILE", "LIVEKIT_KEY_FILE", "APPS_FILE", "VIDEOSDK_WEBHOOK_PUBLIC_KEY"]
)
def test_every_file_named_is_read(
    variable: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = str(tmp_path / "missing")
    code, out, err = _run(["check-config"], {variable: missing}, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"rtc-token-service: configuration error: {variable}: cannot read ")
    assert missing in err and err.count("\n") == 1


def test_a_secret_file_that_cannot_be_read_is_reported_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"EVENTS_API_TOKEN": SENTINEL, "EVENTS_API_TOKEN_FILE": str(tmp_path / "token")}
    code, out, err = _run(["check-config", "--json"], environ, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == (
        "rtc-token-service: configuration error: EVENTS_API_TOKEN_FILE: set together with "
        "EVENTS_API_TOKEN; set one of them\n"
    )


def test_command_line_values_are_checked_as_serve_checks_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["check-config", "--port", "70000"], {}, monkeypatch, capsys)
    assert code == 2
    assert err == (
        "rtc-token-service: configuration error: --port: must be between 0 and 65535, got 70000\n"
    )
