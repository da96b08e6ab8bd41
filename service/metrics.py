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

The on-call signals (rate-limit refusals, authentication failures, webhook rejections,
event-store latency) are off the hot path of a granted token and are written directly.
What a scrape computes (build info, each forwarded app's backlog and the age of its
oldest pending event, read from the event store) is shown by the scraping process only,
never through multiprocess files, so with several workers it appears once and is current.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import platform as python_platform
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from importlib import metadata
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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.context import APPS, EVENT_STORE
from service.logs import get_logger
from service.store.base import StoreUnavailable
from service.workarounds import Exposed, TalliedHistogram

log = get_logger("service.metrics")

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
# `bucket` is one of RATE_LIMIT_BUCKETS; `app` an app's name, "-" for a failed login.
RATE_LIMITED = Counter(
    "rtc_rate_limited_total", "Token requests refused by a rate limit (429).", ["app", "bucket"]
)
RATE_LIMIT_BUCKETS = ("caller", "api_key", "address", "failed")
# `mode` is AUTH_MODE ("api-key", "jwt"); `reason` one of AUTH_FAILURE_REASONS.
AUTH_FAILURES = Counter(
    "rtc_auth_failures_total", "Callers refused by authentication.", ["mode", "reason"]
)
AUTH_FAILURE_REASONS = (
    "missing",
    "invalid",
    "expired",
    "wrong_issuer",
    "wrong_audience",
    "wrong_algorithm",
    "unknown_key",
    "unknown_app",
    "jwks_unavailable",
)
# `operation` is one of "add", "list", "pending", "backlog".
EVENT_STORE_SECONDS = Histogram(
    "rtc_event_store_seconds",
    "Time an event-store call took.",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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


def rate_limited(app: str, bucket: str) -> None:
    _child(RATE_LIMITED, app, bucket).inc()


def auth_failed(mode: str, reason: str) -> None:
    _child(AUTH_FAILURES, mode, reason).inc()


def event_store_timer(operation: str) -> Any:
    """A context manager observing one event-store call's duration under `operation`."""
    return _child(EVENT_STORE_SECONDS, operation).time()


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


def _version() -> str:
    try:
        return metadata.version("rtc-token-service")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO = {"version": _version(), "python": python_platform.python_version()}


class ScrapeTime(Collector):
    """What this scrape computed: build info and each forwarded app's backlog."""

    def __init__(self, backlog: list[tuple[str, int, float | None]]) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "rtc_build_info", "The running build; always 1.", labels=list(BUILD_INFO)
        )
        info.add_metric(list(BUILD_INFO.values()), 1)
        yield info
        size = GaugeMetricFamily(
            "rtc_forward_backlog",
            "Events waiting to be forwarded to an app's URL (pending, not dead).",
            labels=["app"],
        )
        age = GaugeMetricFamily(
            "rtc_forward_oldest_pending_seconds",
            "Age of an app's oldest event waiting to be forwarded; 0 with none.",
            labels=["app"],
        )
        now = time.time()
        for app, count, oldest in self.backlog:
            size.add_metric([app], count)
            age.add_metric([app], 0.0 if oldest is None else max(0.0, now - oldest))
        yield size
        yield age


async def forward_backlog(app: web.Application) -> list[tuple[str, int, float | None]]:
    """(app, pending events, oldest one's receipt time) for every app forwarded to, read
    from the event store now; nothing for an app whose store cannot answer (logged)."""
    store, apps = app.get(EVENT_STORE), app.get(APPS)
    if store is None or apps is None:
        return []
    found = []
    for configured in apps.current:
        if configured.forward_url is None:
            continue
        try:
            count, oldest = await store.backlog(configured.name)
        except StoreUnavailable as exc:
            log.warning("forward backlog unknown: event store unavailable", reason=str(exc))
            continue
        found.append((configured.name, count, oldest))
    return found


async def metrics(request: web.Request) -> web.Response:
    pending.flush()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        every_worker = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
        registry.register(Exposed(every_worker, [LATENCY]))
    else:
        registry = REGISTRY
    scrape_time = CollectorRegistry(auto_describe=False)
    scrape_time.register(ScrapeTime(await forward_backlog(request.app)))
    response = web.Response(body=generate_latest(registry) + generate_latest(scrape_time))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
