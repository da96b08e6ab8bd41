"""Running the application: one process, or several behind one port with gunicorn.

Shutdown drains, in both modes: on SIGTERM the process reports not-ready on /readyz, stops
accepting connections, and waits up to SHUTDOWN_TIMEOUT seconds for every request in
flight (even one whose body is still arriving) before it closes the rest and exits 0.
aiohttp's own graceful shutdown stops reading request bodies at once, so the wait happens
in DrainingRunner.cleanup, before aiohttp's.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import gc
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import uvloop
from aiohttp import web

from service.app import create_app
from service.config import Settings
from service.context import HEAD_DEADLINES, LIFECYCLE, HeadDeadlines
from service.logs import configure_logging, flush_logs, get_logger
from service.middlewares import SERVER_NAME
from service.responses import dump_json

log = get_logger("service")


_PARSE_ERROR_CODES = {400: "malformed_request", 413: "body_too_large", 431: "headers_too_large"}


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
        code = _PARSE_ERROR_CODES.get(status, "internal_error" if status >= 500 else "http_error")
        text = "the request could not be read as HTTP" if status < 500 else "internal error"
        body = {"error": code, "message": text, "field": None, "request_id": ""}
        response = web.Response(
            status=status, body=dump_json(body), content_type="application/json"
        )
        response.headers["Server"] = SERVER_NAME
        response.force_close()
        return response


class DrainingRunner(web.AppRunner):
    def __init__(
        self, app: web.Application, *, grace: float, keepalive_timeout: float = 30.0
    ) -> None:
        # What each connection's QuietRequestHandler is built with (AcceptingSite).
        self.handler_kwargs: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": keepalive_timeout,
        }
        super().__init__(app, handle_signals=False, **self.handler_kwargs)
        self._grace = grace

    async def setup(self) -> None:
        await super().setup()
        # What exists now (modules, settings, the application: some 200,000 objects)
        # lives as long as the process. Kept out of the collector's full passes, which
        # would otherwise walk all of it while every request in flight waits.
        gc.freeze()

    async def cleanup(self) -> None:
        lifecycle = self.app[LIFECYCLE] if self.app is not None else None
        if lifecycle is not None:
            lifecycle.ready = False
            log.info("draining", in_flight=lifecycle.in_flight, timeout=self._grace)
            listeners = [
                site.listener
                for site in self.sites
                if isinstance(site, AcceptingSite) and site.listener is not None
            ]
            for listener in listeners:
                # Close only the listening socket; open connections are still read.
                listener.close()
            for listener in listeners:
                await listener.wait_closed()
            # The connections taken from the backlog sent their requests with their
            # handshakes: a moment lets those requests start before idleness is judged.
            await asyncio.sleep(BACKLOG_SETTLE_SECONDS)
            if not await lifecycle.wait_idle(self._grace):
                log.warning("shutdown timeout reached; closing", in_flight=lifecycle.in_flight)
        await super().cleanup()
        flush_logs()


# Connections the kernel holds for accept(), as gunicorn's default.
LISTEN_BACKLOG = 2048
# After the last connections are taken from the backlog at shutdown, how long their
# already-sent requests get to start before the drain waits for requests in flight.
BACKLOG_SETTLE_SECONDS = 0.2
# Seconds to stop accepting after accept() fails for want of descriptors or memory, as
# asyncio's own server does, rather than spin on a socket that stays readable.
ACCEPT_PAUSE = 1.0


class AcceptingListener(asyncio.AbstractServer):
    """A listening socket whose waiting connections are all accepted each time it turns
    readable (up to the backlog), each handed to the event loop as an accepted socket.

    uvloop's own server accepts one connection per turn of the loop (see new_event_loop):
    a burst of new clients to a busy worker waited up to 1.4 s for a first answer.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        deadlines: HeadDeadlines | None = None,
    ) -> None:
        self._loop, self._sock, self._factory, self._backlog = loop, sock, protocol_factory, backlog
        self._deadlines = deadlines
        self._fd = sock.fileno()
        self._serving = True
        self._starting: set[asyncio.Task[object]] = set()
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(self._fd, self._accept_waiting)

    def _accept_waiting(self, limit: int | None = None) -> None:
        for _ in range(self._backlog if limit is None else limit):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as error:
                log.warning("accept failed; pausing", error=str(error), pause=ACCEPT_PAUSE)
                self._loop.remove_reader(self._fd)
                self._loop.call_later(ACCEPT_PAUSE, self._resume)
                return
            task = self._loop.create_task(self._connect(connection))
            self._starting.add(task)
            task.add_done_callback(self._started)

    async def _connect(self, connection: socket.socket) -> None:
        transport, _ = await self._loop.connect_accepted_socket(self._factory, connection)
        if self._deadlines is not None:
            self._deadlines.connected(transport)

    def _started(self, task: asyncio.Task[object]) -> None:
        self._starting.discard(task)
        if not task.cancelled():
            # Retrieved so asyncio does not report it: a client that reset its connection
            # before its transport existed has nothing to be answered.
            task.exception()

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._fd, self._accept_waiting)

    def close(self) -> None:
        """Stop accepting and close the listening socket; accepted connections stay.

        Every connection the kernel has already completed waits in the backlog; closing
        the socket would reset each of them after its client sent a request. So they are
        accepted first, and answered like any other; a client that connects after this
        is refused at connect, which it can retry elsewhere."""
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._fd)
            self._accept_waiting(limit=self._backlog * 4)
            self._sock.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return

    async def serve_forever(self) -> None:
        raise NotImplementedError("the application runner serves; this only accepts")

    async def wait_closed(self) -> None:
        """Until the connections taken at close have their transports."""
        if self._starting:
            await asyncio.gather(*self._starting, return_exceptions=True)


class AcceptingSite(web.SockSite):
    """aiohttp's site on a bound socket, served through an AcceptingListener."""

    listener: AcceptingListener | None = None

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None  # the runner is set up before its sites start
        loop = asyncio.get_running_loop()
        app = self._runner.app if isinstance(self._runner, web.AppRunner) else None
        deadlines = app.get(HEAD_DEADLINES) if app is not None else None
        factory: Callable[[], asyncio.BaseProtocol] = server
        if isinstance(self._runner, DrainingRunner):
            factory = functools.partial(
                QuietRequestHandler, server, loop=loop, **self._runner.handler_kwargs
            )
        self.listener = AcceptingListener(loop, self._sock, factory, self._backlog, deadlines)
        self._server = self.listener


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for every address `host` names (both for "localhost"), as asyncio's
    create_server binds them: address reuse on, IPv6 sockets IPv6-only, and an address
    family the machine has disabled skipped."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                sock.close()
                if error.errno == errno.EADDRNOTAVAIL:
                    continue
                raise OSError(
                    error.errno, f"cannot listen on {address[0]} port {port}: {error.strerror}"
                ) from None
            sockets.append(sock)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(errno.EADDRNOTAVAIL, f"no address of {host!r} can be listened on")
    return sockets


# glibc's mallopt parameter, and the threshold we set (glibc's default is 128 KiB).
_M_TRIM_THRESHOLD = -1
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def keep_freed_memory() -> None:
    """Stop glibc from handing the top of the heap back to the kernel after every token.

    zlib allocates about 256 KiB of deflate state for each 007 token and frees it at once.
    When that block is the top of the heap, glibc's default trim threshold (128 KiB)
    returns it to the kernel on every free, and the next token faults it in again: 62 us
    per compress instead of 8 us, measured in bench/README.md. A 4 MiB threshold keeps
    it; an operator's own MALLOC_TRIM_THRESHOLD_ wins.
    """
    if not sys.platform.startswith("linux") or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def prepare(settings: Settings) -> None:
    """What every serving process does first: its allocator, logging, start-up notices."""
    keep_freed_memory()
    configure_logging(settings.log_format, settings.log_level)
    # PyJWT warns on every short HMAC key; the start-up line below says it once.
    warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


def announce(settings: Settings) -> None:
    if settings.made_up:
        log.warning(
            "development credentials in use; never use --dev in production",
            made_up=list(settings.made_up),
        )
    if settings.access.mode == "none" and not settings.dev:
        log.warning(
            "SECURITY: AUTH_MODE=none - anyone who reaches this service gets tokens for any "
            "room under any identity. Set AUTH_MODE=api-key or AUTH_MODE=jwt before exposing it."
        )
    livekit = settings.livekit
    if "LIVEKIT_API_SECRET" not in settings.made_up:
        for key in livekit.short_secret_keys:
            # LiveKit server warns the same way; OpenVidu's local `secret` is 6 characters.
            log.warning("LiveKit API secret is shorter than 32 characters", api_key=key)
    agora = settings.agora
    log.info(
        "starting",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        agora="enabled" if agora.credentials else "disabled: set AGORA_APP_ID and certificate",
        agora_token_version=agora.token_version,
        agora_token_expire=agora.token_expire,
        livekit="enabled" if livekit.enabled else "disabled: set LIVEKIT_API_KEY and secret",
        livekit_keys=sorted(livekit.keys),
        livekit_signing_key=livekit.signing_key,
        videosdk="enabled" if settings.videosdk.enabled else "disabled",
        event_store="redis" if settings.events.redis_url else settings.events.db_path,
        trusted_proxies=[str(network) for network in settings.trusted_proxies],
        auth_mode=settings.access.mode,
        api_keys=len(settings.access.api_keys),
    )


async def serve(settings: Settings) -> None:
    runner = DrainingRunner(
        create_app(settings),
        grace=settings.shutdown_timeout,
        keepalive_timeout=settings.keepalive_timeout,
    )
    await runner.setup()
    try:
        # aiohttp's default backlog (128) overflowed under a burst of new connections.
        for sock in listening_sockets(settings.host, settings.port):
            await AcceptingSite(runner, sock, backlog=LISTEN_BACKLOG).start()
        log.info("listening", url=f"http://{settings.host}:{settings.port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    log.info("stopped")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop, in one process and in each gunicorn worker; its sites accept through an
    AcceptingListener.

    The libuv inside uvloop 0.23 accepts one new connection per turn of the loop, and
    under load a turn takes as long as answering every ready connection: a burst of 128
    new connections to a busy worker waited up to 1.4 s for a first answer. asyncio's own
    loop accepts them all at once but spends about 6 % more instructions per request; with
    accepting done here, uvloop does both (bench/README.md).
    """
    return uvloop.new_event_loop()


def run(settings: Settings) -> None:
    prepare(settings)
    announce(settings)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve(settings))
