"""Route tables that carry their own documentation.

Each package declares its routes with a Routes table, beside the handlers: the aiohttp
RouteTableDef the application adds, and for every route the facts its OpenAPI operation
is built from (service/openapi.py): an operationId, a tag, a summary, and the types of
its body and answers. One declaration, so the router and the contract cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from service.apps import Apps

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    """One documented route. `answer`, `errors` and `body` are TypedDicts (or anything
    service.schema.schema_of understands), or a ready JSON Schema dict."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    answer: Any
    status: int = 200
    errors: Any = None  # None: the service's documented error shape
    body: Any = None
    body_required: bool = True
    query: tuple[str, ...] = ()
    media_type: str = JSON  # of the answer: "text/html" for pages, "text/plain" for metrics


APP_PREFIX = "/apps/{app}"


class Routes:
    """A package's routes: `table` for the application, `operations` for the contract.

    `per_app`: every route is served a second time under APP_PREFIX, where the path names
    the app the request is for (service/selection.py)."""

    def __init__(self, tag: str, *, per_app: bool = False) -> None:
        self.tag = tag
        self.per_app = per_app
        self.table = web.RouteTableDef()
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        *paths: str,
        operation_id: str,
        summary: str,
        answer: Any,
        documented_method: str | None = None,
        **details: Any,
    ) -> Callable[[Handler], Handler]:
        """Register a handler at `paths` (several for a trailing-slash twin) and document
        it. `documented_method`: what a "*" route is documented as."""

        def register(handler: Handler) -> Handler:
            served = [(path, operation_id) for path in paths]
            if self.per_app:
                served += [(APP_PREFIX + path, f"{operation_id}ForApp") for path in paths]
            for number, (path, name) in enumerate(served):
                if method == "GET":
                    self.table.get(path)(handler)  # and HEAD, as aiohttp's add_get
                else:
                    self.table.route(method, path)(handler)
                self.operations.append(
                    Operation(
                        method=documented_method or method,
                        path=path,
                        # operationIds are unique: a twin path gets a numbered one.
                        operation_id=name if number in (0, len(paths)) else f"{name}{number}",
                        tag=self.tag,
                        summary=summary,
                        answer=answer,
                        **details,
                    )
                )
            return handler

        return register

    def get(self, *paths: str, **documented: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", *paths, **documented)

    def post(self, *paths: str, **documented: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", *paths, **documented)


@dataclass(frozen=True)
class Platform:
    """What a platform package brings to the application (service/platforms.py lists
    them): its route tables, whether any app's settings enable it (for /readyz), and
    what it sets up on the application (clients, keys), if anything."""

    name: str
    routes: tuple[Routes, ...]
    enabled: Callable[[Apps], bool]
    setup: Callable[[web.Application], None] | None = None
