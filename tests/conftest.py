"""Shared fixtures: a test client for the app with a fixed clock and salt, the public Agora
vectors, Agora's official npm package as an oracle, the real service and redis-server.
Only fixtures and hooks live here; the helpers they use are in tests/helpers, which is
where test modules import them from."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

# Plain `assert`s in the helpers explain themselves in failures, as in test modules.
pytest.register_assert_rewrite("tests.helpers")

from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.logs import configure_logging  # noqa: E402
from tests.helpers import (  # noqa: E402
    NOW,
    ORACLE_DIR,
    SALT,
    TESTS,
    Client,
    MakeClient,
    Oracle,
    make_settings,
    redis_server,
    running_service,
)

# Fixtures that start a process or an external program; a test that uses one, directly or
# through another fixture, is marked slow. Tests that start one themselves are marked in
# their modules.
PROCESS_FIXTURES = frozenset({"node", "oracle", "served", "redis_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        parameters = set(callspec.params) if callspec is not None else set()
        fixtures = set(getattr(item, "fixturenames", ())) - parameters
        if fixtures & PROCESS_FIXTURES:
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((TESTS / "vectors" / "agora-public.json").read_text())
    return loaded


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the JavaScript clients and checks need it")
    return found


@pytest.fixture(scope="session")
def oracle(node: str) -> Oracle:
    if not (ORACLE_DIR / "node_modules" / "agora-token").is_dir():
        pytest.skip("agora-token is not installed: run `npm ci --prefix tests/oracle`")
    return Oracle(node)


@pytest.fixture
def served() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    with running_service() as running:
        yield running


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


@pytest.fixture
def json_logs() -> Iterator[io.BytesIO]:
    """The service's log lines as JSON in memory, for tests that read them; the console
    format comes back afterwards."""
    stream = io.BytesIO()
    saved = structlog.get_config()
    configure_logging("json", "info", stream=stream)
    yield stream
    configure_logging("console", "info")
    structlog.configure(**saved)
