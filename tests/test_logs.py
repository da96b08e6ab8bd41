"""Logging: the access line's JSON shape, batched writes that keep order, request ids."""

from __future__ import annotations

import asyncio
import io
import os
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from service.logs import CURRENT_REQUEST_ID, LineWriter, configure_logging, get_logger, log_request
from service.middlewares import RequestIds, new_request_id

# structlog and orjson both leave out the fraction when it is zero (as isoformat does).
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@pytest.fixture
def json_logs() -> Iterator[io.BytesIO]:
    stream = io.BytesIO()
    saved = structlog.get_config()
    configure_logging("json", "info", stream=stream)
    yield stream
    configure_logging("console", "info")
    structlog.configure(**saved)


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
