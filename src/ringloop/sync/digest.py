"""The digest tree: per-id record hashes summed into a fixed tree of buckets by id-hash prefix.

Every id falls in one leaf, chosen by the top bits of BLAKE2b(id), so both
sides of a sync put an id in the same place whatever else they hold.  A
node's digest is the XOR of the 128-bit record hashes below it: it changes
in O(depth) when one record changes, and two sides whose digests differ at
a node differ somewhere below it.  The tree is complete, ``FANOUT`` wide and
``depth`` deep; node ``i`` of level ``l`` has children ``i*FANOUT ..
i*FANOUT+FANOUT-1`` at level ``l+1``.

During the descent (see :mod:`.protocol`) interior digests and record
hashes travel as 32-bit *fingerprints*: multiply-shift hashing of the
128-bit value with an odd salt the node draws for each sync, for which any
two different values collide with probability at most 2**-31 over the salt
(Dietzfelbinger, Hagerup, Katajainen, Penttonen 1997), and which costs one
integer multiplication.  A collision can only make two different things
look equal, which hides a difference for that sync: the final comparison
of the full 128-bit roots catches it (the sync reports itself not
converged), and the next sync's new salt makes the same collision as
unlikely as any other.  So fingerprints are short to save bytes, and a
collision can neither persist nor make a wrong state look converged.
"""
from __future__ import annotations

import hashlib
import struct

__all__ = ["FANOUT", "DEFAULT_DEPTH", "FP_SIZE", "SALT_SIZE", "DigestTree", "leaf_of", "salt_of", "fingerprint",
           "pack_fingerprints", "unpack_fingerprints", "children"]

FANOUT = 4
DEFAULT_DEPTH = 9  # 4**9 = 262,144 leaves: about 4 ids a leaf at a million ids
FP_SIZE = 4
SALT_SIZE = 16
_MASK = (1 << 128) - 1


def leaf_of(record_id: str, depth: int) -> int:
    """The leaf index of ``record_id`` in a tree ``depth`` levels deep (top bits of BLAKE2b(id))."""
    top = int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "big")
    return top >> (64 - 2 * depth)  # FANOUT 4: two bits a level


def salt_of(raw: bytes) -> int:
    """The multiplier a sync's SALT_SIZE random bytes stand for (odd, as multiply-shift hashing needs)."""
    if len(raw) != SALT_SIZE:
        raise ValueError(f"a salt has {SALT_SIZE} bytes, not {len(raw)}")
    return int.from_bytes(raw, "big") | 1


def fingerprint(value: int, salt: int) -> int:
    """The 32-bit fingerprint of a 128-bit digest or record hash ``value`` in the sync salted with ``salt``."""
    return ((value * salt) & _MASK) >> (128 - 8 * FP_SIZE)


def pack_fingerprints(fps: list[int]) -> bytes:
    """Fingerprints as one run of FP_SIZE-byte big-endian values."""
    return struct.pack(f">{len(fps)}I", *fps)


def unpack_fingerprints(data: bytes) -> list[int]:
    """The fingerprints of :func:`pack_fingerprints`; ValueError when ``data`` is not a whole number of them."""
    if len(data) % FP_SIZE:
        raise ValueError(f"fingerprints take {FP_SIZE} bytes each, not {len(data)} bytes in all")
    return list(struct.unpack(f">{len(data) // FP_SIZE}I", data))


def children(index: int) -> range:
    """The indexes of the children of node ``index`` one level down."""
    return range(index * FANOUT, index * FANOUT + FANOUT)


class DigestTree:
    """XOR digests over every level of a complete FANOUT-ary tree, updated one record at a time."""

    def __init__(self, depth: int = DEFAULT_DEPTH) -> None:
        """An empty tree ``depth`` levels below the root (1 to 12)."""
        if type(depth) is not int or not 1 <= depth <= 12:
            raise ValueError(f"depth must be an int from 1 to 12, not {depth!r}")
        self.depth = depth
        self._levels = [[0] * (FANOUT ** level) for level in range(depth + 1)]

    def toggle(self, leaf: int, record_hash: bytes) -> None:
        """Add ``record_hash`` to ``leaf`` and its ancestors, or remove it if it was there (XOR)."""
        value = int.from_bytes(record_hash, "big")
        index = leaf
        for level in range(self.depth, -1, -1):
            self._levels[level][index] ^= value
            index //= FANOUT

    def digest(self, level: int, index: int) -> int:
        """The 128-bit digest of node ``index`` at ``level`` (0 is the root)."""
        return self._levels[level][index]

    @property
    def root(self) -> bytes:
        """The full 128-bit root digest: equal roots mean equal contents."""
        return self._levels[0][0].to_bytes(16, "big")

    def child_fingerprints(self, level: int, parents: list[int], salt: int) -> bytes:
        """The fingerprints (packed, under ``salt``) of every child (at ``level + 1``) of each of ``parents``."""
        row = self._levels[level + 1]
        return pack_fingerprints([fingerprint(row[child], salt) for parent in parents for child in children(parent)])

    def differing(self, level: int, parents: list[int], theirs: bytes, salt: int) -> list[int]:
        """The children of ``parents`` whose fingerprints differ from ``theirs`` (their child_fingerprints)."""
        if len(theirs) != len(parents) * FANOUT * FP_SIZE:
            raise ValueError(f"expected {len(parents) * FANOUT} fingerprints, got {len(theirs)} bytes")
        if level + 1 > self.depth or any(not 0 <= p < FANOUT ** level for p in parents):
            raise ValueError(f"parents out of range for level {level}")
        row = self._levels[level + 1]
        kids = [child for parent in parents for child in children(parent)]
        return [child for child, fp in zip(kids, unpack_fingerprints(theirs)) if fingerprint(row[child], salt) != fp]
