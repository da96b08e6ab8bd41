"""Typed keys for what the application object carries to its handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from service.access.gate import Gate
from service.apps import App, AppRegistry
from service.config import Settings
from service.forwarder import Forwarder
from service.store.base import EventStore


@dataclass
class Lifecycle:
    """Readiness, and the requests in flight that a shutdown must wait for."""

    ready: bool = False
    in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once no request is in flight; False if `timeout` seconds pass first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class HeadDeadlines:
    """Closes a connection that sends no complete request head in time: HEAD_TIMEOUT from
    its opening, or KEEPALIVE_TIMEOUT + HEAD_TIMEOUT from its last answer (aiohttp closes
    a connection idle for KEEPALIVE_TIMEOUT; this also ends one that trickles bytes).

    One timer per connection, re-armed only when it fires: a request costs two stores in
    a dict, not a timer of its own."""

    def __init__(self, head: float, keepalive: float) -> None:
        self._head, self._after_answer = head, keepalive + head
        # transport -> [requests in progress, loop time of the last answer or None]
        self._connections: dict[asyncio.BaseTransport, list[Any]] = {}

    def connected(self, transport: asyncio.BaseTransport) -> None:
        self._connections[transport] = [0, None]
        asyncio.get_running_loop().call_later(self._head, self._check, transport)

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        state = self._connections.get(transport) if transport is not None else None
        if state is not None:
            state[0] += 1

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        state = self._connections.get(transport) if transport is not None else None
        if state is not None:
            state[0] -= 1
            state[1] = asyncio.get_running_loop().time()

    def _check(self, transport: asyncio.BaseTransport) -> None:
        state = self._connections.get(transport)
        if state is None:
            return
        if transport.is_closing():
            del self._connections[transport]
            return
        loop = asyncio.get_running_loop()
        busy, answered_at = state
        if busy:
            wait = self._head  # a request is being handled: look again later
        elif answered_at is None:
            wait = 0.0  # no request head since the connection opened
        else:
            wait = answered_at + self._after_answer - loop.time()
        if wait <= 0:
            del self._connections[transport]
            transport.close()
        else:
            loop.call_later(wait, self._check, transport)


SETTINGS = web.AppKey("settings", Settings)
# Injected so token issue times and salts are deterministic under test.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
SALT: web.AppKey[Callable[[], int]] = web.AppKey("salt")
TOKEN_IDS: web.AppKey[Callable[[], str]] = web.AppKey("token_ids")
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
EVENT_STORE = web.AppKey("event_store", EventStore)
FORWARDER = web.AppKey("forwarder", Forwarder)
GATE = web.AppKey("gate", Gate)
HEAD_DEADLINES = web.AppKey("head_deadlines", HeadDeadlines)
# Per request: its id (X-Request-ID), and the real client address behind trusted proxies.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
CLIENT_ADDRESS: web.RequestKey[str | None] = web.RequestKey("client_address")
# The apps this service serves (swapped whole on SIGHUP), and the app a request is for.
APPS = web.AppKey("apps", AppRegistry)
APP = web.RequestKey("app", App)
