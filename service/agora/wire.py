"""Little-endian primitives shared by Agora's 006 and 007 token formats.

Every integer is little-endian and every string carries a u16 byte-length prefix.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping


class TokenFormatError(ValueError):
    """The bytes are not a well-formed Agora token."""


# Compiled once: struct.pack("<H", ...) looks its format up on every call.
pack_u16 = struct.Struct("<H").pack
pack_i16 = struct.Struct("<h").pack
pack_u32 = struct.Struct("<I").pack
_pack_privilege = struct.Struct("<HI").pack


class Writer:
    def __init__(self) -> None:
        self._buf = bytearray()

    def u16(self, value: int) -> Writer:
        self._buf += pack_u16(value)
        return self

    def i16(self, value: int) -> Writer:
        self._buf += pack_i16(value)
        return self

    def u32(self, value: int) -> Writer:
        self._buf += pack_u32(value)
        return self

    def raw(self, value: bytes) -> Writer:
        self._buf += value
        return self

    def lenbytes(self, value: bytes) -> Writer:
        # Not through u16 and raw: three strings in every token, and each call costs.
        self._buf += pack_u16(len(value))
        self._buf += value
        return self

    def lenstr(self, value: str) -> Writer:
        return self.lenbytes(value.encode())

    def privileges(self, privileges: Mapping[int, int]) -> Writer:
        # Agora sorts privilege ids ascending; every official builder does.
        buf = self._buf
        buf += pack_u16(len(privileges))
        for privilege_id in sorted(privileges):
            buf += _pack_privilege(privilege_id, privileges[privilege_id])
        return self

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class Reader:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self._data = data
        self.offset = offset

    def _take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self._data):
            raise TokenFormatError("token is truncated")
        chunk = self._data[self.offset : end]
        self.offset = end
        return chunk

    def u16(self) -> int:
        value: int = struct.unpack("<H", self._take(2))[0]
        return value

    def i16(self) -> int:
        value: int = struct.unpack("<h", self._take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack("<I", self._take(4))[0]
        return value

    def lenbytes(self) -> bytes:
        return self._take(self.u16())

    def lenstr(self) -> str:
        # Lenient, like Agora's own parsers: older layouts put non-text bytes where today's
        # layout reads strings, and the signature covers the raw bytes anyway.
        return self.lenbytes().decode("utf-8", errors="replace")

    def privileges(self) -> dict[int, int]:
        count = self.u16()
        return {self.u16(): self.u32() for _ in range(count)}

    def rest(self) -> bytes:
        return self._data[self.offset :]
