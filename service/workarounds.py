"""Every workaround for another library's behaviour, in one place.

Each is kept only because a measurement showed it worth more than 5 % (in latency or in
instructions), and each says: the upstream behaviour it works around (library and
version), what it was measured to be worth, how to measure that again, and when to
delete it. All of them use public APIs only: subclassing a public class and overriding a
public method, public asyncio and socket calls, a documented C library call. Nothing here
patches another package's module or reads its private attributes (tests/test_no_reaching_in.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Metric
from prometheus_client.core import HistogramMetricFamily

from service.errors import ErrorCode
from service.logs import get_logger
from service.responses import SERVER_NAME, dump_json

log = get_logger("service")


# --- 1. aiohttp quotes the offending input in its answer to a request it cannot parse ---
#
# Upstream: aiohttp 3.x (3.14 here), RequestHandler.handle_error and its log line put the
# header line it could not parse into the 400 body and the log: an API key or a bearer
# token went back to the client and into the logs.
# Worth: not a speed matter but a leak; tests/test_logs.py
# (test_a_malformed_header_is_answered_and_logged_without_its_value) shows it.
# Measure again: delete the class (DrainingRunner.listen then builds aiohttp's own
# RequestHandler) and run `.venv/bin/python -m pytest -q tests/test_logs.py`.
# Delete when: aiohttp stops echoing input in parse errors (that test passes without it).

_PARSE_ERROR_CODES = {
    400: ErrorCode.MALFORMED_REQUEST,
    413: ErrorCode.BODY_TOO_LARGE,
    431: ErrorCode.HEADERS_TOO_LARGE,
}


class QuietRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering a request it could not parse (a control
    byte in a header, a line too long) with the service's JSON error shape and nothing of
    the input. aiohttp's own answer, and its log line, quote the offending header line:
    an API key or a bearer token went to the client and the logs. Delete this class when
    aiohttp stops echoing input in parse errors (checked in tests/test_logs.py)."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:

        log.warning(
            "request not understood",
            status=status,
            client=request.remote,
            error=type(exc).__name__ if exc is not None else None,
        )
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; the connection is closed")
        fallback = ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.HTTP_ERROR
        code = _PARSE_ERROR_CODES.get(status, fallback)
        text = "the request could not be read as HTTP" if status < 500 else "internal error"
        body = {"error": code, "message": text, "field": None, "request_id": ""}
        response = web.Response(
            status=status, body=dump_json(body), content_type="application/json"
        )
        response.headers["Server"] = SERVER_NAME
        response.force_close()
        return response


# --- 2. uvloop accepts one new connection per turn of the event loop ---
#
# Upstream: uvloop 0.23 (the libuv inside it): a listening socket's server accepts one
# connection each time the loop turns, and under load a turn lasts as long as answering
# every ready connection. asyncio's own loop accepts every waiting connection at once but
# spends about 6 % more instructions per request.
# Worth (bench/README.md, "The event loop"): 2 workers, POST /fetch_rtc_token, a burst of
# 256 new connections: p99 / max 156 ms / 778 ms and 500 ms / 1.41 s through uvloop's own
# server, 37 ms / 53 ms and 53 ms / 66 ms with every waiting connection accepted at once;
# a burst of 128 waited up to 1.4 s for a first answer. Of 32 waiting connections, uvloop's
# own server takes 5 in three turns of the loop; AcceptingListener takes all 32.
# Measure again: `.venv/bin/python -m pytest -q tests/test_server.py -k turn` (the
#   second test there asserts uvloop's own server still falls short), and for latency
#   `.venv/bin/python bench/wrkrun.py` at 256 connections, as bench/README.md describes.
# Delete when: uvloop's own server accepts a burst in one turn
#   (test_uvloops_own_server_still_accepts_one_connection_per_turn fails); then hand
#   runner.server to loop.create_server(sock=..., backlog=...) instead.

# Seconds to stop accepting after accept() fails for want of descriptors or memory, as
# asyncio's own server does, rather than spin on a socket that stays readable.
ACCEPT_PAUSE = 1.0


class AcceptingListener(asyncio.AbstractServer):
    """A listening socket whose waiting connections are all accepted each time it turns
    readable (up to the backlog), each handed to the event loop as an accepted socket
    (public asyncio: add_reader, connect_accepted_socket)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        on_connected: Callable[[asyncio.BaseTransport], None] | None = None,
    ) -> None:
        self.loop, self.sock, self.factory, self.backlog = loop, sock, protocol_factory, backlog
        self.on_connected = on_connected
        self.fd = sock.fileno()
        self.serving = True
        self.starting: set[asyncio.Task[object]] = set()
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(self.fd, self.accept_waiting)

    def accept_waiting(self, limit: int | None = None) -> None:
        for _ in range(self.backlog if limit is None else limit):
            try:
                connection, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as error:
                log.warning("accept failed; pausing", error=str(error), pause=ACCEPT_PAUSE)
                self.loop.remove_reader(self.fd)
                self.loop.call_later(ACCEPT_PAUSE, self.resume)
                return
            task = self.loop.create_task(self.connect(connection))
            self.starting.add(task)
            task.add_done_callback(self.started)

    async def connect(self, connection: socket.socket) -> None:
        transport, _ = await self.loop.connect_accepted_socket(self.factory, connection)
        if self.on_connected is not None:
            self.on_connected(transport)

    def started(self, task: asyncio.Task[object]) -> None:
        self.starting.discard(task)
        if not task.cancelled():
            # Retrieved so asyncio does not report it: a client that reset its connection
            # before its transport existed has nothing to be answered.
            task.exception()

    def resume(self) -> None:
        if self.serving:
            self.loop.add_reader(self.fd, self.accept_waiting)

    def close(self) -> None:
        """Stop accepting and close the listening socket; accepted connections stay.

        Every connection the kernel has already completed waits in the backlog; closing
        the socket would reset each of them after its client sent a request. So they are
        accepted first, and answered like any other; a client that connects after this
        is refused at connect, which it can retry elsewhere."""
        if self.serving:
            self.serving = False
            self.loop.remove_reader(self.fd)
            self.accept_waiting(limit=self.backlog * 4)
            self.sock.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    def is_serving(self) -> bool:
        return self.serving

    async def start_serving(self) -> None:
        return

    async def serve_forever(self) -> None:
        raise NotImplementedError("the application runner serves; this only accepts")

    async def wait_closed(self) -> None:
        """Until the connections taken at close have their transports."""
        if self.starting:
            await asyncio.gather(*self.starting, return_exceptions=True)


# --- 3. glibc returns zlib's freed deflate state to the kernel after every token ---
#
# Upstream: glibc malloc (any version with a 128 KiB default M_TRIM_THRESHOLD). zlib
# allocates about 256 KiB of deflate state for each 007 token and frees it at once; when
# that block is the top of the heap, glibc hands it back to the kernel on every free, and
# the next token faults it in again.
# Worth (bench/README.md, "The allocator"): zlib.compress of a token 62 us instead of 8 us,
# about 12,000 tokens/s instead of 30,000 on one core. Re-measured (2026-12-01, 2 shared
# cores) through the in-process harness of bench/instructions.py, 5,300 POST
# /fetch_rtc_token in one process: with it 3.13 s and 3.35 s, 12,500 minor page faults
# (2.4 per request); without it 3.77 s and 3.94 s (+18 %), 23,500 and 108,000 faults.
# Measure again: `RATE_LIMIT_ADDRESS_RATE=0 /usr/bin/time -f "%e s %R minor faults"
#   .venv/bin/python bench/instructions.py --child fetch_rtc_token 5000`, then the same
#   with MALLOC_TRIM_THRESHOLD_=131072 (glibc's default, which keep_freed_memory honours).
# Delete when: the service no longer compresses per token (006 tokens only), or glibc's
#   allocator stops trimming a block freed right after it was allocated.

# glibc's mallopt parameter, and the threshold we set (glibc's default is 128 KiB).
M_TRIM_THRESHOLD = -1
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def keep_freed_memory() -> None:
    """Stop glibc from handing the top of the heap back to the kernel after every token
    (see above). An operator's own MALLOC_TRIM_THRESHOLD_ wins."""
    if not sys.platform.startswith("linux") or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


# --- 4. prometheus-client writes each observation through a lock and an mmap write ---
#
# Upstream: prometheus-client 0.26 in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set
# with --workers 2 or more): every Counter.inc and each of the two writes inside
# Histogram.observe takes a lock, calls getpid and writes the mmap'd file, and there is no
# public way to add many observations to a histogram at once.
# Worth: Histogram.observe costs 17.3k instructions and Counter.inc 8.9k (valgrind, one
# labelled child, multiprocess mode). Observing every request's latency would add 17k
# instructions per request: 5.6 % of GET /healthz (303k), 3.3 % of POST /token (518k).
# So latencies are tallied per process, written as two hidden counters with the public
# .inc(n) once a second (service.metrics.PendingSamples), and shown as the histogram
# when scraped (this collector; the exposition is the one Histogram gives).
# Measure again: `.venv/bin/python bench/instructions.py healthz` against a copy whose
#   PendingSamples.request_answered calls LATENCY_HISTOGRAM.labels(route).observe(seconds)
#   (a plain prometheus_client Histogram) instead of tallying.
# Delete when: prometheus-client can add a batch of observations to a histogram through
#   its public API, or its multiprocess writes cost less than 5 % of /healthz.

INF = float("inf")


class TalliedHistogram:
    """A histogram (name, documentation, labels, buckets as Histogram takes them) whose
    observations arrive in batches: add() writes, per label values, how many fell in each
    bucket and their sum, to two counters of its own; collect() and expose() show them
    as the histogram, in one process (REGISTRY) and across workers (MultiProcessCollector).
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.bounds = (*sorted(float(bound) for bound in buckets if bound != INF), INF)
        # The `le` label of each bucket, as prometheus-client's Histogram writes it.
        self.le = tuple("+Inf" if bound == INF else repr(bound) for bound in self.bounds)
        self.counts = Counter(
            f"{name}_bucket_tally", documentation, [*labelnames, "le"], registry=None
        )
        self.sums = Counter(f"{name}_sum_tally", documentation, labelnames, registry=None)
        self.tallies = {self.counts_name: self.counts, self.sums_name: self.sums}
        if registry is not None:
            registry.register(self)

    @property
    def counts_name(self) -> str:
        return f"{self.name}_bucket_tally"

    @property
    def sums_name(self) -> str:
        return f"{self.name}_sum_tally"

    def add(self, labels: tuple[str, ...], in_bucket: list[int], seconds: float) -> None:
        """Observations: how many fell in each of `bounds` (one count per bound), and
        their sum."""
        for le, count in zip(self.le, in_bucket, strict=True):
            if count:
                self.counts.labels(*labels, le).inc(count)
        self.sums.labels(*labels).inc(seconds)

    def collect(self) -> Iterator[Metric]:
        """In one process: the histogram from this process's counters."""
        yield self.histogram([*self.counts.collect(), *self.sums.collect()])

    def expose(self, families: Iterable[Metric]) -> Iterator[Metric]:
        """`families` (as a MultiProcessCollector gives them) with the two counters
        replaced by the histogram they tally."""
        tallies = []
        for family in families:
            if family.name in self.tallies:
                tallies.append(family)
            else:
                yield family
        yield self.histogram(tallies)

    def histogram(self, tallies: Iterable[Metric]) -> HistogramMetricFamily:
        counts: dict[tuple[str, ...], list[float]] = {}
        sums: dict[tuple[str, ...], float] = {}
        position = {le: index for index, le in enumerate(self.le)}
        for family in tallies:
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue  # _created
                labels = tuple(sample.labels[name] for name in self.labelnames)
                if family.name == self.counts_name:
                    row = counts.setdefault(labels, [0.0] * len(self.le))
                    row[position[sample.labels["le"]]] += sample.value
                else:
                    sums[labels] = sums.get(labels, 0.0) + sample.value
        histogram = HistogramMetricFamily(
            self.name, self.documentation, labels=list(self.labelnames)
        )
        for labels in sorted(counts.keys() | sums.keys()):
            row = counts.get(labels, [0.0] * len(self.le))
            cumulative = list(itertools.accumulate(row))
            histogram.add_metric(
                list(labels), list(zip(self.le, cumulative, strict=True)), sums.get(labels, 0.0)
            )
        return histogram


class Exposed:
    """A collector showing `source`'s metrics with each tallied histogram's counters
    replaced by that histogram (for MultiProcessCollector's view of every worker)."""

    def __init__(self, source: Any, histograms: Iterable[TalliedHistogram]) -> None:
        self.source, self.histograms = source, tuple(histograms)

    def collect(self) -> Iterator[Metric]:
        families: Iterable[Metric] = self.source.collect()
        for histogram in self.histograms:
            families = histogram.expose(families)
        yield from families
