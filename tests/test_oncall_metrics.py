"""The on-call metrics: build info, rate-limit refusals, authentication failures, the
forwarder's backlog and oldest pending age, event-store latency; each appears with the
right labels after the event that should move it. And the Grafana dashboard only queries
metrics the service has."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service.access.ratelimit import Limit
from service.apps import Apps
from service.context import EVENT_STORE
from service.errors import ApiError, ErrorCode
from service.guards import auth_failure_reason
from service.metrics import AUTH_FAILURE_REASONS, BUILD_INFO
from service.store.base import NewEvent
from service.store.redis import RedisEventStore
from service.store.sqlite import SqliteEventStore
from tests.helpers import Client, MakeClient
from tests.test_apps import APPS, AUDIENCE, HS_SECRET, ISSUER, RTC_BODY, _app, _login, _settings

DASHBOARDS = Path(__file__).resolve().parent.parent / "deploy" / "grafana"
TIGHT = Limit(rate=0.001, burst=1)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _scrape(client: Client) -> dict[str, list[Any]]:
    """Every sample of a scrape, by sample name."""
    text = await (await client.get("/metrics")).text()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def test_build_info_names_the_version_and_python(client: Client) -> None:
    (info,) = (await _scrape(client))["rtc_build_info"]
    assert info.value == 1
    assert info.labels == BUILD_INFO
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info.labels["python"])
    assert info.labels["version"] != ""


async def _post(client: Client, path: str, body: Any = RTC_BODY, **headers: str) -> int:
    return (await client.post(path, json=body, headers=headers)).status


async def test_rate_limit_refusals_are_counted_by_app_and_bucket(make_client: MakeClient) -> None:
    alpha = replace(_app("alpha"), api_key_limit=TIGHT)
    beta = replace(_app("beta"), address_limit=TIGHT)
    settings = _settings("api-key")
    access = replace(settings.access, address_limit=TIGHT)  # the failed-login bucket's
    settings = replace(settings, access=access, file_apps=Apps.of([alpha, beta]))
    client = await make_client(settings)
    before = {
        bucket: _sample("rtc_rate_limited_total", app=app, bucket=bucket)
        for app, bucket in (("alpha", "api_key"), ("beta", "address"), ("-", "failed"))
    }
    assert [await _post(client, "/v1/agora/rtc-token", **{"X-API-Key": APPS["alpha"]["api_key"]})
            for _ in range(2)] == [200, 429]  # fmt: skip
    assert [await _post(client, "/v1/agora/rtc-token", **{"X-API-Key": APPS["beta"]["api_key"]})
            for _ in range(2)] == [200, 429]  # fmt: skip
    assert [await _post(client, "/v1/agora/rtc-token", **{"X-API-Key": "wrong"})
            for _ in range(2)] == [401, 429]  # fmt: skip
    after = (
        _sample("rtc_rate_limited_total", app="alpha", bucket="api_key"),
        _sample("rtc_rate_limited_total", app="beta", bucket="address"),
        _sample("rtc_rate_limited_total", app="-", bucket="failed"),
    )
    assert after == (before["api_key"] + 1, before["address"] + 1, before["failed"] + 1)


async def test_a_login_callers_refusal_is_counted_in_the_caller_bucket(
    make_client: MakeClient,
) -> None:
    alpha = replace(_app("alpha"), caller_limit=TIGHT)
    client = await make_client(replace(_settings("jwt"), file_apps=Apps.of([alpha, _app("beta")])))
    before = _sample("rtc_rate_limited_total", app="alpha", bucket="caller")
    # Signed in, the token is for the login's own identity: no uid is asked.
    body = {"channel": "demo", "role": "publisher"}
    statuses = [
        await _post(client, "/v1/agora/rtc-token", body, **_login("alpha")) for _ in range(2)
    ]
    assert statuses == [200, 429]
    assert _sample("rtc_rate_limited_total", app="alpha", bucket="caller") == before + 1


def _token(**claims: Any) -> dict[str, str]:
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": int(time.time()) + 600}
    token = jwt.encode({**base, **claims}, HS_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid"),
        (_token(app="alpha", exp=int(time.time()) - 3600), "expired"),
        (_token(app="alpha", iss="https://elsewhere.example"), "wrong_issuer"),
        (_token(app="alpha", aud="someone-else"), "wrong_audience"),
        (_token(app="nobody"), "unknown_app"),
    ],
)
async def test_login_failures_are_counted_by_reason(
    make_client: MakeClient, headers: dict[str, str], reason: str
) -> None:
    client = await make_client(_settings("jwt"))
    before = _sample("rtc_auth_failures_total", mode="jwt", reason=reason)
    assert await _post(client, "/v1/agora/rtc-token", **headers) in (401, 403)
    assert _sample("rtc_auth_failures_total", mode="jwt", reason=reason) == before + 1


@pytest.mark.parametrize(("key", "reason"), [(None, "missing"), ("wrong", "invalid")])
async def test_api_key_failures_are_counted_by_reason(
    make_client: MakeClient, key: str | None, reason: str
) -> None:
    client = await make_client(_settings("api-key"))
    before = _sample("rtc_auth_failures_total", mode="api-key", reason=reason)
    headers = {} if key is None else {"X-API-Key": key}
    assert await _post(client, "/v1/agora/rtc-token", **headers) == 401
    assert _sample("rtc_auth_failures_total", mode="api-key", reason=reason) == before + 1


def test_every_authentication_failure_maps_to_a_known_reason() -> None:
    unavailable = ApiError(503, ErrorCode.AUTH_UNAVAILABLE, "the keys are unavailable")
    assert auth_failure_reason(unavailable) == "jwks_unavailable"
    assert auth_failure_reason(ApiError(404, ErrorCode.NOT_FOUND, "no such app")) is None
    messages = {
        "the login token's key (kid) is not one the issuer publishes": "unknown_key",
        "login tokens must be signed with HS256": "wrong_algorithm",
        "the login token's algorithm does not match its key": "wrong_algorithm",
        "the login token does not verify": "invalid",
        "the login token has no sub claim": "invalid",
    }
    for message, reason in messages.items():
        assert auth_failure_reason(ApiError(401, ErrorCode.UNAUTHORIZED, message)) == reason
        assert reason in AUTH_FAILURE_REASONS


async def test_webhook_rejections_are_still_counted(client: Client) -> None:
    before = _sample("rtc_webhook_rejections_total", provider="livekit", reason="missing_signature")
    response = await client.post("/livekit/webhook", data=b"{}")
    assert response.status == 400
    after = _sample("rtc_webhook_rejections_total", provider="livekit", reason="missing_signature")
    assert after == before + 1


def _event(app: str, event_id: str, received_at: float) -> NewEvent:
    return NewEvent(app, "livekit", event_id, "room", received_at, b'{"event": "room_started"}')


async def test_the_forward_backlog_and_its_oldest_age_are_read_at_scrape_time(
    make_client: MakeClient,
) -> None:
    forwarded = replace(
        _app("alpha"), forward_url="http://127.0.0.1:9/hook", forward_secret="s" * 32
    )
    client = await make_client(replace(_settings(), file_apps=Apps.of([forwarded, _app("beta")])))
    samples = await _scrape(client)
    assert [(s.labels, s.value) for s in samples["rtc_forward_backlog"]] == [({"app": "alpha"}, 0)]
    assert samples["rtc_forward_oldest_pending_seconds"][0].value == 0
    store = client.app[EVENT_STORE]
    now = time.time()
    await store.add(_event("alpha", "one", now - 120))
    await store.add(_event("alpha", "two", now - 5))
    await store.add(_event("beta", "three", now - 999))  # pull-only: no forwarding backlog
    samples = await _scrape(client)
    assert [(s.labels, s.value) for s in samples["rtc_forward_backlog"]] == [({"app": "alpha"}, 2)]
    (oldest,) = samples["rtc_forward_oldest_pending_seconds"]
    assert oldest.labels == {"app": "alpha"}
    assert 120 <= oldest.value < 180


async def test_event_store_calls_are_timed_by_operation(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "events.db"))
    await store.open()
    try:
        before = {
            op: _sample("rtc_event_store_seconds_count", operation=op)
            for op in ("add", "list", "pending", "backlog")
        }
        await store.add(_event("default", "timed", time.time()))
        await store.list_events(after=None, provider=None, state=None, limit=10)
        assert len(await store.pending(10)) == 1
        assert (await store.backlog("default"))[0] == 1
        for op, count in before.items():
            assert _sample("rtc_event_store_seconds_count", operation=op) == count + 1, op
    finally:
        await store.close()


# The Redis store needs a real redis-server: a slow test.
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.slow)])
async def test_the_backlog_counts_one_apps_pending_events_only(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store: SqliteEventStore | RedisEventStore
    if backend == "sqlite":
        store = SqliteEventStore(str(tmp_path / "events.db"))
    else:
        store = RedisEventStore(request.getfixturevalue("redis_url"))
    await store.open()
    try:
        app = f"backlog{time.monotonic_ns()}"  # fresh keys on a shared Redis
        assert await store.backlog(app) == (0, None)
        for n, received_at in enumerate((300.0, 100.0, 200.0, 50.0)):
            await store.add(_event(app, f"e{n}", received_at))
        await store.add(_event("other", "e0", 1.0))
        first, *_, dead = await store.pending(10, app=app)
        await store.mark_delivered(first.cursor)  # the oldest stored, received at 300
        await store.mark_failed(dead.cursor, error="x", next_attempt_at=0.0, dead=True)
        assert await store.backlog(app) == (2, 100.0)
    finally:
        await store.close()


def _dashboard_metrics() -> set[str]:
    names: set[str] = set()
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = dashboard["panels"]
        assert panels, path
        for panel in panels:
            for target in panel.get("targets", []):
                names.update(re.findall(r"\b(rtc_[a-z_]+)", target["expr"]))
    return names


async def test_every_metric_the_dashboard_queries_is_one_the_service_exposes(
    client: Client,
) -> None:
    names = _dashboard_metrics()
    assert {"rtc_requests_total", "rtc_forward_backlog", "rtc_build_info"} <= names
    text = await (await client.get("/metrics")).text()
    exposed = set(re.findall(r"^# TYPE (\S+)", text, re.MULTILINE))
    exposed |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    for histogram in re.findall(r"^# TYPE (\S+) histogram", text, re.MULTILINE):
        exposed |= {f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"}
    assert names <= exposed, sorted(names - exposed)
