"""Settings come from the environment once, and a bad value stops start-up clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.agora.settings import DEV_AGORA_APP_CERTIFICATE, DEV_AGORA_APP_ID
from service.config import ConfigError, load_settings
from tests.helpers import APP_ID, CERTIFICATE

CREDENTIALS = {"AGORA_APP_ID": APP_ID, "AGORA_APP_CERTIFICATE": CERTIFICATE}


def test_defaults_listen_on_6080_with_json_logs_and_agora_disabled() -> None:
    settings = load_settings({})
    assert (settings.host, settings.port, settings.log_format) == ("0.0.0.0", 6080, "json")
    assert settings.cors_allow_origins == ("*",)
    assert settings.max_body_bytes == 16 * 1024
    assert settings.agora.credentials is None
    assert (settings.agora.token_expire, settings.agora.max_token_expire) == (3600, 86400)
    assert settings.agora.token_version == "007"


def test_credentials_are_used_exactly_as_given() -> None:
    credentials = load_settings(CREDENTIALS).agora.credentials
    assert credentials is not None
    assert (credentials.app_id, credentials.certificate) == (APP_ID, CERTIFICATE)


def test_the_certificate_never_appears_in_the_settings_repr() -> None:
    assert CERTIFICATE not in repr(load_settings(CREDENTIALS))


def test_dev_binds_loopback_and_fills_missing_credentials_saying_which() -> None:
    settings = load_settings({}, dev=True)
    assert settings.host == "127.0.0.1"
    assert settings.log_format == "console"
    assert settings.agora.credentials is not None
    assert settings.agora.credentials.app_id == DEV_AGORA_APP_ID
    assert settings.agora.credentials.certificate == DEV_AGORA_APP_CERTIFICATE
    assert settings.made_up == (
        "AGORA_APP_ID",
        "AGORA_APP_CERTIFICATE",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "LIVEKIT_URL",
        "VIDEOSDK_API_KEY",
        "VIDEOSDK_SECRET_KEY",
    )


def test_dev_keeps_credentials_that_are_set() -> None:
    settings = load_settings(CREDENTIALS, dev=True)
    assert "AGORA_APP_ID" not in settings.made_up
    assert settings.agora.credentials is not None
    assert settings.agora.credentials.app_id == APP_ID


def test_command_line_host_and_port_win_over_the_environment() -> None:
    settings = load_settings(
        {"SERVER_PORT": "7000", "SERVER_HOST": "10.0.0.1"}, host="::1", port=7001
    )
    assert (settings.host, settings.port) == ("::1", 7001)


def test_dev_binds_loopback_even_when_server_host_says_otherwise() -> None:
    assert load_settings({"SERVER_HOST": "0.0.0.0"}, dev=True).host == "127.0.0.1"
    assert load_settings({"SERVER_HOST": "10.0.0.1"}).host == "10.0.0.1"


def test_dev_binds_another_address_only_when_the_command_line_says_so() -> None:
    settings = load_settings({"SERVER_HOST": "10.0.0.1"}, dev=True, host="0.0.0.0")
    assert settings.host == "0.0.0.0"


def test_server_port_from_the_environment() -> None:
    assert load_settings({"SERVER_PORT": "7000"}).port == 7000


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SERVER_PORT": "http"}, "SERVER_PORT"),
        ({"SERVER_PORT": "70000"}, "SERVER_PORT"),
        ({"AGORA_APP_ID": APP_ID}, "AGORA_APP_CERTIFICATE"),
        ({"AGORA_APP_CERTIFICATE": CERTIFICATE}, "AGORA_APP_ID"),
        ({**CREDENTIALS, "AGORA_APP_ID": "not-hex"}, "AGORA_APP_ID"),
        ({**CREDENTIALS, "AGORA_APP_CERTIFICATE": CERTIFICATE[:-1] + "g"}, "AGORA_APP_CERTIFICATE"),
        ({"AGORA_TOKEN_EXPIRE": "30"}, "AGORA_TOKEN_EXPIRE"),
        ({"AGORA_TOKEN_EXPIRE": "soon"}, "AGORA_TOKEN_EXPIRE"),
        ({"AGORA_TOKEN_MAX_EXPIRE": "86401"}, "AGORA_TOKEN_MAX_EXPIRE"),
        ({"AGORA_TOKEN_EXPIRE": "7200", "AGORA_TOKEN_MAX_EXPIRE": "3600"}, "AGORA_TOKEN_EXPIRE"),
        ({"AGORA_TOKEN_VERSION": "005"}, "AGORA_TOKEN_VERSION"),
        ({"AGORA_ALLOW_WILDCARD_CHANNEL": "maybe"}, "AGORA_ALLOW_WILDCARD_CHANNEL"),
        ({"CORS_ALLOW_ORIGINS": "*,https://a.example"}, "CORS_ALLOW_ORIGINS"),
        ({"CORS_ALLOW_ORIGINS": "a.example"}, "CORS_ALLOW_ORIGINS"),
        ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"SHUTDOWN_TIMEOUT": "-1"}, "SHUTDOWN_TIMEOUT"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_a_bad_certificate_is_never_echoed() -> None:
    bad = "S3CRETS3CRETS3CRETS3CRETS3CRETxx"
    with pytest.raises(ConfigError) as raised:
        load_settings({"AGORA_APP_ID": APP_ID, "AGORA_APP_CERTIFICATE": bad})
    assert "S3CRET" not in str(raised.value)


def test_max_expiry_lowers_the_default_expiry() -> None:
    assert load_settings({"AGORA_TOKEN_MAX_EXPIRE": "600"}).agora.token_expire == 600


def test_a_short_expiry_like_the_go_samples_40_seconds_is_accepted() -> None:
    assert load_settings({"AGORA_TOKEN_EXPIRE": "40"}).agora.token_expire == 40


def test_allowed_origins_are_a_comma_list() -> None:
    settings = load_settings({"CORS_ALLOW_ORIGINS": "https://a.example, http://localhost:3000"})
    assert settings.cors_allow_origins == ("https://a.example", "http://localhost:3000")


def test_legacy_tokens_are_chosen_by_agora_token_version() -> None:
    assert load_settings({"AGORA_TOKEN_VERSION": "006"}).agora.token_version == "006"


# --- LiveKit ---


def test_livekit_is_disabled_without_keys() -> None:
    livekit = load_settings({}).livekit
    assert not livekit.enabled
    assert livekit.token_ttl == 6 * 3600


def test_livekit_api_key_and_secret() -> None:
    livekit = load_settings({"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}).livekit
    assert (livekit.signing_key, dict(livekit.keys)) == ("devkey", {"devkey": "secret"})


def test_livekit_keys_as_livekit_server_reads_them() -> None:
    livekit = load_settings({"LIVEKIT_KEYS": "APIold: s3cret-old\nAPInew: s3cret-new"}).livekit
    assert dict(livekit.keys) == {"APIold": "s3cret-old", "APInew": "s3cret-new"}
    assert livekit.signing_key == "APIold"


def test_livekit_keys_as_a_yaml_flow_map() -> None:
    livekit = load_settings({"LIVEKIT_KEYS": "{k1: s1, k2: 's2'}"}).livekit
    assert dict(livekit.keys) == {"k1": "s1", "k2": "s2"}


def test_livekit_api_key_picks_the_signing_key_among_several() -> None:
    environ = {"LIVEKIT_KEYS": "k1: s1\nk2: s2", "LIVEKIT_API_KEY": "k2"}
    assert load_settings(environ).livekit.signing_key == "k2"


def test_livekit_api_key_and_secret_are_added_to_the_list() -> None:
    environ = {"LIVEKIT_KEYS": "k1: s1", "LIVEKIT_API_KEY": "k2", "LIVEKIT_API_SECRET": "s2"}
    livekit = load_settings(environ).livekit
    assert dict(livekit.keys) == {"k1": "s1", "k2": "s2"}
    assert livekit.signing_key == "k2"


def test_livekit_key_file_replaces_livekit_keys(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.yaml"
    key_file.write_text("# rotated 2026-11\nfilekey: filesecret\n")
    environ = {"LIVEKIT_KEY_FILE": str(key_file), "LIVEKIT_KEYS": "k1: s1"}
    assert dict(load_settings(environ).livekit.keys) == {"filekey": "filesecret"}


def test_livekit_secrets_never_appear_in_the_settings_repr() -> None:
    assert "s3cret" not in repr(load_settings({"LIVEKIT_KEYS": "k1: s3cret-value"}))


def test_short_livekit_secrets_are_accepted_and_reported() -> None:
    livekit = load_settings({"LIVEKIT_KEYS": "devkey: secret\nlong: " + "x" * 32}).livekit
    assert livekit.short_secret_keys == ("devkey",)


def test_dev_uses_livekits_own_development_pair_and_url() -> None:
    livekit = load_settings({}, dev=True).livekit
    assert dict(livekit.keys) == {"devkey": "secret"}
    assert livekit.url == "ws://localhost:7880"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"LIVEKIT_KEYS": "k1:s1"}, "LIVEKIT_KEYS"),
        ({"LIVEKIT_KEYS": "k1 s1"}, "LIVEKIT_KEYS"),
        ({"LIVEKIT_KEYS": "   "}, None),
        ({"LIVEKIT_KEYS": "# only a comment"}, "LIVEKIT_KEYS"),
        ({"LIVEKIT_API_SECRET": "s"}, "LIVEKIT_API_KEY"),
        ({"LIVEKIT_API_KEY": "k"}, "LIVEKIT_API_SECRET"),
        (
            {"LIVEKIT_KEYS": "k: s1", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s2"},
            "LIVEKIT_API_SECRET",
        ),
        ({"LIVEKIT_KEY_FILE": "/nonexistent/keys.yaml"}, "LIVEKIT_KEY_FILE"),
        ({"LIVEKIT_URL": "livekit.example.com"}, "LIVEKIT_URL"),
        ({"LIVEKIT_TOKEN_TTL": "60"}, "LIVEKIT_TOKEN_TTL"),
        ({"LIVEKIT_TOKEN_TTL": "7200", "LIVEKIT_TOKEN_MAX_TTL": "3600"}, "LIVEKIT_TOKEN_TTL"),
        ({"LIVEKIT_ALLOW_ADMIN_GRANTS": "sure"}, "LIVEKIT_ALLOW_ADMIN_GRANTS"),
    ],
)
def test_a_bad_livekit_value_names_its_variable_without_the_secret(
    environ: dict[str, str], variable: str | None
) -> None:
    if variable is None:  # blank means unset
        assert not load_settings(environ).livekit.enabled
        return
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert str(raised.value).startswith(f"{variable}:")
    assert "s1" not in str(raised.value) and "s2" not in str(raised.value)


# --- VideoSDK ---

VIDEOSDK = {"VIDEOSDK_API_KEY": "key-1", "VIDEOSDK_SECRET_KEY": "secret-1"}


def test_videosdk_is_disabled_without_credentials() -> None:
    assert not load_settings({}).videosdk.enabled


def test_videosdk_credentials_and_the_default_endpoint() -> None:
    videosdk = load_settings(VIDEOSDK).videosdk
    assert (videosdk.api_key, videosdk.secret) == ("key-1", "secret-1")
    assert videosdk.endpoint == "https://api.videosdk.live"
    assert "secret-1" not in repr(videosdk)


def test_videosdk_secret_is_accepted_as_the_server_sdk_names_it() -> None:
    environ = {"VIDEOSDK_API_KEY": "key-1", "VIDEOSDK_SECRET": "secret-2"}
    assert load_settings(environ).videosdk.secret == "secret-2"


@pytest.mark.parametrize(
    "endpoint",
    ["https://api.videosdk.live/v2", "https://api.videosdk.live/v2/", "https://api.videosdk.live/"],
)
def test_the_examples_endpoint_with_v2_works_too(endpoint: str) -> None:
    environ = {**VIDEOSDK, "VIDEOSDK_API_ENDPOINT": endpoint}
    assert load_settings(environ).videosdk.endpoint == "https://api.videosdk.live"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"VIDEOSDK_API_KEY": "k"}, "VIDEOSDK_SECRET_KEY"),
        ({"VIDEOSDK_SECRET_KEY": "s"}, "VIDEOSDK_API_KEY"),
        ({**VIDEOSDK, "VIDEOSDK_API_ENDPOINT": "api.videosdk.live"}, "VIDEOSDK_API_ENDPOINT"),
        ({**VIDEOSDK, "VIDEOSDK_TIMEOUT": "0"}, "VIDEOSDK_TIMEOUT"),
        ({**VIDEOSDK, "VIDEOSDK_TOKEN_TTL": "10"}, "VIDEOSDK_TOKEN_TTL"),
    ],
)
def test_a_bad_videosdk_value_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert str(raised.value).startswith(f"{variable}:")
