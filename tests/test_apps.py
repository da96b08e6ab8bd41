"""Several apps in one service: each request is served with its own app's credentials,
policy and limits, and no caller gets a token signed with another app's credentials."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from livekit.api import TokenVerifier

from service.access.callers import JwtRules
from service.access.policy import parse_policy
from service.access.settings import AccessSettings
from service.agora.settings import AgoraSettings
from service.agora.tokens import AgoraCredentials
from service.apps import App, Apps, parse_apps
from service.config import load_settings
from service.env import ConfigError
from service.livekit.settings import LiveKitSettings
from service.videosdk.settings import VideoSdkSettings
from tests.helpers import Client, MakeClient, Oracle, make_settings
from tests.livekit.server import sign_webhook

# Two apps with distinct credentials on every platform.
APPS: dict[str, dict[str, str]] = {
    "alpha": {
        "app_id": "a" * 32,
        "certificate": "1" * 32,
        "ncs": "alpha-ncs-secret",
        "lk_key": "APIalpha",
        "lk_secret": "alpha-livekit-secret-0123456789abcdef",
        "vs_key": "alpha-videosdk-key",
        "vs_secret": "alpha-videosdk-secret-0123456789abcdef",
        "api_key": "alpha-api-key-0123456789",
    },
    "beta": {
        "app_id": "b" * 32,
        "certificate": "2" * 32,
        "ncs": "beta-ncs-secret",
        "lk_key": "APIbeta",
        "lk_secret": "beta-livekit-secret-0123456789abcdefgh",
        "vs_key": "beta-videosdk-key",
        "vs_secret": "beta-videosdk-secret-0123456789abcdefgh",
        "api_key": "beta-api-key-0123456789ab",
    },
}
OTHER = {"alpha": "beta", "beta": "alpha"}
ISSUER, AUDIENCE = "https://login.example.com", "rtc-token-service"
HS_SECRET = "login-signing-secret-0123456789abcdef"
RTC_BODY = {"channel": "demo", "uid": 42, "role": "publisher"}


def _app(name: str) -> App:
    c = APPS[name]
    return App(
        name=name,
        agora=AgoraSettings(
            credentials=AgoraCredentials(c["app_id"], c["certificate"]), ncs_secret=c["ncs"]
        ),
        livekit=LiveKitSettings(
            keys={c["lk_key"]: c["lk_secret"]}, signing_key=c["lk_key"], url="wss://lk.example"
        ),
        videosdk=VideoSdkSettings(api_key=c["vs_key"], secret=c["vs_secret"]),
        api_keys=(c["api_key"],),
        caller_limit=None,
        address_limit=None,
    )


def _settings(mode: str = "none", **access: Any) -> Any:
    rules = JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET, app_claim="app")
    settings = make_settings(
        access=AccessSettings(
            mode=mode,
            jwt=rules if mode == "jwt" else None,
            caller_limit=None,
            address_limit=None,
            **access,
        )
    )
    return replace(settings, file_apps=Apps.of([_app("alpha"), _app("beta")]))


def _login(app: str | None, sub: str = "user-1") -> dict[str, str]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "exp": int(time.time()) + 600,
    }
    if app is not None:
        claims["app"] = app
    return {"Authorization": "Bearer " + jwt.encode(claims, HS_SECRET, algorithm="HS256")}


async def _post(client: Client, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


# --- selecting the app ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_an_api_key_selects_its_own_app(make_client: MakeClient, name: str) -> None:
    client = await make_client(_settings("api-key"))
    status, answer = await _post(
        client, "/v1/agora/rtc-token", RTC_BODY, **{"X-API-Key": APPS[name]["api_key"]}
    )
    assert status == 200
    assert answer["app_id"] == APPS[name]["app_id"]


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_a_prefix_naming_another_app_than_the_api_keys_is_403(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings("api-key"))
    path = f"/apps/{OTHER[name]}/v1/agora/rtc-token"
    status, answer = await _post(client, path, RTC_BODY, **{"X-API-Key": APPS[name]["api_key"]})
    assert (status, answer["error"]) == (403, "forbidden")


async def test_a_prefix_naming_the_api_keys_own_app_is_served(make_client: MakeClient) -> None:
    client = await make_client(_settings("api-key"))
    key = {"X-API-Key": APPS["beta"]["api_key"]}
    status, answer = await _post(client, "/apps/beta/v1/agora/rtc-token", RTC_BODY, **key)
    assert (status, answer["app_id"]) == (200, APPS["beta"]["app_id"])


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_without_credentials_the_prefix_selects_the_app(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings())
    status, answer = await _post(client, f"/apps/{name}/v1/agora/rtc-token", RTC_BODY)
    assert (status, answer["app_id"]) == (200, APPS[name]["app_id"])


async def test_with_several_apps_and_no_default_a_request_must_name_its_app(
    make_client: MakeClient,
) -> None:
    client = await make_client(_settings())
    status, answer = await _post(client, "/v1/agora/rtc-token", RTC_BODY)
    assert status == 404 and "/apps/<name>/" in answer["message"]


async def test_an_unknown_app_is_404(make_client: MakeClient) -> None:
    client = await make_client(_settings())
    status, _ = await _post(client, "/apps/gamma/v1/agora/rtc-token", RTC_BODY)
    assert status == 404


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_a_login_tokens_app_claim_selects_the_app(make_client: MakeClient, name: str) -> None:
    client = await make_client(_settings("jwt"))
    # Signed in, the token is for the login's own identity: no uid is asked.
    body = {"channel": "demo", "role": "publisher"}
    status, answer = await _post(client, "/v1/agora/rtc-token", body, **_login(name))
    assert status == 200 and answer["app_id"] == APPS[name]["app_id"]
    status, _ = await _post(client, f"/apps/{OTHER[name]}/v1/agora/rtc-token", body, **_login(name))
    assert status == 403


@pytest.mark.parametrize("claim", [None, "gamma"])
async def test_a_login_token_naming_no_app_is_refused(
    make_client: MakeClient, claim: str | None
) -> None:
    client = await make_client(_settings("jwt"))
    status, _ = await _post(client, "/apps/alpha/v1/agora/rtc-token", RTC_BODY, **_login(claim))
    assert status == 403


async def test_the_body_cannot_choose_the_app(make_client: MakeClient) -> None:
    client = await make_client(_settings("api-key"))
    key = {"X-API-Key": APPS["alpha"]["api_key"]}
    status, _ = await _post(client, "/v1/agora/rtc-token", {**RTC_BODY, "app": "beta"}, **key)
    assert status == 400


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_compatibility_routes_take_the_prefix_too(make_client: MakeClient, name: str) -> None:
    client = await make_client(_settings())
    status, answer = await _post(
        client, f"/apps/{name}/fetch_rtc_token", {"uid": 1, "channelName": "demo", "role": 1}
    )
    assert status == 200 and answer["token"].startswith("007")
    response = await client.get(f"/apps/{name}/rtc/demo/publisher/uid/7/")
    assert response.status == 200


# --- each app's tokens verify with its own credentials, and no other's ------------------------


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_agora_tokens_verify_with_their_apps_certificate_only(
    make_client: MakeClient, oracle: Oracle, name: str
) -> None:
    client = await make_client(_settings())
    _, answer = await _post(client, f"/apps/{name}/v1/agora/rtc-token", RTC_BODY)
    (own,) = oracle.parse([answer["token"]], APPS[name]["certificate"])
    (other,) = oracle.parse([answer["token"]], APPS[OTHER[name]]["certificate"])
    assert own["signature_valid"] and own["app_id"] == APPS[name]["app_id"]
    assert not other["signature_valid"]


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_livekit_tokens_verify_with_their_apps_key_only(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings(), clock=time.time)
    body = {"room": "r", "identity": "ann"}
    status, answer = await _post(client, f"/apps/{name}/v1/livekit/token", body)
    assert status == 200
    claims = TokenVerifier(APPS[name]["lk_key"], APPS[name]["lk_secret"]).verify(answer["token"])
    assert claims.identity == "ann"
    other = OTHER[name]
    with pytest.raises(Exception):  # noqa: B017 - livekit-api raises its own errors
        TokenVerifier(APPS[other]["lk_key"], APPS[other]["lk_secret"]).verify(answer["token"])


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_videosdk_tokens_verify_with_their_apps_secret_only(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings(), clock=time.time)
    status, answer = await _post(client, f"/apps/{name}/v1/videosdk/token", {})
    assert status == 200
    claims = jwt.decode(answer["token"], APPS[name]["vs_secret"], algorithms=["HS256"])
    assert claims["apikey"] == APPS[name]["vs_key"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(answer["token"], APPS[OTHER[name]]["vs_secret"], algorithms=["HS256"])


# --- webhooks are verified with their own app's secret ----------------------------------------


def _livekit_event(event_id: str) -> bytes:
    event = {"event": "room_started", "id": event_id, "createdAt": int(time.time())}
    return json.dumps({**event, "room": {"name": "r"}}).encode()


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_a_livekit_webhook_is_taken_for_the_app_whose_key_signed_it(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings(), clock=time.time)
    body = _livekit_event(f"EV_{name}")
    token = sign_webhook(body, APPS[name]["lk_key"], APPS[name]["lk_secret"])
    headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
    response = await client.post("/livekit/webhook", data=body, headers=headers)
    assert response.status == 200
    # A prefix naming the other app is refused.
    path = f"/apps/{OTHER[name]}/livekit/webhook"
    response = await client.post(path, data=_livekit_event("EV_x"), headers=headers)
    assert response.status in (401, 403)


def _ncs(body: bytes, secret: str) -> dict[str, str]:
    return {"Agora-Signature-V2": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_an_ncs_notice_is_verified_with_the_prefixed_apps_secret(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings(), clock=time.time)
    notice = {
        "noticeId": f"n-{name}",
        "productId": 1,
        "eventType": 101,
        "notifyMs": int(time.time() * 1000),
        "payload": {"channelName": "demo"},
    }
    body = json.dumps(notice).encode()
    path = f"/apps/{name}/agora/webhook"
    response = await client.post(path, data=body, headers=_ncs(body, APPS[name]["ncs"]))
    assert response.status == 200
    response = await client.post(path, data=body, headers=_ncs(body, APPS[OTHER[name]]["ncs"]))
    assert response.status == 401


# --- APPS_FILE --------------------------------------------------------------------------------

APPS_FILE = """
[apps.alpha]
api_keys = ["alpha-api-key-0123456789"]
forward_url = "https://alpha.example.com/hooks"
forward_secret = "alpha-forward-secret-0123"

[apps.alpha.agora]
app_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
app_certificate = "11111111111111111111111111111111"
ncs_secret = "alpha-ncs"
token_expire = 600

[apps.alpha.livekit]
api_key = "APIalpha"
api_secret = "alpha-livekit-secret-0123456789abcdef"
url = "wss://alpha.livekit.cloud"

[apps.alpha.policy.agora]
channels = ["alpha-*"]

[apps.alpha.rate_limits]
address_rate = 50
address_burst = 100

[apps.beta]
api_keys = ["beta-api-key-0123456789ab"]

[apps.beta.videosdk]
api_key = "beta-videosdk-key"
secret_key = "beta-videosdk-secret-0123456789abcdefgh"
"""


def test_an_apps_file_defines_each_app_with_its_own_settings() -> None:
    apps = parse_apps(APPS_FILE, {"AGORA_TOKEN_EXPIRE": "900"}, AccessSettings())
    alpha, beta = apps.get("alpha"), apps.get("beta")
    assert alpha is not None and beta is not None
    assert alpha.agora.credentials is not None and alpha.agora.token_expire == 600
    assert alpha.livekit.signing_key == "APIalpha" and not beta.livekit.enabled
    assert beta.videosdk.enabled and not alpha.videosdk.enabled
    assert alpha.address_limit is not None and alpha.address_limit.burst == 100
    assert alpha.policy == parse_policy('[agora]\nchannels = ["alpha-*"]')
    assert alpha.forward_url == "https://alpha.example.com/hooks"
    assert apps.for_api_key("beta-api-key-0123456789ab") is not None
    assert apps.by_livekit_key == {"APIalpha": "alpha"}


def test_the_environment_gives_apps_defaults_but_never_credentials() -> None:
    environ = {"AGORA_TOKEN_EXPIRE": "900", "AGORA_APP_ID": "c" * 32}
    apps = parse_apps("[apps.beta]\n", environ, AccessSettings())
    beta = apps.get("beta")
    assert beta is not None and beta.agora.credentials is None
    assert beta.agora.token_expire == 900


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[apps.a]\nunknown = 1", "apps.a: unknown key 'unknown'"),
        ("[apps.a.agora]\napp_id = 'xyz'\napp_certificate = '1'", "apps.a.agora.app_id:"),
        ("[apps.a.agora]\ncolour = 1", "apps.a.agora: unknown key 'colour'"),
        ("[apps.a.livekit]\napi_secret = 's'", "apps.a.livekit.api_key:"),
        ("[apps.a]\napi_keys = ['short']", "apps.a.api_keys:"),
        ("[apps.a.policy.agora]\nchannels = 3", "apps.a.policy:"),
        ("[apps.a]\nforward_url = 'https://x.example'", "apps.a.forward_secret:"),
        ("[apps.a.rate_limits]\naddress_rate = -1", "apps.a.rate_limits.address_rate:"),
        ("[apps.A]\n", "apps.'A'"),
        ("[other]\n", "[other]"),
        ("", "defines no app"),
        (
            "[apps.a]\napi_keys = ['k-0123456789abcdef']\n"
            "[apps.b]\napi_keys = ['k-0123456789abcdef']",
            "apps.b.api_keys: a key of apps.a too",
        ),
        (
            "[apps.a.livekit]\napi_key='K'\napi_secret='s'\n[apps.b.livekit]\napi_key='K'\n"
            "api_secret='s'",
            "apps.b.livekit: API key 'K' is also apps.a's",
        ),
    ],
)
def test_a_bad_apps_file_fails_with_one_line_naming_the_app_and_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_apps(text, {}, AccessSettings())
    message = str(raised.value)
    assert message.startswith("APPS_FILE: ") and named in message and "\n" not in message


def test_without_an_apps_file_the_environment_is_one_app_named_default() -> None:
    settings = load_settings({"AGORA_APP_ID": "a" * 32, "AGORA_APP_CERTIFICATE": "1" * 32})
    apps = settings.apps()
    assert [app.name for app in apps] == ["default"]
    assert apps.default is not None and apps.default.agora.credentials is not None


def test_credentials_in_the_environment_beside_an_apps_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(APPS_FILE)
    with pytest.raises(ConfigError, match=r"^AGORA_APP_ID: set while APPS_FILE is set"):
        load_settings({"APPS_FILE": str(path), "AGORA_APP_ID": "a" * 32})


def test_an_apps_file_is_read_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(APPS_FILE)
    settings = load_settings({"APPS_FILE": str(path)})
    assert sorted(app.name for app in settings.apps()) == ["alpha", "beta"]


def test_a_thousand_apps_load_each_with_its_own_credentials() -> None:
    """How long they take is measured in bench/README.md (start-up with 1,000 apps)."""
    text = "".join(
        f'[apps.app{n}]\napi_keys = ["key-{n:04d}-0123456789abcdef"]\n'
        f'[apps.app{n}.agora]\napp_id = "{n:032x}"\napp_certificate = "{n + 1:032x}"\n'
        for n in range(1000)
    )
    apps = parse_apps(text, {}, AccessSettings())
    assert len(apps) == 1000
    found = apps.for_api_key("key-0999-0123456789abcdef")
    assert found is not None and found[0].name == "app999"


@pytest.mark.parametrize("name", ["x" * 300, "Gamma", "a\u0000b"])
async def test_a_path_that_names_no_valid_app_is_never_echoed(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings("api-key"))
    key = {"X-API-Key": APPS["alpha"]["api_key"]}
    status, answer = await _post(client, f"/apps/{name}/v1/agora/rtc-token", RTC_BODY, **key)
    assert status == 403 and name not in answer["message"]
    client = await make_client(_settings())
    status, answer = await _post(client, f"/apps/{name}/v1/agora/rtc-token", RTC_BODY)
    assert status == 404 and name not in answer["message"]
