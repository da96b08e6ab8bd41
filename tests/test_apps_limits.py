"""Rate limits are each app's own: one app's traffic never spends another's buckets."""

from __future__ import annotations

from dataclasses import replace

from service.access.ratelimit import Limit
from service.apps import Apps
from tests.helpers import MakeClient
from tests.test_apps import RTC_BODY, _app, _settings


async def test_one_apps_exhausted_limit_leaves_another_apps_untouched(
    make_client: MakeClient,
) -> None:
    tight = Limit(rate=0.001, burst=2)
    apps = Apps.of([replace(_app("alpha"), address_limit=tight), _app("beta")])
    client = await make_client(replace(_settings(), file_apps=apps))
    statuses = [
        (await client.post("/apps/alpha/v1/agora/rtc-token", json=RTC_BODY)).status
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    for _ in range(5):
        response = await client.post("/apps/beta/v1/agora/rtc-token", json=RTC_BODY)
        assert response.status == 200


async def test_the_same_address_has_a_bucket_per_app(make_client: MakeClient) -> None:
    tight = Limit(rate=0.001, burst=1)
    apps = Apps.of([replace(_app(name), address_limit=tight) for name in ("alpha", "beta")])
    client = await make_client(replace(_settings(), file_apps=apps))
    for name in ("alpha", "beta"):
        response = await client.post(f"/apps/{name}/v1/agora/rtc-token", json=RTC_BODY)
        assert response.status == 200
