"""Records and the merge rule: one total order, so every node picks the same winner.

Each id has one record: a state, a JSON payload, the hybrid-clock timestamp
and node id of the write, and a *generation* that each revoke or delete
raises.  The winner of two records for an id is the greater by::

    (generation, state is SUCCESS, hlc, node)

- a revoke or delete makes a tombstone one generation up, so it beats every
  write it knew of, SUCCESS included ("SUCCESS is final unless revoked");
- within a generation a SUCCESS beats WORKING and FAILED whatever their
  clocks (a node that had not heard of the success cannot undo it);
- otherwise the last writer wins by (hlc, node id).

Because this is a total order, ``merge`` is commutative, associative and
idempotent: nodes that have seen the same records hold the same state, in
whatever order the records arrived.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .hlc import Timestamp, check_timestamp

__all__ = ["Record", "STATES", "TOMBSTONES", "merge", "order_key", "record_hash", "from_wire", "HASH_SIZE"]

STATES = ("WORKING", "FAILED", "SUCCESS", "REVOKED", "DELETED")
TOMBSTONES = frozenset({"REVOKED", "DELETED"})
HASH_SIZE = 16  # BLAKE2b-128: a record's identity in digests
_MAX_ID = 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One id's state as written by ``node`` at ``hlc``; tombstones (REVOKED, DELETED) carry payload None."""

    id: str
    state: str
    payload: Any
    hlc: Timestamp
    node: str
    gen: int = 0

    @property
    def tombstone(self) -> bool:
        """Whether this record says the id was revoked or deleted."""
        return self.state in TOMBSTONES

    def to_wire(self) -> list[Any]:
        """The record as a JSON-ready list (the journal and HTTP format)."""
        return [self.id, self.state, self.payload, list(self.hlc), self.node, self.gen]


def order_key(record: Record) -> tuple[int, bool, Timestamp, str, str]:
    """The key ``merge`` maximizes (see the module docstring).

    The state comes last only so that the order stays total even for two
    records one node stamped alike (a node never does; a forged one might).
    """
    return (record.gen, record.state == "SUCCESS", record.hlc, record.node, record.state)


def merge(a: Record | None, b: Record | None) -> Record | None:
    """The winning record of ``a`` and ``b`` for the same id (None stands for no record)."""
    if a is None:
        return b
    if b is None:
        return a
    if a.id != b.id:
        raise ValueError(f"merge of records of different ids: {a.id!r} and {b.id!r}")
    return a if order_key(a) >= order_key(b) else b


def record_hash(record: Record) -> bytes:
    """The 128-bit BLAKE2b hash of the record's canonical JSON: equal hashes mean equal records."""
    text = json.dumps(record.to_wire(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=HASH_SIZE).digest()


def from_wire(value: Any) -> Record:
    """Parse a record from its wire list; ValueError for anything malformed."""
    if not isinstance(value, list) or len(value) != 6:
        raise ValueError(f"a record is [id, state, payload, hlc, node, gen], not {value!r:.100}")
    rid, state, payload, hlc, node, gen = value
    if not isinstance(rid, str) or not 0 < len(rid) <= _MAX_ID:
        raise ValueError(f"a record id is a non-empty str of at most {_MAX_ID} characters, not {rid!r:.100}")
    if state not in STATES:
        raise ValueError(f"a record state is one of {STATES}, not {state!r:.100}")
    if state in TOMBSTONES and payload is not None:
        raise ValueError("a tombstone has no payload")
    if not isinstance(node, str) or not 0 < len(node) <= 128:
        raise ValueError(f"a node id is a non-empty str of at most 128 characters, not {node!r:.100}")
    if type(gen) is not int or gen < 0:
        raise ValueError(f"a generation is a non-negative int, not {gen!r:.100}")
    return Record(rid, state, payload, check_timestamp(hlc), node, gen)
