"""Real browsers as clients: headless Chromium driven by Playwright (playwright-core from
npm, Debian's chromium) against the running service."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit.api import TokenVerifier

from service.livekit.settings import DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET
from tests.helpers import ORACLE_DIR, free_port, running_service

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser(node: str) -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: apt-get install chromium")
    if not (ORACLE_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.skip("playwright-core is not installed: npm ci --prefix tests/oracle")
    return node


def _drive(node: str, *args: str) -> Any:
    done = subprocess.run(
        [node, str(ORACLE_DIR / "browser.js"), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@contextlib.contextmanager
def other_origin(files: dict[str, str | bytes]) -> Iterator[str]:
    """Static pages from another origin (another port on 127.0.0.1)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (Path(folder) / name).write_bytes(data)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
        handler.log_message = lambda *args: None  # type: ignore[attr-defined]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def _fetching_page(service: str) -> str:
    # application/json makes this a non-simple request: the browser sends a preflight.
    return f"""<!doctype html><script>
fetch("{service}/v1/agora/rtc-token", {{
  method: "POST",
  headers: {{"Content-Type": "application/json", "X-Client": "browser-test"}},
  body: JSON.stringify({{channel: "demo", uid: 42, role: "subscriber"}})
}}).then(r => r.json()).then(
  answer => {{ window.__result = {{ok: true, token: answer.token}} }},
  error => {{ window.__result = {{ok: false, error: String(error)}} }});
</script>"""


def _pages(port: int) -> dict[str, str | bytes]:
    return {"index.html": _fetching_page(f"http://127.0.0.1:{port}")}


def test_the_playground_mints_and_decodes_a_token_for_each_platform(
    browser: str, tmp_path: Path
) -> None:
    with running_service() as (port, _):
        results = _drive(
            browser,
            "playground",
            f"http://127.0.0.1:{port}/playground",
            str(tmp_path / "playground.png"),
        )
    rtc = results["agora"]["services"][0]
    assert (rtc["name"], rtc["channel"], rtc["uid"]) == ("rtc", "demo", "42")
    assert set(rtc["privileges"]) == {
        "join_channel",
        "publish_audio_stream",
        "publish_video_stream",
        "publish_data_stream",
    }
    names = {
        kind: [service["name"] for service in results[kind]["services"]]
        for kind in ("agora-rtm", "agora-convoai", "agora-stt", "agora-apaas", "agora-fpa")
    }
    assert names == {
        "agora-rtm": ["rtm"],
        "agora-convoai": ["rtc", "rtm", "convoai"],
        "agora-stt": ["rtc", "rtm", "stt"],
        "agora-apaas": ["rtm", "chat", "apaas"],
        "agora-fpa": ["fpa"],
    }
    apaas = results["agora-apaas"]["services"][2]
    assert (apaas["room_uuid"], apaas["user_uuid"]) == ("demo", "42")
    assert (results["livekit"]["sub"], results["livekit"]["video"]["room"]) == ("42", "demo")
    assert (results["videosdk"]["participantId"], results["videosdk"]["roomId"]) == ("42", "demo")
    assert results["countdown"].endswith(" s")
    assert (tmp_path / "playground.png").stat().st_size > 10_000


def test_a_page_from_an_allowed_origin_gets_tokens_through_cors(browser: str) -> None:
    with running_service() as (port, _), other_origin(_pages(port)) as origin:
        result = _drive(browser, "page", f"{origin}/index.html")
    assert result["ok"] is True and result["token"].startswith("007")


def test_a_page_from_an_origin_not_listed_is_blocked_by_the_browser(browser: str) -> None:
    restricted = running_service(CORS_ALLOW_ORIGINS="https://app.example.com")
    with restricted as (port, _), other_origin(_pages(port)) as origin:
        result = _drive(browser, "page", f"{origin}/index.html")
    assert result["ok"] is False
    assert "Failed to fetch" in result["error"]


def test_livekits_browser_client_gets_connection_details_through_token_source(browser: str) -> None:
    script = (
        ORACLE_DIR / "node_modules" / "livekit-client" / "dist" / "livekit-client.umd.js"
    ).read_bytes()
    with running_service() as (port, _):
        endpoint = f"http://127.0.0.1:{port}/v1/livekit/connection-details"
        page = f"""<!doctype html><script src="livekit-client.umd.js"></script><script>
LivekitClient.TokenSource.endpoint("{endpoint}")
  .fetch({{roomName: "room1", participantIdentity: "alice", agentName: "my-agent"}})
  .then(details => {{ window.__result = {{
          ok: true, serverUrl: details.serverUrl, token: details.participantToken}} }},
        error => {{ window.__result = {{ok: false, error: String(error)}} }});
</script>"""
        with other_origin({"index.html": page, "livekit-client.umd.js": script}) as origin:
            result = _drive(browser, "page", f"{origin}/index.html")
    assert result["ok"] is True, result
    assert result["serverUrl"] == "ws://localhost:7880"
    claims = TokenVerifier(DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET).verify(result["token"])
    assert claims.identity == "alice"
    assert claims.video is not None and claims.video.room == "room1"
    assert claims.room_config is not None and claims.room_config.agents[0].agent_name == "my-agent"


def test_chromium_is_where_the_tests_expect_it() -> None:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: apt-get install chromium")
    assert Path(CHROMIUM).exists()
