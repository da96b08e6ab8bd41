"""Running the application: logging, start-up notices, graceful shutdown on SIGTERM."""

from __future__ import annotations

from aiohttp import web

from service.app import create_app
from service.config import Settings
from service.logs import configure_logging, get_logger

log = get_logger("service")


def run(settings: Settings) -> None:
    configure_logging(settings.log_format, settings.log_level)
    if settings.made_up:
        log.warning(
            "development credentials in use; never use --dev in production",
            made_up=list(settings.made_up),
        )
    agora = settings.agora
    log.info(
        "starting",
        host=settings.host,
        port=settings.port,
        agora="enabled"
        if agora.credentials
        else "disabled: set AGORA_APP_ID, AGORA_APP_CERTIFICATE",
        agora_token_version=agora.token_version,
        agora_token_expire=agora.token_expire,
    )
    # On SIGTERM/SIGINT aiohttp stops listening, then waits up to shutdown_timeout for
    # requests in flight before closing: nothing accepted is cut off.
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=None,
        print=lambda message: log.info("listening", url=f"http://{settings.host}:{settings.port}"),
        handle_signals=True,
    )
    log.info("stopped")
