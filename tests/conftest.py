"""Shared fixtures: settings, a test client for the app with a fixed clock and salt, the
public Agora vectors, and Agora's official npm package as an oracle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from service.access.settings import AccessSettings
from service.agora.settings import AgoraSettings
from service.agora.tokens import AgoraCredentials
from service.app import create_app
from service.config import Settings
from service.livekit.settings import LiveKitSettings
from service.store.settings import EventSettings
from service.videosdk.settings import VideoSdkSettings

TESTS = Path(__file__).parent
ORACLE_DIR = TESTS / "oracle"

# The credentials behind nearly every public Agora test vector.
APP_ID = "970CA35de60c44645bbae8a215061b33"
CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"
NOW = 1_700_000_000
SALT = 12345


def agora_settings(**overrides: Any) -> AgoraSettings:
    base = AgoraSettings(credentials=AgoraCredentials(APP_ID, CERTIFICATE))
    return replace(base, **overrides)


# A LiveKit deployment with two keys, as during a key rotation; tokens are signed with
# the first. The second secret is as short as OpenVidu's local `secret`.
LIVEKIT_KEY = "APIrotationNew"
LIVEKIT_SECRET = "s3cr3t-new-0123456789abcdefghijklmnop"
LIVEKIT_OLD_KEY = "devkey"
LIVEKIT_OLD_SECRET = "secret"
LIVEKIT_URL = "wss://livekit.example.com"


def livekit_settings(**overrides: Any) -> LiveKitSettings:
    base = LiveKitSettings(
        keys={LIVEKIT_KEY: LIVEKIT_SECRET, LIVEKIT_OLD_KEY: LIVEKIT_OLD_SECRET},
        signing_key=LIVEKIT_KEY,
        url=LIVEKIT_URL,
    )
    return replace(base, **overrides)


VIDEOSDK_KEY = "1a82606a-6272-43eb-86bc-1b159c5d161b"
VIDEOSDK_SECRET = "videosdk-test-secret-0123456789abcdef0123"
# Nothing listens here: tests that reach VideoSDK point the endpoint at their fake API.
VIDEOSDK_UNREACHABLE = "http://127.0.0.1:9"


def videosdk_settings(**overrides: Any) -> VideoSdkSettings:
    base = VideoSdkSettings(
        api_key=VIDEOSDK_KEY, secret=VIDEOSDK_SECRET, endpoint=VIDEOSDK_UNREACHABLE
    )
    return replace(base, **overrides)


def make_settings(**overrides: Any) -> Settings:
    base = Settings(
        agora=agora_settings(),
        livekit=livekit_settings(),
        videosdk=videosdk_settings(),
        events=EventSettings(db_path=":memory:"),
        # Tests send hundreds of requests from one address; the rate-limit tests set theirs.
        access=AccessSettings(caller_limit=None, address_limit=None),
    )
    return replace(base, **overrides)


Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """A client for an app built from settings, with a fixed clock and salt unless given."""

    async def make(
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = lambda: NOW,
        salt: Callable[[], int] = lambda: SALT,
        token_ids: Callable[[], str] = lambda: "token-id",
    ) -> Client:
        app = create_app(settings or make_settings(), clock=clock, salt=salt, token_ids=token_ids)
        client: Client = await aiohttp_client(app)
        return client

    return make


async def preflight(
    client: Client, path: str, origin: str, *, request_headers: str = "content-type"
) -> ClientResponse:
    """What a browser sends before a cross-origin JSON POST."""
    return await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
    )


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((TESTS / "vectors" / "agora-public.json").read_text())
    return loaded


class Oracle:
    """Runs Agora's official `agora-token` npm package (tests/oracle/oracle.js)."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        completed = subprocess.run(
            [self.node, str(ORACLE_DIR / "oracle.js")],
            input=json.dumps(requests),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        answers: list[dict[str, Any]] = json.loads(completed.stdout)
        for answer in answers:
            assert "error" not in answer, answer
        return answers

    def parse(self, tokens: list[str], certificate: str = CERTIFICATE) -> list[dict[str, Any]]:
        return self.run([{"op": "parse", "token": t, "certificate": certificate} for t in tokens])


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the JavaScript clients and checks need it")
    return found


def run_node_client(node: str, script: str, *args: str) -> Any:
    """Run a client script from tests/clients and return the JSON it prints."""
    done = subprocess.run(
        [node, str(TESTS / "clients" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def oracle(node: str) -> Oracle:
    if not (ORACLE_DIR / "node_modules" / "agora-token").is_dir():
        pytest.skip("agora-token is not installed: run `npm ci --prefix tests/oracle`")
    return Oracle(node)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
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
        port = _free_port()
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--dev", "--port", str(port), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=environ_without_settings(SHUTDOWN_TIMEOUT="10", **environ),
            )
            try:
                _wait_until_listening(port, process)
                yield port, process
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait(timeout=10)


@pytest.fixture
def served() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    with running_service() as running:
        yield running


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real redis-server on 127.0.0.1 (append-only, in a temp dir): its URL and process."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    port = _free_port()
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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


async def wait_for(condition: Callable[[], bool], *, seconds: float = 15.0) -> None:
    """Wait until condition() holds; bounded, so a broken feature fails instead of hanging."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds} s")
        await asyncio.sleep(0.02)
