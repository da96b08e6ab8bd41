"""Per-app observability: the access line and the metrics say which app a request was for."""

from __future__ import annotations

import io
from typing import Any

import orjson
from prometheus_client import REGISTRY

from service.logs import flush_logs
from service.metrics import pending
from tests.helpers import MakeClient
from tests.test_apps import RTC_BODY, _settings


def _access_lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    flush_logs()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == "request"]


async def test_the_access_line_names_the_requests_app(
    make_client: MakeClient, json_logs: io.BytesIO
) -> None:
    client = await make_client(_settings())
    await client.post("/apps/beta/v1/agora/rtc-token", json=RTC_BODY)
    await client.get("/healthz")
    lines = _access_lines(json_logs)
    apps = {line["route"]: line["app"] for line in lines}
    assert apps["/apps/{app}/v1/agora/rtc-token"] == "beta"
    assert apps["/healthz"] == "-"


async def test_tokens_and_requests_are_counted_per_app(make_client: MakeClient) -> None:
    def issued(app: str) -> float:
        labels = {"platform": "agora", "kind": "rtc", "app": app}
        return REGISTRY.get_sample_value("rtc_tokens_issued_total", labels) or 0.0

    client = await make_client(_settings())
    pending.flush()
    before = {app: issued(app) for app in ("alpha", "beta")}
    for app in ("alpha", "beta", "beta"):
        response = await client.post(f"/apps/{app}/v1/agora/rtc-token", json=RTC_BODY)
        assert response.status == 200
    pending.flush()
    assert issued("alpha") == before["alpha"] + 1
    assert issued("beta") == before["beta"] + 2
