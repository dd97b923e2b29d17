"""TextIOWrapper's tell() cookies, packed as CPython's C implementation packs them.

A cookie is one integer: the byte offset of a point where the decoder can
restart (bits 0-63), the decoder's flags there (64-95), how many bytes to
feed it from there (96-127), how many decoded characters to skip (128-159),
and whether the decoder must be told the input ended (bit 160).
"""
from __future__ import annotations

__all__ = ["pack_cookie", "unpack_cookie"]

_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1


def pack_cookie(position: int, dec_flags: int = 0, bytes_to_feed: int = 0, need_eof: bool = False,
                chars_to_skip: int = 0) -> int:
    """One integer holding a text position's parts."""
    return (position | (dec_flags << 64) | (bytes_to_feed << 96) | (chars_to_skip << 128)
            | (int(need_eof) << 160))


def unpack_cookie(cookie: int) -> tuple[int, int, int, bool, int]:
    """(position, dec_flags, bytes_to_feed, need_eof, chars_to_skip) of a cookie."""
    return (cookie & _U64, (cookie >> 64) & _U32, (cookie >> 96) & _U32, bool(cookie >> 160),
            (cookie >> 128) & _U32)
