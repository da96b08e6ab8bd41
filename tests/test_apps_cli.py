"""The command line knows about apps: `agora-token --app-name`, `inspect --app-name` and
`loadtest --app`."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.agora import accesstoken2
from service.cli import main
from service.loadtest import LoadConfig, LoadTestRefused, _call, check_target

APPS_FILE = """
[apps.alpha.agora]
app_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
app_certificate = "11111111111111111111111111111111"

[apps.beta.agora]
app_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
app_certificate = "22222222222222222222222222222222"
"""


@pytest.fixture
def apps_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "apps.toml"
    path.write_text(APPS_FILE)
    for name in ("AGORA_APP_ID", "AGORA_APP_CERTIFICATE", "APP_ID", "APP_CERTIFICATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APPS_FILE", str(path))
    return path


@pytest.mark.parametrize(("name", "digit"), [("alpha", "1"), ("beta", "2")])
def test_agora_token_signs_with_the_named_apps_credentials(
    apps_file: Path, capsys: pytest.CaptureFixture[str], name: str, digit: str
) -> None:
    assert main(["agora-token", "--app-name", name, "rtc", "--channel", "c", "--uid", "7"]) == 0
    token = capsys.readouterr().out.strip()
    parsed = accesstoken2.parse_token(token)
    assert parsed.verify_signature(digit * 32)
    assert not parsed.verify_signature(("2" if digit == "1" else "1") * 32)


def test_an_unknown_app_name_is_a_one_line_error(
    apps_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agora-token", "--app-name", "gamma", "rtm", "--user-id", "u"]) == 2
    assert "--app-name: no such app 'gamma'" in capsys.readouterr().err


def test_inspect_checks_with_the_named_apps_certificate(
    apps_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["agora-token", "--app-name", "beta", "rtm", "--user-id", "u"])
    token = capsys.readouterr().out.strip()
    assert main(["inspect", token, "--app-name", "beta"]) == 0
    assert main(["inspect", token, "--app-name", "alpha"]) == 1


def test_loadtest_sends_every_request_under_the_apps_prefix() -> None:
    config = LoadConfig(url="http://127.0.0.1:6080/", app="beta")
    assert _call(config, 0).url == "http://127.0.0.1:6080/apps/beta/v1/agora/rtc-token"
    with pytest.raises(LoadTestRefused):
        check_target(LoadConfig(app="../admin"))
