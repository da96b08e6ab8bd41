"""Several worker processes on one port, managed by gunicorn.

gunicorn is the established process manager for aiohttp (aiohttp ships its worker class):
it forks N workers, restarts a worker that dies without disturbing the others, and turns
SIGTERM into a graceful stop of every worker, which then drains through DrainingRunner
like a single process does.

On Linux each worker listens on a SO_REUSEPORT socket of its own (gunicorn's reuse_port:
the master binds nothing, each worker binds after the fork), so the kernel spreads new
connections evenly. With one shared socket, whichever worker wakes first accepts a whole
burst: 256 connections opened at once under load were split 98/158 or 72/184 (123/133 with
a socket each), and one worker held more of the waiting clients (bench/README.md).
"""

from __future__ import annotations

import functools
import math
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import worker as aiohttp_worker
from aiohttp.worker import GunicornUVLoopWebWorker
from gunicorn.app.base import BaseApplication

from service.app import create_app
from service.config import Settings
from service.server import LISTEN_BACKLOG, AcceptingSite, DrainingRunner, prepare

# Seconds gunicorn's master gives a worker beyond SHUTDOWN_TIMEOUT before killing it.
GRACE_MARGIN = 5.0


# Whether the kernel spreads connections over sockets sharing a port (Linux 3.9+).
BALANCED_LISTENERS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class ServiceWorker(GunicornUVLoopWebWorker):
    """aiohttp's uvloop worker, serving gunicorn's sockets through AcceptingSite (every
    waiting connection accepted at once; see server.new_event_loop) with gunicorn's
    listen backlog."""

    def init_process(self) -> None:
        # aiohttp's worker starts its sites with aiohttp's default backlog of 128, which
        # overrides the socket's: a burst of 256 new connections overflowed it, and the
        # dropped ones were retried a second later (p99 1.2 s). This process only.
        aiohttp_worker.web.SockSite = functools.partial(  # type: ignore[attr-defined]
            AcceptingSite, backlog=self.cfg.backlog
        )
        super().init_process()


class ServiceApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, *, metrics_dir: str | None) -> None:
        self._settings = settings
        self._metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        settings = self._settings
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
            "child_exit": self._child_exit,
            "on_exit": self._on_exit,
        }
        for key, value in config.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[DrainingRunner]]:
        settings = self._settings

        async def runner() -> DrainingRunner:
            prepare(settings)  # in each worker, after the fork
            return DrainingRunner(
                create_app(settings),
                grace=settings.shutdown_timeout,
                keepalive_timeout=settings.keepalive_timeout,
            )

        return runner

    @staticmethod
    def _child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def _on_exit(self, server: Any) -> None:
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)


def run_workers(settings: Settings, *, metrics_dir: str | None) -> None:
    ServiceApplication(settings, metrics_dir=metrics_dir).run()
