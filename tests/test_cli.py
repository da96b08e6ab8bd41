"""The command line: serve (and its graceful shutdown), agora-token, inspect."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from service.agora import accesstoken2
from service.agora.settings import DEV_AGORA_APP_CERTIFICATE
from tests.helpers import APP_ID, CERTIFICATE, run_cli

pytestmark = pytest.mark.slow

CREDENTIALS = {"AGORA_APP_ID": APP_ID, "AGORA_APP_CERTIFICATE": CERTIFICATE}


def test_agora_token_prints_a_token_the_parser_accepts() -> None:
    done = run_cli(
        "agora-token", "rtc", "--channel", "demo", "--uid", "42", "--expire", "600", **CREDENTIALS
    )
    assert done.returncode == 0, done.stderr
    parsed = accesstoken2.parse_token(done.stdout.strip())
    assert parsed.verify_signature(CERTIFICATE)
    assert (parsed.expire, parsed.services[0].uid) == (600, "42")


def test_agora_token_json_shows_grants_and_renewal_time() -> None:
    done = run_cli(
        "agora-token", "--json", "rtm", "--user-id", "alice", "--expire", "120", **CREDENTIALS
    )
    answer = json.loads(done.stdout)
    assert answer["grants"] == {
        "rtm": {"user_id": "alice", "privileges": {"login": answer["issued_at"] + 120}}
    }
    assert answer["renew_at"] == answer["issued_at"] + 90


def test_agora_token_refuses_bad_input_with_one_line() -> None:
    done = run_cli("agora-token", "rtc", "--channel", "demo", "--uid", "4294967296", **CREDENTIALS)
    assert done.returncode == 2
    assert "4294967295" in done.stderr
    assert "Traceback" not in done.stderr


def test_agora_token_without_credentials_says_what_to_set() -> None:
    done = run_cli("agora-token", "chat", "--user-id", "alice")
    assert done.returncode == 2
    assert "AGORA_APP_ID" in done.stderr


def test_agora_token_with_dev_uses_development_credentials() -> None:
    done = run_cli("agora-token", "--dev", "chat", "--user-id", "alice")
    assert done.returncode == 0
    assert accesstoken2.parse_token(done.stdout.strip()).verify_signature(DEV_AGORA_APP_CERTIFICATE)


def _token() -> str:
    return accesstoken2.build_token(
        APP_ID,
        CERTIFICATE,
        issue_ts=1111111,
        expire=600,
        salt=1,
        services=[accesstoken2.rtc_service("demo", "", {1: 600})],
    )


def test_inspect_decodes_and_verifies_a_token() -> None:
    done = run_cli("inspect", _token(), "--certificate", CERTIFICATE)
    assert done.returncode == 0
    described = json.loads(done.stdout)
    assert described["signature"] == "valid"
    assert described["expires_at"] == 1111111 + 600
    assert described["services"][0]["privileges"]["join_channel"]["seconds"] == 600


def test_inspect_exits_1_when_the_signature_does_not_hold() -> None:
    done = run_cli("inspect", _token(), "--certificate", "0" * 32)
    assert done.returncode == 1
    assert json.loads(done.stdout)["signature"] == "invalid"


def test_inspect_takes_the_certificate_from_the_environment() -> None:
    done = run_cli("inspect", _token(), AGORA_APP_CERTIFICATE=CERTIFICATE)
    assert json.loads(done.stdout)["signature"] == "valid"


def test_inspect_says_a_garbage_token_is_not_a_token() -> None:
    done = run_cli("inspect", "007garbage")
    assert done.returncode == 2
    assert "not a valid Agora token" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_setting_stops_start_up_with_one_line_and_no_traceback() -> None:
    done = run_cli("serve", AGORA_APP_ID="nope", AGORA_APP_CERTIFICATE=CERTIFICATE)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "rtc-token-service: configuration error: "
        "AGORA_APP_ID: must be 32 hexadecimal characters, got 4 characters"
    )


def _raw_request(body: bytes) -> tuple[bytes, bytes]:
    head = (
        b"POST /fetch_rtc_token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    return head, body


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_python_dash_m_service_dev_serves_tokens(served: Any) -> None:
    port, _ = served
    head, body = _raw_request(json.dumps({"uid": 1, "channelName": "demo", "role": 1}).encode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "200"


def test_sigterm_drains_a_request_in_flight_before_exiting(served: Any) -> None:
    port, process = served
    head, body = _raw_request(json.dumps({"uid": 7, "channelName": "drain", "role": 2}).encode())
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body[:10])  # the request is now in flight, its body unfinished
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still draining
        with pytest.raises(OSError):  # and no longer accepting new connections
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        sock.sendall(body[10:])
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    token = json.loads(answer.split(b"\r\n\r\n", 1)[1])["token"]
    assert accesstoken2.parse_token(token).services[0].channel == "drain"
    assert process.wait(timeout=15) == 0


def test_an_event_store_that_cannot_be_opened_stops_start_up_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = run_cli("serve", "--dev", "--port", "0", EVENTS_DB_PATH=str(blocker / "events.sqlite3"))
    assert done.returncode == 2
    assert done.stderr.startswith("rtc-token-service: cannot start: cannot open the event store")
    assert "Traceback" not in done.stderr
