"""Several worker processes on one port, managed by gunicorn.

gunicorn is the established process manager for aiohttp: it forks N workers, restarts a
worker that dies without disturbing the others, and turns SIGTERM into a graceful stop of
every worker, which then drains through DrainingRunner like a single process does. The
worker class is written on gunicorn's base for custom workers; nothing of aiohttp's own
worker module is used or patched.

On Linux each worker listens on a SO_REUSEPORT socket of its own (gunicorn's reuse_port:
the master binds nothing, each worker binds after the fork), so the kernel spreads new
connections evenly. With one shared socket, whichever worker wakes first accepts a whole
burst: 256 connections opened at once under load were split 98/158 or 72/184 (123/133 with
a socket each), and one worker held more of the waiting clients (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import FrameType
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker

from service.app import create_app
from service.apps import AppRegistry
from service.config import Settings
from service.server import LISTEN_BACKLOG, DrainingRunner, new_event_loop, prepare

# Seconds gunicorn's master gives a worker beyond SHUTDOWN_TIMEOUT before killing it.
GRACE_MARGIN = 5.0
# How often a worker tells gunicorn's master it is alive (its timeout is 30 s).
HEARTBEAT_SECONDS = 1.0


# Whether the kernel spreads connections over sockets sharing a port (Linux 3.9+).
BALANCED_LISTENERS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class ServiceWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker (on gunicorn's documented base class for custom workers) running
    the application on uvloop: gunicorn's sockets are served by DrainingRunner.listen
    (every waiting connection accepted at once) with gunicorn's listen backlog.

    Signals, as gunicorn's master sends them: SIGTERM, SIGQUIT and SIGINT stop accepting
    and drain the requests in flight (DrainingRunner.cleanup, within SHUTDOWN_TIMEOUT; the
    master kills a worker still alive after graceful_timeout); SIGUSR1 reopens log files;
    SIGABRT (the master's timeout) exits at once; SIGWINCH is ignored.
    """

    loop: asyncio.AbstractEventLoop
    stopping: asyncio.Event
    exit_code = 0

    def init_process(self) -> None:
        # A fresh loop after the fork, before gunicorn's init_process sets up signals
        # (through it) and calls run().
        self.loop = new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        super().init_process()

    def init_signals(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        handlers: dict[int, Callable[[int, FrameType | None], None]] = {
            signal.SIGTERM: self.handle_exit,
            signal.SIGQUIT: self.handle_quit,
            signal.SIGINT: self.handle_quit,
            signal.SIGUSR1: self.handle_usr1,
            signal.SIGWINCH: self.handle_winch,
            signal.SIGABRT: self.handle_abort,
        }
        for signum, handler in handlers.items():
            self.loop.add_signal_handler(signum, handler, signum, None)
        # A request in a system call is not interrupted by SIGTERM or SIGUSR1.
        signal.siginterrupt(signal.SIGTERM, False)
        signal.siginterrupt(signal.SIGUSR1, False)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.alive = False
        self.stopping.set()

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        # gunicorn's own worker exits at once; this one drains as on SIGTERM, which the
        # master bounds by graceful_timeout.
        self.cfg.worker_int(self)
        self.handle_exit(sig, frame)

    def handle_abort(self, sig: int, frame: FrameType | None) -> None:
        self.alive = False
        self.exit_code = 1
        self.cfg.worker_abort(self)
        sys.exit(1)

    def run(self) -> None:
        # Booted only once the sockets are served: a worker that fails before that makes
        # gunicorn's master stop instead of starting workers again and again.
        self.booted = False
        try:
            self.loop.run_until_complete(self.serve())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
        sys.exit(self.exit_code)

    async def serve(self) -> None:
        runner = await self.wsgi()
        await runner.setup()
        try:
            self.listen(runner)
            self.booted = True
            parent = os.getppid()
            while self.alive:
                self.notify()
                if os.getppid() != parent:
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
                if runner.server is not None and runner.server.requests_count > self.max_requests:
                    self.log.info("Max requests, shutting down: %s", self)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), HEARTBEAT_SECONDS)
        finally:
            self.alive = False
            await runner.cleanup()

    def listen(self, runner: DrainingRunner) -> None:
        """Serve gunicorn's sockets (each worker's own, with reuse_port) through the
        runner, with gunicorn's backlog (aiohttp's worker would set its own 128: a burst
        of 256 new connections overflowed it, and the dropped ones retried a second
        later, p99 1.2 s)."""
        for sock in self.sockets:
            runner.listen(sock, backlog=self.cfg.backlog)


class ServiceApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, *, metrics_dir: str | None) -> None:
        self.service_settings = settings
        self.metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        settings = self.service_settings
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        config: dict[str, Any] = {
            "bind": f"{host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": "service.workers.ServiceWorker",
            "backlog": LISTEN_BACKLOG,
            # Elsewhere (macOS, BSD) SO_REUSEPORT does not spread connections.
            "reuse_port": BALANCED_LISTENERS,
            "graceful_timeout": math.ceil(settings.shutdown_timeout + GRACE_MARGIN),
            "timeout": 30,
            "accesslog": None,  # our middleware logs each request
            "loglevel": "warning",
            "child_exit": self.mark_worker_dead,
            "on_exit": self.remove_metrics_dir,
        }
        for key, value in config.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[DrainingRunner]]:
        settings = self.service_settings

        async def runner() -> DrainingRunner:
            prepare(settings)  # in each worker, after the fork
            return DrainingRunner(
                create_app(settings),
                grace=settings.shutdown_timeout,
                keepalive_timeout=settings.keepalive_timeout,
            )

        return runner

    def reload(self) -> None:
        """SIGHUP to the master: gunicorn reloads its configuration, then starts new
        workers and stops the old ones gracefully (each drains). The new workers are
        built from APPS_FILE read again here; a file that does not load keeps the current
        apps, and the reason is logged."""
        super().reload()
        settings = self.service_settings
        registry = AppRegistry(settings.apps(), settings.apps_reader)
        if registry.reload():
            self.service_settings = replace(settings, file_apps=registry.current)
        self.callable = None  # each new worker builds its application from these settings

    @staticmethod
    def mark_worker_dead(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def remove_metrics_dir(self, server: Any) -> None:
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def run_workers(settings: Settings, *, metrics_dir: str | None) -> None:
    ServiceApplication(settings, metrics_dir=metrics_dir).run()
