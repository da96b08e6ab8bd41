"""The OpenAPI 3.1 contract, generated from the route tables (service/routes.py): each
route's operationId, tag, summary, parameters, and the schemas of the TypedDicts its body
and answers are (service/schema.py). Served at GET /openapi.json; tests compare it with
the registered routes both ways and fuzz the running service against it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from service import __version__
from service.routes import ALL_ROUTES
from service.routing import JSON, Operation, Routes
from service.schema import Schema, schema_of
from service.shapes import ErrorAnswer

_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")


def _schema(shape: Any) -> Schema:
    return dict(shape) if isinstance(shape, dict) else schema_of(shape)


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    names = _PATH_PARAMETER.findall(operation.path)
    path = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    query = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
        for n in operation.query
    ]
    return path + query


def _operation(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(operation.status): {
            "description": "success",
            "content": {operation.media_type: {"schema": _schema(operation.answer)}},
        }
    }
    if operation.media_type == JSON:
        errors = ErrorAnswer if operation.errors is None else operation.errors
        responses["default"] = {
            "description": "an error, in the route's shape",
            "content": {JSON: {"schema": _schema(errors)}},
        }
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "responses": responses,
    }
    if parameters := _parameters(operation):
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": operation.body_required,
            "content": {JSON: {"schema": _schema(operation.body)}},
        }
    return document


def build_document(tables: Iterable[Routes] = ALL_ROUTES) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for table in tables:
        tags[table.tag] = None
        for operation in table.operations:
            paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "rtc-token-service", "version": __version__},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
    }


DOCUMENT = build_document()
