"""Request and token samples are counted per process and flushed to prometheus-client:
what a scrape shows must be what observing each request directly would have shown."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from service.metrics import FLUSH_SECONDS, LATENCY, PendingSamples
from tests.helpers import Client

LATENCIES = [0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.02, 0.4, 3.0, 12.0, 0.0025]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_flush_writes_the_buckets_and_sum_histogram_observe_would() -> None:
    route = "/test/flush-buckets"
    direct = Histogram(
        "direct_seconds",
        "observed one by one",
        ["route"],
        buckets=LATENCY.bounds[:-1],
        registry=CollectorRegistry(),
    )
    pending = PendingSamples()
    for seconds in LATENCIES:
        direct.labels(route).observe(seconds)
        pending.request_answered("GET", route, 200, seconds)
    pending.flush()
    direct_buckets = {
        sample.labels["le"]: sample.value
        for metric in direct.collect()
        for sample in metric.samples
        if sample.name == "direct_seconds_bucket"
    }
    assert len(direct_buckets) == len(LATENCY.bounds)
    for le, value in direct_buckets.items():
        assert _sample("rtc_request_duration_seconds_bucket", route=route, le=le) == value, le
    assert _sample("rtc_request_duration_seconds_count", route=route) == len(LATENCIES)
    assert abs(_sample("rtc_request_duration_seconds_sum", route=route) - sum(LATENCIES)) < 1e-9


def test_requests_and_tokens_are_counted_by_their_labels() -> None:
    pending = PendingSamples()
    for status in (200, 200, 404):
        pending.request_answered("POST", "/test/counted", status, 0.001, "alpha")
    pending.token_issued("test-platform", "rtc", "alpha")
    pending.token_issued("test-platform", "rtc", "alpha")
    pending.token_issued("test-platform", "rtc", "beta")
    pending.flush()
    counted = {"method": "POST", "route": "/test/counted", "app": "alpha"}
    assert _sample("rtc_requests_total", **counted, status="200") == 2
    assert _sample("rtc_requests_total", **counted, status="404") == 1
    assert (
        _sample("rtc_tokens_issued_total", platform="test-platform", kind="rtc", app="alpha") == 2
    )
    assert _sample("rtc_tokens_issued_total", platform="test-platform", kind="rtc", app="beta") == 1


def test_a_second_flush_adds_nothing_twice() -> None:
    pending = PendingSamples()
    pending.token_issued("test-twice", "rtc", "default")
    pending.flush()
    pending.flush()
    assert _sample("rtc_tokens_issued_total", platform="test-twice", kind="rtc", app="default") == 1


async def test_a_scrape_includes_the_requests_just_answered(client: Client) -> None:
    before = _sample("rtc_requests_total", method="GET", route="/healthz", status="200", app="-")
    for _ in range(3):
        await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("rtc_requests_total{") and 'route="/healthz"' in line
    )
    assert float(line.split()[-1]) == before + 3


@pytest.mark.slow
async def test_samples_are_flushed_within_a_second_without_a_scrape(client: Client) -> None:
    before = _sample("rtc_requests_total", method="GET", route="/readyz", status="200", app="-")
    await client.get("/readyz")
    await asyncio.sleep(FLUSH_SECONDS + 0.5)
    assert (
        _sample("rtc_requests_total", method="GET", route="/readyz", status="200", app="-")
        == before + 1
    )
