"""The platforms this service issues tokens for. Adding one is a package of its own
(settings, builders, admission and issue, handlers, routes.py with its PLATFORM) and a
line here (and its typed settings field in service/config.py)."""

from __future__ import annotations

from service.agora.routes import PLATFORM as AGORA
from service.livekit.routes import PLATFORM as LIVEKIT
from service.routing import Platform
from service.videosdk.routes import PLATFORM as VIDEOSDK

PLATFORMS: tuple[Platform, ...] = (AGORA, LIVEKIT, VIDEOSDK)
