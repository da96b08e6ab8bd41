"""Typed keys for what the application object carries to its handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from service.config import Settings


@dataclass
class Lifecycle:
    ready: bool = False


SETTINGS = web.AppKey("settings", Settings)
# Injected so token issue times and salts are deterministic under test.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
SALT: web.AppKey[Callable[[], int]] = web.AppKey("salt")
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
