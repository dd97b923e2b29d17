"""A replica: the merged record of every id, its digest tree, and their durable log in a Storage.

Nodes and the upstream both hold one.  Every change is saved to the storage
(and, for a JournalStorage, fdatasynced) *before* it shows in memory, so
what a replica reports or sends is never more than what it can recover.
Log entries are JSON lists::

    ["r", record, seq]        a record won its merge (seq: arrival order here)
    ["x", id]                 the id was purged (a collected tombstone, a rejected stale record)
    ["a", node, seq, hlc]     node acknowledged everything up to seq, its clock then at hlc
    ["h", hlc]                the collection horizon rose to hlc
    ["n", node]               this replica's node id
    ["c", seq, hlc]           a compacted log starts here: the arrival counter and the clock were at least these

The log grows with every update and every acknowledgement, so it is
*compacted* when it holds more than ``COMPACT_FACTOR`` times the entries its
state needs (and at least ``COMPACT_MIN``), if the storage can ``replace``
its content atomically (JournalStorage and MemoryStorage can): the new log
is one ``c``, ``n`` and ``h`` entry, one ``a`` per known node and one ``r``
per id held.  The log then stays proportional to the ids held, not to the
updates, at an amortized cost of a constant number of entries per update.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ringloop.recorder import Storage

from .digest import DEFAULT_DEPTH, DigestTree, leaf_of
from .hlc import HybridClock, Timestamp, check_timestamp
from .model import Record, from_wire, merge, record_hash

__all__ = ["Replica", "COMPACT_MIN", "COMPACT_FACTOR"]

COMPACT_MIN = 1024
COMPACT_FACTOR = 2


class Replica:
    """Merged state over a Storage; see the module docstring for what is logged."""

    def __init__(self, storage: Storage, *, node: str | None = None, depth: int = DEFAULT_DEPTH) -> None:
        """A replica logging to ``storage``; ``node`` None: the id logged before, or a new random one."""
        if not callable(getattr(storage, "save", None)) or not callable(getattr(storage, "load", None)):
            raise TypeError(f"storage must have save() and load(), not {type(storage).__name__}")
        if node is not None and (not isinstance(node, str) or not 0 < len(node) <= 128):
            raise TypeError("node must be None or a non-empty str of at most 128 characters")
        self.storage = storage
        self.node = ""
        self._wanted_node = node
        self.clock = HybridClock()
        self.tree = DigestTree(depth)
        self.records: dict[str, Record] = {}
        self.hashes: dict[str, bytes] = {}
        self.leaves: dict[int, set[str]] = {}
        self.seqs: dict[str, int] = {}
        self.seq = 0
        self.tombstones: set[str] = set()
        self.acks: dict[str, tuple[int, Timestamp]] = {}
        self.horizon: Timestamp = (0, 0)
        #: Entries in the storage's log (since it was last compacted).
        self.logged = 0
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Replay the storage's log; give the replica its node id (logging a new one)."""
        for entry in await self.storage.load(None):
            self._replay(entry)
            self.logged += 1
        wanted = self._wanted_node or self.node or uuid.uuid4().hex[:16]
        if wanted != self.node:
            await self._save([["n", wanted]])
        for record in self.records.values():
            self.clock.observe(record.hlc)

    # -- reading ---------------------------------------------------------------------

    def get(self, record_id: str) -> Record | None:
        """The record of ``record_id``, tombstones included, or None."""
        return self.records.get(record_id)

    def leaf_hashes(self, leaf: int) -> dict[bytes, str]:
        """Record hash -> id for the records in ``leaf``."""
        return {self.hashes[rid]: rid for rid in self.leaves.get(leaf, ())}

    # -- changing --------------------------------------------------------------------

    async def write(self, record_id: str, state: str, payload: Any) -> Record:
        """Record a local write of ``record_id`` now; tombstone states raise the generation."""
        async with self._lock:
            old = self.records.get(record_id)
            gen = 0 if old is None else old.gen
            if state in ("REVOKED", "DELETED"):
                gen += 1
                payload = None
            record = Record(record_id, state, payload, self.clock.now(), self.node, gen)
            await self._commit([record], [])
            return record

    async def apply(self, records: list[Record], *, reject_stale: bool = False) -> tuple[list[Record], list[str]]:
        """Merge ``records``: return those that won (and were logged) and the ids rejected as stale.

        With ``reject_stale`` (the upstream), a record at or below the horizon
        for an id not held is refused: its id was deleted and collected.
        """
        async with self._lock:
            won: dict[str, Record] = {}
            rejected = []
            for record in records:
                self.clock.observe(record.hlc)
                current = won.get(record.id) or self.records.get(record.id)
                if reject_stale and current is None and record.hlc <= self.horizon:
                    rejected.append(record.id)
                    continue
                if merge(current, record) is record and current != record:
                    won[record.id] = record
            await self._commit(list(won.values()), [])
            return list(won.values()), rejected

    async def purge(self, ids: list[str]) -> None:
        """Forget ``ids`` entirely (no tombstone): collected tombstones, records the upstream refused."""
        async with self._lock:
            await self._commit([], [rid for rid in ids if rid in self.records])

    async def acknowledge(self, node: str, seq: int, hlc: Timestamp) -> None:
        """Log that ``node`` holds everything up to ``seq`` and its clock had passed ``hlc``."""
        async with self._lock:
            await self._save([["a", node, seq, list(hlc)]])

    async def register(self, node: str) -> None:
        """Make ``node`` a known node (it holds back tombstone collection until it acknowledges)."""
        if node not in self.acks:
            await self.acknowledge(node, 0, (0, 0))

    async def forget(self, node: str) -> bool:
        """Stop waiting for ``node``'s acknowledgements; return whether it was known."""
        async with self._lock:
            if node not in self.acks:
                return False
            await self._save([["a", node, -1, [0, 0]]])
            return True

    async def collect(self) -> list[str]:
        """Drop tombstones every known node has acknowledged; raise the horizon; return their ids."""
        if not self.acks:
            return []
        min_seq = min(seq for seq, _ in self.acks.values())
        min_hlc = min(hlc for _, hlc in self.acks.values())
        done = [rid for rid in self.tombstones
                if self.seqs[rid] <= min_seq and self.records[rid].hlc < min_hlc]
        if done:
            async with self._lock:
                top = max(self.records[rid].hlc for rid in done)
                await self._commit([], done, horizon=max(top, self.horizon))
        return done

    async def set_horizon(self, horizon: Timestamp) -> list[str]:
        """Adopt the upstream's horizon: drop the local tombstones at or below it; return their ids."""
        if horizon <= self.horizon:
            return []
        async with self._lock:
            done = [rid for rid in self.tombstones if self.records[rid].hlc <= horizon]
            await self._commit([], done, horizon=horizon)
            return done

    async def compact(self) -> None:
        """Rewrite the log now as a snapshot of the state (it also happens by itself; see the module docstring).

        TypeError when the storage has no ``replace``.
        """
        if not callable(getattr(self.storage, "replace", None)):
            raise TypeError(f"{type(self.storage).__name__} has no replace(): its log cannot be compacted")
        async with self._lock:
            await self._rewrite()

    async def close(self) -> None:
        """Close the storage if it can be closed."""
        close = getattr(self.storage, "close", None)
        if callable(close):
            await close()

    # -- the log ---------------------------------------------------------------------

    async def _commit(self, records: list[Record], purged: list[str], horizon: Timestamp | None = None) -> None:
        entries: list[Any] = []
        for record in records:
            entries.append(["r", record.to_wire(), self.seq + 1 + len(entries)])
        entries += [["x", rid] for rid in purged]
        if horizon is not None:
            entries.append(["h", list(horizon)])
        if entries:
            await self._save(entries)

    async def _save(self, entries: list[Any]) -> None:
        """Log ``entries`` durably, then apply them in memory; compact the log when it has grown enough.

        Callers hold the lock (or are opening): nothing is logged between the
        snapshot of a compaction and its replace.
        """
        await self._write(entries, self.storage.save)  # durable first: memory never shows what could be lost
        for entry in entries:
            self._replay(entry)
        self.logged += len(entries)
        if callable(getattr(self.storage, "replace", None)) and \
                self.logged > max(COMPACT_MIN, COMPACT_FACTOR * self._needed()):
            await self._rewrite()

    async def _rewrite(self) -> None:
        snapshot = self._snapshot()
        await self._write(snapshot, self.storage.replace)  # type: ignore[attr-defined]  # checked by callers
        self.logged = len(snapshot)

    def _needed(self) -> int:
        return len(self.records) + len(self.acks) + 3  # what _snapshot writes

    def _snapshot(self) -> list[Any]:
        entries: list[Any] = [["c", self.seq, list(self.clock.last)], ["n", self.node], ["h", list(self.horizon)]]
        entries += [["a", node, seq, list(hlc)] for node, (seq, hlc) in self.acks.items()]
        entries += [["r", self.records[rid].to_wire(), seq] for rid, seq in sorted(self.seqs.items(),
                                                                                  key=lambda item: item[1])]
        return entries

    async def _write(self, entries: list[Any], method: Any) -> None:
        encode = getattr(self.storage, "encode", None)
        await method([encode(e) for e in entries] if callable(encode) else entries)

    def _replay(self, entry: Any) -> None:
        kind = entry[0]
        if kind == "r":
            self._put(from_wire(entry[1]), entry[2])
        elif kind == "x":
            self._drop(entry[1])
        elif kind == "a":
            if entry[2] < 0:
                self.acks.pop(entry[1], None)
            else:
                self.acks[entry[1]] = (entry[2], check_timestamp(entry[3]))
        elif kind == "h":
            self.horizon = max(self.horizon, check_timestamp(entry[1]))
        elif kind == "n":
            self.node = entry[1]
        elif kind == "c":
            # Entries compacted away may have moved both further than the records kept show.
            self.seq = max(self.seq, entry[1])
            self.clock.observe(check_timestamp(entry[2]))
        else:
            raise ValueError(f"unknown sync log entry {entry!r:.100}")

    def _put(self, record: Record, seq: int) -> None:
        self._drop(record.id)
        digest = record_hash(record)
        leaf = leaf_of(record.id, self.tree.depth)
        self.records[record.id] = record
        self.hashes[record.id] = digest
        self.leaves.setdefault(leaf, set()).add(record.id)
        self.tree.toggle(leaf, digest)
        self.seq = max(self.seq, seq)
        self.seqs[record.id] = seq
        if record.tombstone:
            self.tombstones.add(record.id)

    def _drop(self, record_id: str) -> None:
        if record_id not in self.records:
            return
        leaf = leaf_of(record_id, self.tree.depth)
        self.tree.toggle(leaf, self.hashes.pop(record_id))
        del self.records[record_id]
        del self.seqs[record_id]
        members = self.leaves[leaf]
        members.discard(record_id)
        if not members:
            del self.leaves[leaf]
        self.tombstones.discard(record_id)
