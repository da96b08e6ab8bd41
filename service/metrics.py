"""Prometheus metrics, correct with several worker processes.

With more than one worker, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before anything imports prometheus_client; every worker then writes its samples there
and /metrics sums them across workers (prometheus-client's multiprocess mode).

The per-request samples (requests, their latency, tokens issued) are gathered in plain
counts and written to prometheus-client once a second, not on every request: each
write there takes a lock, a getpid system call and an mmap write (about 9k instructions;
four per token request). Counters take a batch with the public .inc(n); the latency
histogram has no public way to, so it is a TalliedHistogram (service/workarounds.py). A
scrape sees its own process's counts at once and the other workers' at most
FLUSH_SECONDS late; a killed worker loses at most its last second of them.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

from service.workarounds import Exposed, TalliedHistogram

# `app` is an app's name (names come from the configuration, so the set is bounded) or
# "-" for a request no app was chosen for.
REQUESTS = Counter(
    "rtc_requests_total", "HTTP requests answered.", ["method", "route", "status", "app"]
)
LATENCY = TalliedHistogram(
    "rtc_request_duration_seconds",
    "Time to answer an HTTP request.",
    ("route",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS = Counter("rtc_tokens_issued_total", "Tokens issued.", ["platform", "kind", "app"])
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


FLUSH_SECONDS = 1.0


class PendingSamples:
    """This process's request and token samples since the last flush."""

    def __init__(self) -> None:
        self._requests: Tally[tuple[str, str, int, str]] = Tally()
        self._tokens: Tally[tuple[str, str, str]] = Tally()
        # Per route: how many requests fell in each of LATENCY's buckets, and their sum.
        self._in_bucket: dict[str, list[int]] = {}
        self._seconds: defaultdict[str, float] = defaultdict(float)
        self._bounds = LATENCY.bounds

    def request_answered(
        self, method: str, route: str, status: int, seconds: float, app: str = "-"
    ) -> None:
        self._requests[method, route, status, app] += 1
        in_bucket = self._in_bucket.get(route)
        if in_bucket is None:
            in_bucket = self._in_bucket[route] = [0] * len(self._bounds)
        # The first bucket whose upper bound is >= seconds, as Histogram.observe picks.
        in_bucket[bisect.bisect_left(self._bounds, seconds)] += 1
        self._seconds[route] += seconds

    def token_issued(self, platform: str, kind: str, app: str) -> None:
        self._tokens[platform, kind, app] += 1

    def flush(self) -> None:
        requests, self._requests = self._requests, Tally()
        tokens, self._tokens = self._tokens, Tally()
        buckets, self._in_bucket = self._in_bucket, {}
        seconds, self._seconds = self._seconds, defaultdict(float)
        for (method, route, status, app), count in requests.items():
            _child(REQUESTS, method, route, str(status), app).inc(count)
        for (platform, kind, app), count in tokens.items():
            _child(TOKENS, platform, kind, app).inc(count)
        for route, in_bucket in buckets.items():
            LATENCY.add((route,), in_bucket, seconds[route])


pending = PendingSamples()
token_issued = pending.token_issued
request_answered = pending.request_answered


async def flush_every_second(app: web.Application) -> AsyncIterator[None]:
    """The application's cleanup context: flushes on a timer, and once more at the end
    (after shutdown has drained every request)."""

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            pending.flush()

    flusher = asyncio.create_task(flush_forever())
    try:
        yield
    finally:
        flusher.cancel()
        pending.flush()


async def metrics(request: web.Request) -> web.Response:
    pending.flush()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        every_worker = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
        registry.register(Exposed(every_worker, [LATENCY]))
    else:
        registry = REGISTRY
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
