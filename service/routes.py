"""Every route table of the service, in the order they are added: the operator's routes,
the documentation, the events API, then each platform's (service/platforms.py)."""

from __future__ import annotations

from service import events, health, pages
from service.platforms import PLATFORMS
from service.routing import Routes

ALL_ROUTES: tuple[Routes, ...] = (
    health.routes,
    pages.routes,
    events.routes,
    *(table for platform in PLATFORMS for table in platform.routes),
)
