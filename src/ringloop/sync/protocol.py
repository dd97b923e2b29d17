"""The wire encodings of the sync protocol: compact index lists and packed digests inside JSON.

Index lists (sorted, distinct ints) travel as base64 of LEB128 varints of
the gaps between them: a few bytes per index, where JSON numbers would
take seven.  Digests and fingerprints travel as base64 of their
concatenation.  Every parser raises ValueError for malformed input, which
the server turns into 400.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = ["pack_indexes", "unpack_indexes", "pack_bytes", "unpack_bytes", "field"]

MAX_INDEXES = 1 << 22


def pack_indexes(indexes: list[int]) -> str:
    """Encode sorted distinct non-negative ints as base64 varint gaps."""
    out = bytearray()
    previous = -1
    for index in indexes:
        if index <= previous:
            raise ValueError("indexes must be sorted, distinct and non-negative")
        gap = index - previous - 1
        previous = index
        while True:
            byte = gap & 0x7F
            gap >>= 7
            out.append(byte | (0x80 if gap else 0))
            if not gap:
                break
    return base64.b64encode(bytes(out)).decode()


def unpack_indexes(text: Any, limit: int) -> list[int]:
    """Decode :func:`pack_indexes`; ValueError for bad base64, a cut varint or an index >= ``limit``."""
    data = unpack_bytes(text)
    indexes: list[int] = []
    previous = -1
    gap = shift = 0
    for byte in data:
        gap |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
        if not byte & 0x80:
            previous += gap + 1
            if previous >= limit or len(indexes) >= MAX_INDEXES:
                raise ValueError(f"index {previous} out of range (limit {limit})")
            indexes.append(previous)
            gap = shift = 0
    if shift:
        raise ValueError("truncated varint")
    return indexes


def pack_bytes(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode()


def unpack_bytes(text: Any) -> bytes:
    """Decode base64 text; ValueError for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"expected base64 text, not {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"bad base64: {exc}") from None


def field(body: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    """``body[name]``, checked to be of ``kind``; ValueError when the body or field is not as required."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ValueError(f"field {name!r} is missing or of the wrong type")
    return value
