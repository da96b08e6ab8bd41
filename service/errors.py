"""The one error type handlers raise; middlewares turn it into a JSON response."""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """A client-visible failure: HTTP status, a stable machine code, a message for people,
    and the request field at fault, if any."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    @classmethod
    def invalid_field(cls, field: str, message: str) -> ApiError:
        return cls(400, "invalid_field", f"{field}: {message}", field=field)

    @classmethod
    def forbidden(cls, field: str | None, message: str) -> ApiError:
        """Outside what the configuration or the caller's policy allows."""
        return cls(403, "forbidden", message, field=field)
