"""`inspect`: any 006 or 007 token decoded into plain facts, its signature checked."""

from __future__ import annotations

import pytest

from service.agora.inspect import describe_token
from service.agora.wire import TokenFormatError
from tests.agora.test_accesstoken2 import VECTORS
from tests.helpers import CERTIFICATE

(SAMPLE,) = [v for v in VECTORS if v["id"] == "public-repo-sample/007/000-parse"]
(WILDCARD_006,) = [v for v in VECTORS if v["id"] == "generated/v006_rtc_uid0_publisher"]
(UID0_007,) = [v for v in VECTORS if v["id"] == "generated/rtc_uid0_publisher_wildcard_uid"]


def test_a_007_token_with_five_services_is_described_in_full() -> None:
    described = describe_token(SAMPLE["expected_token"], certificate=CERTIFICATE)
    assert described["signature"] == "valid"
    assert described["app_id"] == "970CA35de60c44645bbae8a215061b33"
    assert described["issued_at"] == 1661270015
    assert described["expires_at"] == 1661270015 + 3600
    assert described["issued_at_utc"] == "2022-08-23T15:53:35Z"
    assert [s["name"] for s in described["services"]] == ["rtc", "rtm", "fpa", "chat", "apaas"]
    rtc = described["services"][0]
    assert (rtc["channel"], rtc["uid"]) == ("7d72365eb983485397e3e3f9d460bdda", "2882341273")
    assert rtc["privileges"]["publish_video_stream"]["expires_at"] == 1661270015 + 3600
    assert described["services"][4]["role"] == -1


def test_without_a_certificate_the_signature_is_not_checked() -> None:
    assert describe_token(SAMPLE["expected_token"])["signature"].startswith("not checked")


def test_a_wrong_certificate_makes_the_signature_invalid() -> None:
    assert describe_token(SAMPLE["expected_token"], certificate="0" * 32)["signature"] == "invalid"


def test_the_any_uid_wildcard_is_pointed_out() -> None:
    described = describe_token(UID0_007["expected_token"])
    assert described["services"][0]["uid"] == ""
    assert "wildcard" in described["services"][0]["uid_note"]


def test_a_006_token_needs_channel_and_uid_to_verify() -> None:
    token = WILDCARD_006["expected_token"]
    channel = WILDCARD_006["inputs"]["channel"]
    unchecked = describe_token(token, certificate=CERTIFICATE)
    assert "channel and uid" in unchecked["signature"]
    checked = describe_token(token, certificate=CERTIFICATE, channel=channel, uid="")
    assert checked["signature"] == "valid"
    assert checked["matches_channel_and_uid"] is True
    assert checked["privileges"]["join_channel"]["note"] == "never expires"


@pytest.mark.parametrize("token", ["", "hello", "005abc", "007invalid", "006invalid"])
def test_anything_else_is_a_format_error(token: str) -> None:
    with pytest.raises(TokenFormatError):
        describe_token(token)
