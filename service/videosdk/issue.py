"""From an admitted grant to a signed VideoSDK token and the facts about it.

Only grants that passed admission (service/videosdk/admission.py) are signed. Pure: the
issue time and token id are arguments.
"""

from __future__ import annotations

from service.access.admission import Admitted, require_admitted
from service.errors import ApiError
from service.videosdk.admission import VideoSdkGrant
from service.videosdk.settings import VideoSdkSettings
from service.videosdk.shapes import VideoSdkTokenAnswer
from service.videosdk.tokens import TokenRuleError, build_token


def credentials_of(videosdk: VideoSdkSettings) -> tuple[str, str]:
    if videosdk.api_key is None or videosdk.secret is None:
        raise ApiError.not_configured("VideoSDK", "set VIDEOSDK_API_KEY and VIDEOSDK_SECRET_KEY")
    return videosdk.api_key, videosdk.secret


def issue_token(
    videosdk: VideoSdkSettings,
    admitted: Admitted[VideoSdkGrant],
    *,
    issued_at: int,
    token_id: str,
) -> VideoSdkTokenAnswer:
    require_admitted(admitted)
    api_key, secret = credentials_of(videosdk)
    grant = admitted.value
    try:
        token = build_token(
            api_key, secret, grant.grant, issued_at=issued_at, ttl=grant.ttl, token_id=token_id
        )
    except TokenRuleError as error:
        raise ApiError.invalid_field(error.field, error.message) from None
    return VideoSdkTokenAnswer(
        token=token,
        issued_at=issued_at,
        expires_at=issued_at + grant.ttl,
        expires_in=grant.ttl,
    )
