"""JSON shapes every package shares: the error answer, webhook answers, simple tokens.

Handlers build these TypedDicts and the OpenAPI document is generated from them
(service/schema.py), so the contract and the code name the same fields.
"""

# Evaluated annotations: TypedDict reads Required[...] from them (not from strings).
from typing import Any, Literal, TypedDict


class ErrorAnswer(TypedDict):
    """The versioned API's error shape; `error` is an ErrorCode."""

    error: str
    message: str
    field: str | None
    request_id: str


class WebhookAnswer(TypedDict):
    status: Literal["received", "duplicate"]
    id: str


class TokenAnswer(TypedDict):
    token: str


ANY_OBJECT: dict[str, Any] = {"type": "object"}


def field_names(shape: Any) -> tuple[str, ...]:
    """A body TypedDict's fields: what its route accepts, in the documented order."""
    return tuple(shape.__annotations__)
