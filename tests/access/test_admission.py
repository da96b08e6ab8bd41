"""Admission cannot be skipped by accident: the issue layers sign only Admitted grants, and
only the platforms' admission modules make them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service.access.admission import Admitted, admitted
from service.agora.admission import RtcGrant
from service.agora.issue import issue_rtc_token, mint_rtc_token
from service.agora.tokens import Role
from service.livekit.admission import LiveKitGrant
from service.livekit.issue import issue_participant_token
from service.videosdk.admission import VideoSdkGrant
from service.videosdk.issue import issue_token
from service.videosdk.tokens import TokenGrant
from tests.helpers import agora_settings, livekit_settings, videosdk_settings

SERVICE = Path(__file__).parents[2] / "service"
RAW_BUILDERS = {
    "service.agora.tokens",
    "service.agora.accesstoken2",
    "service.agora.accesstoken006",
    "service.livekit.tokens",
    "service.videosdk.tokens",
    "service.jws",
}


def _calls_of(tree: ast.AST, name: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def test_only_the_admission_modules_make_admitted_values() -> None:
    makers = set()
    for path in SERVICE.rglob("*.py"):
        if _calls_of(ast.parse(path.read_text()), "admitted"):
            makers.add(path.relative_to(SERVICE).as_posix())
    assert makers == {"agora/admission.py", "livekit/admission.py", "videosdk/admission.py"}


def test_handlers_never_reach_a_raw_token_builder() -> None:
    handlers = [
        p for p in SERVICE.rglob("*.py") if p.name in ("handlers.py", "community.py", "cli.py")
    ]
    assert len(handlers) == 5
    for path in handlers:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in RAW_BUILDERS:
                names = [alias.name for alias in node.names]
                assert not [n for n in names if n.startswith("build") or n == "sign_hs256"], path
            if isinstance(node, ast.Attribute):
                assert not node.attr.startswith("build_"), (path, node.attr)


def test_the_issue_layers_refuse_a_grant_that_skipped_admission() -> None:
    rtc = RtcGrant("demo", 42, Role.PUBLISHER, {1: 600}, 600)
    with pytest.raises(TypeError, match="Admitted"):
        mint_rtc_token(agora_settings(), rtc, issue_ts=1, salt=1)  # type: ignore[arg-type]
    livekit = LiveKitGrant("alice", {"video": {"roomJoin": True, "room": "r"}}, 600, "r")
    with pytest.raises(TypeError, match="Admitted"):
        issue_participant_token(livekit_settings(), livekit, issued_at=1)  # type: ignore[arg-type]
    videosdk = VideoSdkGrant(TokenGrant(permissions=("allow_join",)), 600)
    with pytest.raises(TypeError, match="Admitted"):
        issue_token(videosdk_settings(), videosdk, issued_at=1, token_id="x")  # type: ignore[arg-type]


def test_an_admitted_value_cannot_be_made_without_the_seal() -> None:
    with pytest.raises(TypeError, match="only an admission step"):
        Admitted("anything", object())
    assert admitted("x").value == "x"


def test_an_admitted_grant_is_signed_as_it_is() -> None:
    grant = admitted(RtcGrant("demo", 42, Role.SUBSCRIBER, {1: 600}, 600))
    answer = issue_rtc_token(agora_settings(), grant, issue_ts=1_700_000_000, salt=1)
    assert answer["grants"]["rtc"] == {
        "channel": "demo",
        "uid": 42,
        "role": "subscriber",
        "privileges": {"join_channel": 1_700_000_600},
    }
