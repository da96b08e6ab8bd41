"""Which app a request is for.

A credential that belongs to an app decides: an API key (AUTH_MODE=api-key), or the
login token's app claim (AUTH_JWT_APP_CLAIM). Otherwise the path prefix /apps/<name>/...
names it, or, with no prefix, the app named `default` (or the only app). A prefix that
names another app than the caller's credential is refused: no request gets a token signed
with another app's credentials.
"""

from __future__ import annotations

from aiohttp import web

from service.apps import APP_NAME, App
from service.context import APP, APPS
from service.errors import PolicyDenied


def named_app(request: web.Request) -> str | None:
    """The app the path prefix names, if any."""
    return request.match_info.get("app")


def requested_app(request: web.Request) -> App:
    """The app the path names, or the default one."""
    return request.app[APPS].current.requested(named_app(request))


def choose_app(request: web.Request, selected: App | None) -> App:
    """The request's app: the one its credential selected, which a path prefix may only
    confirm, else the one the path names (or the default). Stored for the handler."""
    if selected is None:
        app = requested_app(request)
    else:
        named = named_app(request)
        if named is not None and named != selected.name:
            # The name is echoed only when it is a name at all: the path is the client's.
            shown = repr(named) if APP_NAME.fullmatch(named) else "the one the path names"
            raise PolicyDenied("app", f"your credentials are for another app than {shown}")
        app = selected
    request[APP] = app
    return app


def app_of(request: web.Request) -> App:
    """The app chosen for this request (by its guard)."""
    return request[APP]
