"""SIGHUP re-reads APPS_FILE: apps are added, changed and removed while requests keep
being answered, in one process and with several workers; a broken file keeps the old set."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import running_service

pytestmark = pytest.mark.slow

ALPHA = """
[apps.alpha.agora]
app_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
app_certificate = "{certificate}"
"""
BETA = """
[apps.beta.agora]
app_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
app_certificate = "22222222222222222222222222222222"
"""
BODY = json.dumps({"uid": 1, "channelName": "demo", "role": 1})


def _post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", path, BODY, {"Content-Type": "application/json", "Connection": "close"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def _wait_for(port: int, path: str, status: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _post(port, path) == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never answered {status}")


class _Load:
    """Requests for an app that stays, one after another, until stopped."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.statuses.append(_post(self.port, self.path))
            except OSError as error:
                self.statuses.append(type(error).__name__)

    def stop(self) -> list[int | str]:
        self._stop.set()
        self._thread.join(timeout=20)
        return self.statuses


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_adds_changes_and_removes_apps_under_load(tmp_path: Path, workers: str) -> None:
    apps_file = tmp_path / "apps.toml"
    apps_file.write_text(ALPHA.format(certificate="1" * 32))
    # One client address sends every request: no address limit gets in the way.
    service = running_service(
        "--workers", workers, APPS_FILE=str(apps_file), RATE_LIMIT_ADDRESS_RATE="0"
    )
    with service as (port, process):
        _wait_for(port, "/apps/alpha/fetch_rtc_token", 200)
        assert _post(port, "/apps/beta/fetch_rtc_token") == 404
        load = _Load(port, "/apps/alpha/fetch_rtc_token")
        try:
            # Add beta, and change alpha's certificate.
            apps_file.write_text(ALPHA.format(certificate="3" * 32) + BETA)
            process.send_signal(signal.SIGHUP)
            _wait_for(port, "/apps/beta/fetch_rtc_token", 200)
            # A broken file keeps the current set.
            apps_file.write_text("[apps.alpha.agora]\napp_id = 'not hex'\n")
            process.send_signal(signal.SIGHUP)
            time.sleep(1.5)
            assert _post(port, "/apps/beta/fetch_rtc_token") == 200
            # Remove beta.
            apps_file.write_text(ALPHA.format(certificate="3" * 32))
            process.send_signal(signal.SIGHUP)
            _wait_for(port, "/apps/beta/fetch_rtc_token", 404)
        finally:
            statuses = load.stop()
        assert process.poll() is None
    assert len(statuses) > 20
    assert set(statuses) == {200}, sorted(set(map(str, statuses)))
