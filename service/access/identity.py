"""Canonical identities: how a login identity, or a uid written as text, becomes exactly one
platform identity.

The rule is byte-exact. A login identity is used as the code points it has: no Unicode
normalisation, no case folding, no trimming. Two logins that differ in any code point are
different people and get different platform identities. The only place where text becomes
a number is `ascii_uid`, and it accepts one spelling per number: ASCII digits, no sign, no
space, no leading zero. So `042`, Arabic-Indic or fullwidth digits never become
uid 42.
"""

from __future__ import annotations

import re

UID_MAX = 2**32 - 1
# Agora's user-account characters (the same set as channel names), at most 255 bytes.
_AGORA_ACCOUNT = re.compile(r"[a-zA-Z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]{1,255}")
_CANONICAL_NUMBER = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_IDENTITY_BYTES = 256


class IdentityError(ValueError):
    """The text cannot name an identity; the message says why."""


def ascii_uid(text: str) -> int:
    """A uid written as text: ASCII decimal digits without sign, space or leading zero,
    from 0 to 4294967295. Anything else raises IdentityError."""
    if len(text) > 10 or _CANONICAL_NUMBER.fullmatch(text) is None:
        raise IdentityError(
            f"must be a whole number from 0 to {UID_MAX} in ASCII digits, without sign, "
            "spaces or leading zeros"
        )
    value = int(text)
    if value > UID_MAX:
        raise IdentityError(f"must be a whole number from 0 to {UID_MAX}")
    return value


def login_identity(value: object) -> str:
    """The identity a login token names, as text: a string as it is, or an integer in
    decimal. Refused: anything else, the empty string, text that is not valid Unicode
    (lone surrogates), control characters, and more than 256 bytes."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise IdentityError("must be a string or a whole number")
    text = str(value)
    if not text:
        raise IdentityError("must not be empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise IdentityError("is not valid Unicode") from None
    if size > MAX_IDENTITY_BYTES:
        raise IdentityError(f"must be at most {MAX_IDENTITY_BYTES} bytes")
    if _CONTROL.search(text):
        raise IdentityError("must not contain control characters")
    return text


def agora_identity(login: str) -> int | str:
    """The one Agora identity of a login: a uid when the login is a canonical number from 1
    to 4294967295, else a user account when Agora's account rules allow the text. Refused
    (IdentityError): uid 0 (it means any user), and logins Agora cannot take as an account
    (characters outside Agora's set, such as non-ASCII letters or digits)."""
    if _CANONICAL_NUMBER.fullmatch(login) is not None and len(login) <= 10:
        number = int(login)
        if 0 < number <= UID_MAX:
            return number
        if number == 0:
            raise IdentityError("0 is Agora's any-user uid and cannot be a login identity")
    if _AGORA_ACCOUNT.fullmatch(login) is None:
        raise IdentityError(
            "cannot be an Agora identity: a uid is a number from 1 to 4294967295 written "
            "in ASCII digits without leading zeros, an account uses only Agora's characters "
            "(a-z A-Z 0-9 space ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,)"
        )
    return login
