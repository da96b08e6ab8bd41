"""The proof that a token's contents passed its platform's admission step.

Every platform has one admission function (`service/<platform>/admission.py`). It sees the
complete grant about to be signed, with the platform's defaults made explicit, judges it
against the configuration and the caller's policy, and returns it wrapped in `Admitted`.
The issue layers sign only `Admitted` values, so a new route that forgets admission fails
the type check and, at run time, raises TypeError instead of minting a token.

Only admission modules call `admitted` (tests/access/test_admission.py checks that).
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

T = TypeVar("T")

_SEAL = object()


@final
class Admitted(Generic[T]):
    """A grant that passed admission; `value` is exactly what will be signed."""

    __slots__ = ("value",)

    def __init__(self, value: T, seal: object) -> None:
        if seal is not _SEAL:
            raise TypeError("only an admission step makes an Admitted value")
        self.value = value

    def __repr__(self) -> str:
        return f"Admitted({self.value!r})"


def admitted(value: T) -> Admitted[T]:
    """Seal a grant an admission function has judged. Call it from nowhere else."""
    return Admitted(value, _SEAL)


def require_admitted(value: object) -> None:
    """For issue layers: refuse, loudly, anything that skipped admission."""
    if not isinstance(value, Admitted):
        raise TypeError(f"expected an Admitted grant, got {type(value).__name__}")
