"""Our builders against Agora's official npm builders, on randomized inputs.

The official package (agora-token 2.0.6, tests/oracle) builds each token with the same
issue time and salt; the inflated payloads must be identical, and the official parser
must accept each of our tokens with a valid signature.
"""

from __future__ import annotations

import base64
import random
import string
import zlib
from typing import Any

import pytest

from service.agora import tokens
from service.agora.accesstoken2 import ServiceType
from service.agora.tokens import AgoraCredentials, Role
from tests.helpers import APP_ID, CERTIFICATE, Oracle

CASES = 60  # per builder
CHANNEL_ALPHABET = string.ascii_letters + string.digits + " !#$%&()+-:;<=.>?@[]^_{}|~,"
CREDENTIALS = AgoraCredentials(APP_ID, CERTIFICATE)


def _inflate(token: str) -> bytes:
    return zlib.decompress(base64.b64decode(token[3:]))


def _channel(rng: random.Random) -> str:
    return "".join(rng.choice(CHANNEL_ALPHABET) for _ in range(rng.randint(1, 63)))


def _account(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "_-.@é中"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def _uid(rng: random.Random) -> int:
    return rng.choice([0, 1, 2**32 - 1, rng.randint(0, 2**32 - 1)])


def _stamp(rng: random.Random) -> dict[str, Any]:
    return {
        "issue_ts": rng.randint(1_500_000_000, 2**32 - 86_401),
        "salt": rng.randint(1, 99_999_999),
    }


def _lifetimes(rng: random.Random) -> tuple[int, int]:  # token, privileges
    token_expire = rng.randint(31, 86_400)
    return token_expire, rng.randint(31, token_expire)


def _our_rtc(
    who: int | str,
    privileges: dict[int, int],
    *,
    channel: str,
    token_expire: int,
    stamp: dict[str, Any],
    rtm_user_id: str | None = None,
    rtm_expire: int | None = None,
    agent: int | None = None,
) -> str:
    return tokens.build_rtc_token(
        CREDENTIALS,
        channel,
        who,
        privileges,
        token_expire=token_expire,
        issue_ts=stamp["issue_ts"],
        salt=stamp["salt"],
        rtm_user_id=rtm_user_id,
        rtm_expire=rtm_expire,
        agent=agent,
    )


def _cases() -> list[tuple[dict[str, Any], str]]:
    """Pairs of (official builder request, our token for the same inputs)."""
    rng = random.Random(20261122)
    cases: list[tuple[dict[str, Any], str]] = []
    for _ in range(CASES):
        stamp, role = _stamp(rng), rng.choice([Role.PUBLISHER, Role.SUBSCRIBER])
        token_expire, privilege_expire = _lifetimes(rng)
        channel, uid, account = _channel(rng), _uid(rng), _account(rng)
        common = {"op": "build", "app_id": APP_ID, "certificate": CERTIFICATE, **stamp}
        rtc = {
            **common,
            "channel": channel,
            "role": int(role),
            "token_expire": token_expire,
            "privilege_expire": privilege_expire,
        }
        by_role = tokens.rtc_privileges(role, privilege_expire)

        ours: dict[str, Any] = {"channel": channel, "token_expire": token_expire, "stamp": stamp}
        cases.append(({**rtc, "builder": "rtc_uid", "uid": uid}, _our_rtc(uid, by_role, **ours)))
        cases.append(
            (
                {**rtc, "builder": "rtc_account", "account": account},
                _our_rtc(account, by_role, **ours),
            )
        )
        cases.append(
            (
                {**rtc, "builder": "rtc_with_rtm", "account": account},
                _our_rtc(account, by_role, **ours, rtm_user_id=account),
            )
        )
        distinct = {p: rng.randint(31, token_expire) for p in (1, 2, 3, 4)}
        cases.append(
            (
                {**rtc, "builder": "rtc_uid_and_privilege", "uid": uid, "privileges": distinct},
                _our_rtc(uid, distinct, **ours),
            )
        )
        # RTC plus RTM login for another user with its own expiry (buildTokenWithRtm2), and
        # the same with an agent service (ConvoAITokenBuilder, SttTokenBuilder).
        rtm_user, rtm_expire = _account(rng), rng.randint(31, 86_400)
        held = distinct if role == Role.PUBLISHER else {1: distinct[1]}
        for builder, agent in (
            ("rtc_with_rtm2", None),
            ("convoai", ServiceType.CONVOAI),
            ("stt", ServiceType.STT),
        ):
            official = {
                **rtc,
                "builder": builder,
                "account": account,
                "privileges": distinct,
                "rtm_user_id": rtm_user,
                "rtm_expire": rtm_expire,
            }
            mine = _our_rtc(
                account, held, **ours, rtm_user_id=rtm_user, rtm_expire=rtm_expire, agent=agent
            )
            cases.append((official, mine))
        expire: dict[str, Any] = {"expire": token_expire}
        # RTM with resource permissions (buildTokenWithPermissions).
        permissions = {
            resource: {
                permission: tuple(_channel(rng) for _ in range(rng.randint(0, 3)))
                for permission in rng.sample([0, 1], rng.randint(1, 2))
            }
            for resource in rng.sample(range(5), rng.randint(0, 5))
        }
        listed = [[r, p, list(names)] for r, by in permissions.items() for p, names in by.items()]
        cases.append(
            (
                {
                    **common,
                    "builder": "rtm_permissions",
                    "user_id": account,
                    "permissions": listed,
                    **expire,
                },
                tokens.build_rtm_token_with_permissions(
                    CREDENTIALS, account, permissions, **expire, **stamp
                ),
            )
        )
        # APaaS (Flexible Classroom): a room user, a user, the app; and FPA.
        room, user, apaas_role = _account(rng), _account(rng), rng.choice([0, 1, 2, 3, 4])
        cases.append(
            (
                {
                    **common,
                    "builder": "apaas_room_user",
                    "room_uuid": room,
                    "user_uuid": user,
                    "role": apaas_role,
                    **expire,
                },
                tokens.build_apaas_token(
                    CREDENTIALS,
                    "room_user",
                    room_uuid=room,
                    user_uuid=user,
                    role=apaas_role,
                    **expire,
                    **stamp,
                ),
            )
        )
        cases.append(
            (
                {**common, "builder": "apaas_user", "user_uuid": user, **expire},
                tokens.build_apaas_token(CREDENTIALS, "user", user_uuid=user, **expire, **stamp),
            )
        )
        cases.append(
            (
                {**common, "builder": "apaas_app", **expire},
                tokens.build_apaas_token(CREDENTIALS, "app", **expire, **stamp),
            )
        )
        cases.append(({**common, "builder": "fpa"}, tokens.build_fpa_token(CREDENTIALS, **stamp)))
        cases.append(
            (
                {**common, "builder": "rtm", "user_id": account, **expire},
                tokens.build_rtm_token(CREDENTIALS, account, **expire, **stamp),
            )
        )
        cases.append(
            (
                {**common, "builder": "chat_user", "user_id": account, **expire},
                tokens.build_chat_user_token(CREDENTIALS, account, **expire, **stamp),
            )
        )
        cases.append(
            (
                {**common, "builder": "chat_app", **expire},
                tokens.build_chat_app_token(CREDENTIALS, **expire, **stamp),
            )
        )
    return cases


@pytest.fixture(scope="module")
def judged(oracle: Oracle) -> list[tuple[dict[str, Any], str, str]]:
    cases = _cases()
    answers = oracle.run([request for request, _ in cases])
    return [
        (request, ours, answer["token"])
        for (request, ours), answer in zip(cases, answers, strict=True)
    ]


@pytest.mark.parametrize(
    "builder",
    [
        "rtc_uid",
        "rtc_account",
        "rtc_with_rtm",
        "rtc_uid_and_privilege",
        "rtc_with_rtm2",
        "convoai",
        "stt",
        "rtm",
        "rtm_permissions",
        "apaas_room_user",
        "apaas_user",
        "apaas_app",
        "fpa",
        "chat_user",
        "chat_app",
    ],
)
def test_payload_equals_the_official_builders_for_random_inputs(
    judged: list[tuple[dict[str, Any], str, str]], builder: str
) -> None:
    checked = 0
    for request, ours, official in judged:
        if request["builder"] == builder:
            assert official, request
            assert _inflate(ours) == _inflate(official), request
            checked += 1
    assert checked == CASES


def test_the_official_parser_accepts_every_token_with_a_valid_signature(
    oracle: Oracle, judged: list[tuple[dict[str, Any], str, str]]
) -> None:
    ours = [token for _, token, _ in judged]
    for answer in oracle.parse(ours):
        assert answer["parsed"] and answer["signature_valid"], answer


def test_the_official_parser_rejects_our_token_under_another_certificate(
    oracle: Oracle, judged: list[tuple[dict[str, Any], str, str]]
) -> None:
    (answer,) = oracle.parse([judged[0][1]], certificate="0" * 32)
    assert answer["parsed"] and not answer["signature_valid"]
