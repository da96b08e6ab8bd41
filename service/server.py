"""Running the application: one process, or several behind one port with gunicorn.

Shutdown drains, in both modes: on SIGTERM the process reports not-ready on /readyz, stops
accepting connections, and waits up to SHUTDOWN_TIMEOUT seconds for every request in
flight (even one whose body is still arriving) before it closes the rest and exits 0.
aiohttp's own graceful shutdown stops reading request bodies at once, so the wait happens
in DrainingRunner.cleanup, before aiohttp's.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import signal
import socket
import warnings
from typing import Any

import jwt
import uvloop
from aiohttp import web

from service.app import create_app
from service.config import Settings
from service.context import APPS, FORWARDER, HEAD_DEADLINES, LIFECYCLE
from service.logs import configure_logging, flush_logs, get_logger
from service.workarounds import AcceptingListener, QuietRequestHandler, keep_freed_memory

# AcceptingListener, QuietRequestHandler and keep_freed_memory live in service.workarounds;
# importing them from here still works.
__all__ = [
    "LISTEN_BACKLOG",
    "AcceptingListener",
    "AcceptingSite",
    "DrainingRunner",
    "QuietRequestHandler",
    "announce",
    "keep_freed_memory",
    "listening_sockets",
    "new_event_loop",
    "prepare",
    "run",
    "serve",
]

log = get_logger("service")

# Connections the kernel holds for accept(), as gunicorn's default. aiohttp's default
# (128) overflowed under a burst of new connections.
LISTEN_BACKLOG = 2048
# After the last connections are taken from the backlog at shutdown, how long their
# already-sent requests get to start before the drain waits for requests in flight.
BACKLOG_SETTLE_SECONDS = 0.2


class DrainingRunner(web.AppRunner):
    """aiohttp's application runner, serving listening sockets it is handed (listen) and
    draining them at cleanup. No aiohttp site is involved: the runner's public `server`
    (aiohttp's protocol factory) answers the connections an AcceptingListener accepts."""

    def __init__(
        self, app: web.Application, *, grace: float, keepalive_timeout: float = 30.0
    ) -> None:
        # What each connection's QuietRequestHandler is built with (listen).
        self.handler_kwargs: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": keepalive_timeout,
        }
        super().__init__(app, handle_signals=False, **self.handler_kwargs)
        self.grace = grace
        self.listeners: list[AcceptingListener] = []

    async def setup(self) -> None:
        await super().setup()
        # What exists now (modules, settings, the application: some 200,000 objects)
        # lives as long as the process. Kept out of the collector's full passes, which
        # would otherwise walk all of it while every request in flight waits.
        gc.freeze()

    def listen(self, sock: socket.socket, *, backlog: int = LISTEN_BACKLOG) -> AcceptingListener:
        """Serve `sock`, a bound socket, from now on (after setup, inside the event loop):
        every waiting connection accepted at once, each answered by a QuietRequestHandler."""
        server = self.server
        if server is None:
            raise RuntimeError("DrainingRunner.listen before setup()")
        loop = asyncio.get_running_loop()
        factory = functools.partial(QuietRequestHandler, server, loop=loop, **self.handler_kwargs)
        deadlines = self.app.get(HEAD_DEADLINES)
        on_connected = deadlines.connected if deadlines is not None else None
        listener = AcceptingListener(loop, sock, factory, backlog, on_connected)
        self.listeners.append(listener)
        return listener

    async def cleanup(self) -> None:
        lifecycle = self.app.get(LIFECYCLE)
        if lifecycle is not None:
            lifecycle.ready = False
            log.info("draining", in_flight=lifecycle.in_flight, timeout=self.grace)
        listeners, self.listeners = self.listeners, []
        for listener in listeners:
            # Close only the listening socket; open connections are still read.
            listener.close()
        for listener in listeners:
            await listener.wait_closed()
        if lifecycle is not None:
            # The connections taken from the backlog sent their requests with their
            # handshakes: a moment lets those requests start before idleness is judged.
            await asyncio.sleep(BACKLOG_SETTLE_SECONDS)
            if not await lifecycle.wait_idle(self.grace):
                log.warning("shutdown timeout reached; closing", in_flight=lifecycle.in_flight)
        await super().cleanup()
        flush_logs()


class AcceptingSite:
    """What serve() and the gunicorn worker used before DrainingRunner.listen; kept for
    importers of the old name. Not an aiohttp site: `runner.listen(sock, backlog)`."""

    def __init__(
        self, runner: DrainingRunner, sock: socket.socket, *, backlog: int = LISTEN_BACKLOG
    ) -> None:
        self.runner, self.sock, self.backlog = runner, sock, backlog
        self.listener: AcceptingListener | None = None

    async def start(self) -> None:
        self.listener = self.runner.listen(self.sock, backlog=self.backlog)

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            await self.listener.wait_closed()


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


def reload_apps(app: web.Application) -> None:
    """SIGHUP: read APPS_FILE again and swap the apps in whole; the forwarders then follow
    the new set at once rather than at their next check."""
    if app[APPS].reload() and (forwarder := app.get(FORWARDER)) is not None:
        forwarder.wake()


async def serve(settings: Settings) -> None:
    runner = DrainingRunner(
        create_app(settings),
        grace=settings.shutdown_timeout,
        keepalive_timeout=settings.keepalive_timeout,
    )
    await runner.setup()
    try:
        for sock in listening_sockets(settings.host, settings.port):
            runner.listen(sock, backlog=LISTEN_BACKLOG)
        log.info("listening", url=f"http://{settings.host}:{settings.port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # SIGHUP: APPS_FILE is read again and swapped in whole (service/apps.py).
        if runner.app is not None:
            loop.add_signal_handler(signal.SIGHUP, functools.partial(reload_apps, runner.app))
        await stop.wait()
    finally:
        await runner.cleanup()
    log.info("stopped")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop, in one process and in each gunicorn worker: about 6 % fewer instructions
    per request than asyncio's loop (bench/README.md). Its listening sockets are read by
    an AcceptingListener (service/workarounds.py: uvloop accepts one connection per turn).
    """
    return uvloop.new_event_loop()


def run(settings: Settings) -> None:
    prepare(settings)
    announce(settings)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve(settings))
