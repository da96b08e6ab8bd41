"""What every webhook signature check raises when a request is not from the platform."""

from __future__ import annotations

from service.errors import ApiError, ErrorCode


class WebhookRejected(Exception):
    """Not a webhook from the platform: 400 when there is no signature at all, else 401."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def as_api_error(self) -> ApiError:
        # Only a 5xx makes platforms retry; a bad signature must not.
        code = ErrorCode.MISSING_SIGNATURE if self.status == 400 else ErrorCode.INVALID_SIGNATURE
        return ApiError(self.status, code, self.message)
