"""Canonical identities: one login, one platform identity; one number, one spelling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.access.identity import (
    UID_MAX,
    IdentityError,
    agora_identity,
    ascii_uid,
    login_identity,
)
from service.agora.tokens import account_for_uid


@pytest.mark.parametrize(("text", "uid"), [("0", 0), ("42", 42), (str(UID_MAX), UID_MAX)])
def test_a_uid_is_written_in_plain_ascii_digits(text: str, uid: int) -> None:
    assert ascii_uid(text) == uid


@pytest.mark.parametrize(
    "text",
    [
        "042",
        "٤٢",
        "\uff14\uff12",
        "²",
        "①",
        "+42",
        "-1",
        " 42",
        "42 ",
        "4_2",
        "",
        str(UID_MAX + 1),
        "9" * 40,
    ],
)
def test_every_other_spelling_of_a_uid_is_refused(text: str) -> None:
    with pytest.raises(IdentityError):
        ascii_uid(text)


@pytest.mark.parametrize(
    ("login", "identity"),
    [
        ("42", 42),
        ("042", "042"),
        ("alice@example.com", "alice@example.com"),
        ("4294967296", "4294967296"),
    ],
)
def test_a_login_maps_to_one_agora_identity(login: str, identity: int | str) -> None:
    assert agora_identity(login) == identity


@pytest.mark.parametrize("login", ["0", "٤٢", "\uff14\uff12", "zoë", "a\tb"])
def test_logins_agora_cannot_take_are_refused(login: str) -> None:
    with pytest.raises(IdentityError):
        agora_identity(login)


@pytest.mark.parametrize(
    ("claim", "ok"),
    [
        ("alice", True),
        (42, True),
        (True, False),
        (4.2, False),
        ("", False),
        ("\ud800", False),
        ("a\nb", False),
        ("x" * 257, False),
        (["a"], False),
    ],
)
def test_a_login_identity_is_a_usable_string_or_number(claim: object, ok: bool) -> None:
    if ok:
        assert login_identity(claim) == str(claim)
    else:
        with pytest.raises(IdentityError):
            login_identity(claim)


@given(st.text(max_size=12), st.text(max_size=12))
def test_two_different_logins_never_sign_as_the_same_agora_user(first: str, second: str) -> None:
    """Agora signs a uid and an account as the same bytes ("42" either way)."""
    try:
        one, two = agora_identity(first), agora_identity(second)
    except IdentityError:
        return
    if first != second:
        assert account_for_uid(one) != account_for_uid(two)


@given(st.integers(min_value=0, max_value=UID_MAX))
def test_every_uid_has_exactly_the_spelling_str_gives_it(uid: int) -> None:
    assert ascii_uid(str(uid)) == uid
    with pytest.raises(IdentityError):
        ascii_uid("0" + str(uid))
