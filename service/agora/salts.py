"""The salts AccessToken2 and AccessToken tokens carry: random, from the range the official
builders draw from."""

from __future__ import annotations

import os
from collections.abc import Iterator

from service.agora.accesstoken2 import SALT_MAX, SALT_MIN


class RandomSalts:
    """Salts from the official builders' range, drawn from the OS's CSPRNG 4 KiB at a
    time rather than with a system call per token. Uniform: a 32-bit draw at or above the
    largest multiple of the range is drawn again. A forked worker draws afresh."""

    _SPAN = SALT_MAX - SALT_MIN + 1
    _LIMIT = (1 << 32) - (1 << 32) % _SPAN

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._draws: Iterator[int] = iter(())

    def __call__(self) -> int:
        for draw in self._draws:
            if draw < self._LIMIT:
                return SALT_MIN + draw % self._SPAN
        self._draws = iter(memoryview(os.urandom(4096)).cast("I"))
        return self()


random_salt = RandomSalts()
os.register_at_fork(after_in_child=random_salt.reset)
