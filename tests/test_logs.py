"""Logging: the access line's JSON shape, batched writes that keep order, request ids."""

from __future__ import annotations

import asyncio
import io
import os
import re
from typing import Any

import orjson
import pytest
import structlog

from service.logs import CURRENT_REQUEST_ID, LineWriter, configure_logging, get_logger, log_request
from service.middlewares import RequestIds, new_request_id

# structlog and orjson both leave out the fraction when it is zero (as isoformat does).
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


def _lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_access_line_has_the_same_shape_as_every_other_json_line(json_logs: io.BytesIO) -> None:
    log_request(request_id="r1", method="GET", route="/healthz", status=200, duration_ms=0.1)
    get_logger("service").info("starting", port=6080)
    access, other = _lines(json_logs)
    assert access == {
        "logger_name": "service.access",
        "request_id": "r1",
        "method": "GET",
        "route": "/healthz",
        "status": 200,
        "duration_ms": 0.1,
        "event": "request",
        "level": "info",
        "timestamp": access["timestamp"],
    }
    assert ISO_UTC.fullmatch(access["timestamp"])
    assert ISO_UTC.fullmatch(other["timestamp"])
    assert (other["logger_name"], other["level"]) == ("service", "info")


def test_access_lines_are_not_written_when_the_level_is_above_info() -> None:
    stream = io.BytesIO()
    saved = structlog.get_config()
    configure_logging("json", "warning", stream=stream)
    try:
        log_request(request_id="r1", method="GET", route="/healthz", status=200)
        assert stream.getvalue() == b""
    finally:
        configure_logging("console", "info")
        structlog.configure(**saved)


def test_lines_logged_while_handling_a_request_carry_its_id(json_logs: io.BytesIO) -> None:
    token = CURRENT_REQUEST_ID.set("req-42")
    try:
        get_logger("service.events").info("webhook event", event_id="e1")
    finally:
        CURRENT_REQUEST_ID.reset(token)
    get_logger("service.events").info("after the request")
    inside, after = _lines(json_logs)
    assert inside["request_id"] == "req-42"
    assert "request_id" not in after


async def test_lines_inside_the_event_loop_are_written_together_after_the_interval() -> None:
    stream = io.BytesIO()
    writer = LineWriter(stream, interval=0.05)
    writer.write(b"one\n")
    writer.write(b"two\n")
    assert stream.getvalue() == b""
    await asyncio.sleep(0.2)
    assert stream.getvalue() == b"one\ntwo\n"


async def test_an_urgent_line_is_written_at_once_after_the_pending_ones() -> None:
    stream = io.BytesIO()
    writer = LineWriter(stream, interval=60)
    writer.write(b"request\n")
    writer.write(b"error\n", urgent=True)
    assert stream.getvalue() == b"request\nerror\n"


async def test_warnings_are_written_at_once(json_logs: io.BytesIO) -> None:
    log_request(request_id="r1", method="GET", route="/healthz", status=200)
    assert json_logs.getvalue() == b""
    get_logger("service").warning("shutdown timeout reached; closing")
    events = [line["event"] for line in _lines(json_logs)]
    assert events == ["request", "shutdown timeout reached; closing"]


def test_lines_outside_an_event_loop_are_written_at_once() -> None:
    stream = io.BytesIO()
    LineWriter(stream).write(b"starting\n")
    assert stream.getvalue() == b"starting\n"


def test_a_broken_stdout_does_not_raise() -> None:
    stream = io.BytesIO()
    stream.close()
    LineWriter(stream).write(b"lost\n")


def test_request_ids_are_unique_and_look_like_uuid_hex() -> None:
    ids = RequestIds()
    drawn = [ids() for _ in range(1000)]
    assert len(set(drawn)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in drawn)


@pytest.mark.slow
def test_two_processes_never_share_request_id_prefixes() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a forked worker draws first
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child_id[:16] != new_request_id()[:16]


def test_another_librarys_log_line_is_written_as_json_with_secrets_redacted(
    json_logs: io.BytesIO,
) -> None:
    import logging

    try:
        raise ValueError("Invalid header value char:\n\n  b'X-API-Key: topsecret\\x01'")
    except ValueError:
        logging.getLogger("aiohttp.server").exception(
            "Error handling request; Authorization: Bearer eyJsecret.token"
        )
    structlog.get_logger().warning("flush")  # a warning writes the pending lines at once
    (line, _) = _lines(json_logs)
    assert line["logger_name"] == "aiohttp.server"
    assert line["level"] == "error"
    text = orjson.dumps(line).decode()
    assert "topsecret" not in text and "eyJsecret" not in text
    assert "[redacted]" in text


@pytest.mark.slow
def test_a_malformed_header_is_answered_and_logged_without_its_value(tmp_path: Any) -> None:
    import json
    import socket

    from tests.helpers import running_service

    log_path = tmp_path / "service.log"
    with running_service(log_path=log_path, LOG_FORMAT="json") as (port, _):
        answers = []
        for line in (b"X-API-Key: topsecret\x01key", b"Authorization: Bearer eyJsecret\x7fx"):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n")
                answers.append(sock.recv(65536))
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400")
        assert json.loads(body)["error"] == "malformed_request"
        assert b"aiohttp" not in head  # no version banner either
        assert b"secret" not in answer
    logged = log_path.read_text()
    assert "topsecret" not in logged and "eyJsecret" not in logged
    assert all(json.loads(line) for line in logged.splitlines() if line.strip())
