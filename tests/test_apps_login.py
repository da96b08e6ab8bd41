"""AUTH_MODE=jwt with several apps: each app may have its own login-token issuer,
audience and key ([apps.<name>.auth]); a token is checked against the rules of the app it
is for, so one app's login tokens never get another app's tokens."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import jwt
import pytest

from service.access.callers import JwtRules
from service.access.settings import AccessSettings
from service.apps import Apps, parse_apps
from service.env import ConfigError
from tests.helpers import Client, MakeClient, make_settings
from tests.test_apps import APPS, _app

SERVICE_RULES = {"issuer": "https://login.example.com", "audience": "rtc-token-service"}
SERVICE_SECRET = "service-login-secret-0123456789abcdef"
OWN = {
    "alpha": JwtRules(
        issuer="https://alpha.example.com", audience="alpha", secret="alpha-login-" + "a" * 32
    ),
    "beta": JwtRules(
        issuer="https://beta.example.com", audience="beta", secret="beta-login-" + "b" * 32
    ),
}
BODY = {"channel": "demo", "role": "publisher"}


def _settings(app_claim: str | None) -> Any:
    rules = JwtRules(**SERVICE_RULES, secret=SERVICE_SECRET, app_claim=app_claim)
    apps = [
        replace(_app(name), jwt=replace(OWN[name], app_claim=app_claim))
        for name in ("alpha", "beta")
    ]
    access = AccessSettings(mode="jwt", jwt=rules, caller_limit=None, address_limit=None)
    return replace(make_settings(access=access), file_apps=Apps.of(apps))


def _login(rules: JwtRules, **claims: Any) -> dict[str, str]:
    payload = {
        "iss": rules.issuer,
        "aud": rules.audience,
        "sub": "user-1",
        "exp": int(time.time()) + 600,
        **claims,
    }
    assert rules.secret is not None
    return {"Authorization": "Bearer " + jwt.encode(payload, rules.secret, algorithm="HS256")}


async def _status(client: Client, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post(path, json=BODY, headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_an_apps_own_login_token_gets_that_apps_tokens(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings("app"))
    status, answer = await _status(client, "/v1/agora/rtc-token", _login(OWN[name], app=name))
    assert (status, answer["app_id"]) == (200, APPS[name]["app_id"])


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_a_login_token_claiming_another_app_fails_that_apps_check(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings("app"))
    other = "beta" if name == "alpha" else "alpha"
    status, _ = await _status(client, "/v1/agora/rtc-token", _login(OWN[name], app=other))
    assert status == 401


async def test_the_services_own_login_token_does_not_open_an_app_with_its_own_rules(
    make_client: MakeClient,
) -> None:
    client = await make_client(_settings("app"))
    service = JwtRules(**SERVICE_RULES, secret=SERVICE_SECRET)
    status, _ = await _status(client, "/v1/agora/rtc-token", _login(service, app="alpha"))
    assert status == 401


@pytest.mark.parametrize("name", ["alpha", "beta"])
async def test_without_an_app_claim_the_prefixed_apps_rules_check_the_token(
    make_client: MakeClient, name: str
) -> None:
    client = await make_client(_settings(None))
    other = "beta" if name == "alpha" else "alpha"
    status, answer = await _status(client, f"/apps/{name}/v1/agora/rtc-token", _login(OWN[name]))
    assert (status, answer["app_id"]) == (200, APPS[name]["app_id"])
    status, _ = await _status(client, f"/apps/{other}/v1/agora/rtc-token", _login(OWN[name]))
    assert status == 401


def test_an_apps_auth_table_overrides_the_services_rules() -> None:
    environ = {
        "AUTH_JWT_ISSUER": "https://login.example.com",
        "AUTH_JWT_AUDIENCE": "rtc",
        "AUTH_JWT_SECRET": SERVICE_SECRET,
    }
    text = (
        '[apps.a.auth]\naudience = "a-only"\n[apps.b.auth]\njwks_url = "https://b.example/jwks"\n'
    )
    apps = parse_apps(text, environ, AccessSettings())
    a, b = apps.get("a"), apps.get("b")
    assert a is not None and a.jwt is not None and b is not None and b.jwt is not None
    assert (a.jwt.issuer, a.jwt.audience, a.jwt.secret) == (
        "https://login.example.com",
        "a-only",
        SERVICE_SECRET,
    )
    assert (b.jwt.secret, b.jwt.jwks_url) == (None, "https://b.example/jwks")


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('[apps.a.auth]\ncolour = "x"', "apps.a.auth: unknown key 'colour'"),
        ('[apps.a.auth]\nsecret = "short"', "apps.a.auth.secret:"),
        ('[apps.a.auth]\njwks_url = "ftp://x"', "apps.a.auth.jwks_url:"),
    ],
)
def test_a_bad_auth_table_names_the_app_and_key(table: str, named: str) -> None:
    environ = {"AUTH_JWT_ISSUER": "https://i.example", "AUTH_JWT_AUDIENCE": "a"}
    with pytest.raises(ConfigError) as raised:
        parse_apps(table, environ, AccessSettings())
    assert named in str(raised.value)
