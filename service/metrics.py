"""Prometheus metrics, correct with several worker processes.

With more than one worker, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before anything imports prometheus_client; every worker then writes its samples there
and /metrics sums them across workers (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("rtc_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "rtc_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS = Counter("rtc_tokens_issued_total", "Tokens issued.", ["platform", "kind"])
WEBHOOK_REJECTIONS = Counter(
    "rtc_webhook_rejections_total",
    "Webhooks refused before they were taken.",
    ["provider", "reason"],
)
UPSTREAM_ERRORS = Counter(
    "rtc_upstream_errors_total", "Failed calls to a platform's API.", ["upstream", "kind"]
)


# Labelled children, looked up once each: labels() takes a lock and builds a key on
# every call, which shows on the hot path.
_children: dict[tuple[object, ...], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def token_issued(platform: str, kind: str) -> None:
    _child(TOKENS, platform, kind).inc()


def request_answered(method: str, route: str, status: int, seconds: float) -> None:
    _child(REQUESTS, method, route, str(status)).inc()
    _child(LATENCY, route).observe(seconds)


async def metrics(request: web.Request) -> web.Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
