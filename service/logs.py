"""Logging: JSON lines in production, readable console output under --dev.

Every line goes through structlog except the access line (one per request), which is the
hot path: under LOG_FORMAT=json it is rendered straight to the same JSON shape with
orjson, skipping structlog's generic processor chain. JSON lines are written in batches,
at most FLUSH_INTERVAL seconds after they are logged (as nginx's `access_log buffer=`
does), instead of one write system call per request; warnings and errors flush at once,
with everything logged before them, and so does a process that stops.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
import structlog

from service.responses import dump_json

# Seconds a JSON line may wait in memory before it is written.
FLUSH_INTERVAL = 0.1
# Bytes that are written at once, whatever their age.
FLUSH_BYTES = 64 * 1024

# The request being handled, added to every line logged while handling it.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class LineWriter:
    """Lines to a binary stream, batched. Lines logged outside an event loop, and urgent
    ones, are written at once; pending lines are always written first, so order holds."""

    def __init__(self, stream: BinaryIO, interval: float = FLUSH_INTERVAL) -> None:
        self.stream = stream
        self._interval = interval
        self._pending: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: bytes, *, urgent: bool = False) -> None:
        self._pending.append(line)
        self._size += len(line)
        if urgent or self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stdout must not take requests down with it


class _BatchedLogger:
    """structlog's output end: info and below are batched, warnings and up written now."""

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer

    def _later(self, line: bytes) -> None:
        self._writer.write(line + b"\n")

    def _now(self, line: bytes) -> None:
        self._writer.write(line + b"\n", urgent=True)

    debug = info = msg = _later
    warning = warn = error = err = critical = fatal = exception = failure = _now


def _add_request_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = CURRENT_REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


# One writer per process, whatever logger wrote a line, so lines keep their order.
_writer = LineWriter(sys.stdout.buffer)
atexit.register(_writer.flush)
# A forked worker must not inherit (and write again) its parent's pending lines.
os.register_at_fork(before=_writer.flush)
_access_log = structlog.get_logger(logger_name="service.access")
_ACCESS_LINE = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z
# Whether access lines are written, and whether as JSON straight to the writer.
_access = {"enabled": True, "json": False}


def _render(event: Any, **_: Any) -> bytes:
    return dump_json(event)


def configure_logging(log_format: str, level: str, *, stream: BinaryIO | None = None) -> None:
    """Set up structlog for this process; JSON lines go to `stream` (default stdout)."""
    renderer: structlog.types.Processor
    logger_factory: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        logger_factory = structlog.PrintLoggerFactory(file=sys.stdout)
    else:
        # orjson writes the line as bytes, several times faster than json + print.
        renderer = structlog.processors.JSONRenderer(serializer=_render)
        _writer.flush()
        _writer.stream = sys.stdout.buffer if stream is None else stream
        logger_factory = lambda *_: _BatchedLogger(_writer)  # noqa: E731
    threshold = logging.getLevelNamesMapping()[level.upper()]
    _route_stdlib_logging(threshold)
    _access["enabled"] = threshold <= logging.INFO
    _access["json"] = log_format == "json"
    structlog.configure(
        processors=[
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if log_format == "json"
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )


# Header values a line from another library may echo: never written out.
_SECRET_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-api-key|cookie|agora-signature(?:-v2)?|"
    r"videosdk-signature)(\s*[:=]\s*)[^\r\n'\"]*"
)
_BYTES_ECHO = re.compile(r"""b(['"]).*?(?<!\\)\1""", re.DOTALL)


def redact(text: str) -> str:
    """A line from another library with every echoed raw input and secret header value
    removed: aiohttp quotes a malformed request line or header as a bytes literal."""
    return _SECRET_HEADER.sub(r"\1\2[redacted]", _BYTES_ECHO.sub("b'[redacted]'", text))


class StdlibBridge(logging.Handler):
    """Lines logged through the standard library (aiohttp, asyncio, gunicorn) written in
    the service's own format, redacted, instead of raw text on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = redact(record.getMessage())
            fields: dict[str, Any] = {}
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                fields["error"] = f"{type(error).__name__}: {redact(str(error))}"
            logger = structlog.get_logger(logger_name=record.name)
            logger.log(record.levelno, message, **fields)
        except Exception:  # a log line must never take a request down
            self.handleError(record)


def _route_stdlib_logging(threshold: int) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdlibBridge)]:
        root.removeHandler(handler)
    root.addHandler(StdlibBridge())
    root.setLevel(threshold)


def flush_logs() -> None:
    _writer.flush()


def log_request(trace_id: str | None = None, /, **fields: Any) -> None:
    """The access line of one answered request, under the `service.access` logger, with
    `trace_id` when the request carried one (a positional argument: a `**` merge of an
    optional field into the call costs more than the check)."""
    if not _access["enabled"]:
        return
    if trace_id is not None:
        fields["trace_id"] = trace_id
    if not _access["json"]:
        _access_log.info("request", **fields)
        return
    line = {
        "logger_name": "service.access",
        **fields,
        "event": "request",
        "level": "info",
        # orjson writes an aware UTC datetime as structlog's TimeStamper(fmt="iso",
        # utc=True) does (isoformat with Z), from C.
        "timestamp": datetime.now(UTC),
    }
    _writer.write(dump_json(line, _ACCESS_LINE))


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger
