"""Running the application: logging, start-up notices, and a shutdown that drains.

On SIGTERM or SIGINT the service reports not-ready, stops accepting connections, and
waits up to SHUTDOWN_TIMEOUT seconds for every request in flight, including one whose
body is still arriving, before it closes the rest.
"""

from __future__ import annotations

import asyncio
import signal
import warnings

import jwt
from aiohttp import web

from service.app import create_app
from service.config import Settings
from service.context import LIFECYCLE
from service.logs import configure_logging, get_logger

log = get_logger("service")


def _stop_listening(runner: web.AppRunner) -> None:
    # Close only the listening sockets; open connections keep being read and answered.
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None:
            server.close()


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("listening", url=f"http://{settings.host}:{settings.port}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        lifecycle = app[LIFECYCLE]
        lifecycle.ready = False
        log.info("draining", in_flight=lifecycle.in_flight, timeout=settings.shutdown_timeout)
        _stop_listening(runner)
        if not await lifecycle.wait_idle(settings.shutdown_timeout):
            log.warning("shutdown timeout reached; closing", in_flight=lifecycle.in_flight)
    finally:
        await runner.cleanup()
    log.info("stopped")


def run(settings: Settings) -> None:
    configure_logging(settings.log_format, settings.log_level)
    if settings.made_up:
        log.warning(
            "development credentials in use; never use --dev in production",
            made_up=list(settings.made_up),
        )
    livekit = settings.livekit
    for key in livekit.short_secret_keys:
        if not {"LIVEKIT_API_SECRET"} <= set(settings.made_up):
            # LiveKit server warns the same way; OpenVidu's local `secret` is 6 characters.
            log.warning("LiveKit API secret is shorter than 32 characters", api_key=key)
    # PyJWT warns on every short HMAC key; the line above says it once, at start-up.
    warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)
    agora = settings.agora
    log.info(
        "starting",
        host=settings.host,
        port=settings.port,
        agora="enabled" if agora.credentials else "disabled: set AGORA_APP_ID and certificate",
        agora_token_version=agora.token_version,
        agora_token_expire=agora.token_expire,
        livekit="enabled" if livekit.enabled else "disabled: set LIVEKIT_API_KEY and secret",
        livekit_keys=sorted(livekit.keys),
        livekit_signing_key=livekit.signing_key,
    )
    asyncio.run(serve(settings))
