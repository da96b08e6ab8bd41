"""SIGHUP re-reads the files the environment names (the policy, LiveKit's key file) without
APPS_FILE too: in one process and with several workers, under load, with no failed
request; a broken file keeps the running configuration."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit.api import TokenVerifier

from tests.helpers import running_service

pytestmark = pytest.mark.slow


def _post(port: int, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            json.dumps(body),
            {"Content-Type": "application/json", "Connection": "close"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _rtc(port: int, channel: str) -> int:
    return _post(port, "/v1/agora/rtc-token", {"channel": channel, "uid": 1, "role": "publisher"})[
        0
    ]


def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("the reload never showed")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_reloads_the_policy_and_key_files_under_load(tmp_path: Path, workers: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[agora]\nchannels = ["a-*"]\n')
    keys = tmp_path / "keys.yaml"
    keys.write_text("APIold: old-secret-0123456789abcdefghijklmnop\n")
    service = running_service(
        "--workers",
        workers,
        POLICY_FILE=str(policy),
        LIVEKIT_KEY_FILE=str(keys),
        RATE_LIMIT_ADDRESS_RATE="0",
    )
    with service as (port, process):
        assert _rtc(port, "a-1") == 200
        assert _rtc(port, "b-1") == 403
        statuses: list[int] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                statuses.append(_rtc(port, "a-1"))

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        try:
            policy.write_text('[agora]\nchannels = ["a-*", "b-*"]\n')
            keys.write_text("APInew: new-secret-0123456789abcdefghijklmnop\n")
            process.send_signal(signal.SIGHUP)
            _until(lambda: _rtc(port, "b-1") == 200)
            _, answer = _post(port, "/v1/livekit/token", {"room": "r", "identity": "ann"})
            token = str(answer["token"])
            TokenVerifier("APInew", "new-secret-0123456789abcdefghijklmnop").verify(token)
            # A broken policy keeps the running one.
            policy.write_text("[agora]\nchannels = 3\n")
            process.send_signal(signal.SIGHUP)
            time.sleep(1.5)
            assert _rtc(port, "b-1") == 200
        finally:
            stop.set()
            thread.join(timeout=20)
        assert process.poll() is None
    assert len(statuses) > 20 and set(statuses) == {200}
