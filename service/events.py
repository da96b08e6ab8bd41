"""Where verified platform events go: the one place later work consumes them.

Today events are deduplicated in memory and logged; the durable store of the webhook
issue replaces RecentEvents behind the same EventSink interface.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol


class EventSink(Protocol):
    async def accept(self, provider: str, event_id: str, event: Mapping[str, Any]) -> bool:
        """Take a verified event; False when this event id was already taken."""
        ...


class RecentEvents:
    """Remembers the last `capacity` event ids per process, to recognise redeliveries.

    Check and insert run without an await between them, so two copies arriving at the
    same moment on one event loop are still told apart.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def accept(self, provider: str, event_id: str, event: Mapping[str, Any]) -> bool:
        key = (provider, event_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
