"""Real processes for the tests: the service itself (`python -m service`), redis-server,
free ports for them, and bounded waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited during start-up"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("the service did not start listening")


def environ_without_settings(**extra: str) -> dict[str, str]:
    """This process's environment without any of the service's settings, plus `extra`."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGORA_", "LIVEKIT_", "VIDEOSDK_", "SERVER_", "LOG_"))
    }
    environ.update(extra)
    return environ


def run_cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m service ARGS` to completion, with only `extra` of the service's settings."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        env=environ_without_settings(**extra),
        timeout=60,
    )


@contextlib.contextmanager
def running_service(
    *args: str,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    **environ: str,
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """The real service, started as a user would: `python -m service --dev [args]`, with its
    event store in a fresh temporary folder unless EVENTS_DB_PATH is given. Its output goes
    to a file (`log_path`, if given), never to an unread pipe that could fill and stall it."""
    environ = {**(env or {}), **environ}
    with tempfile.TemporaryDirectory() as scratch:
        environ.setdefault("EVENTS_DB_PATH", os.path.join(scratch, "events.sqlite3"))
        log_path = log_path or Path(scratch) / "service.log"
        port = free_port()
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--dev", "--port", str(port), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=environ_without_settings(SHUTDOWN_TIMEOUT="10", **environ),
            )
            try:
                wait_until_listening(port, process)
                yield port, process
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real redis-server on 127.0.0.1 (append-only, in a temp dir): its URL and process."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", scratch,
             "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("redis-server did not start")
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=10)


async def wait_for(condition: Callable[[], bool], *, seconds: float = 15.0) -> None:
    """Wait until condition() holds; bounded, so a broken feature fails instead of hanging."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds} s")
        await asyncio.sleep(0.02)
