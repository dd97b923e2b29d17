"""SyncedStorage: a Storage that records into a local log and syncs it with an upstream when it can.

Records are TaskRecorder's (``["W"|"S"|"F", id, ...]``, ``["R", id]``) or
``["D", id]`` to delete an id; each id keeps only its merged latest record.
Writes go to the local storage only and never wait for the network: the
upstream being down delays propagation, nothing else.
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from ringloop.recorder import Storage

from .client import SyncStats, Upstream, UpstreamError, sync_once
from .digest import DEFAULT_DEPTH
from .model import Record
from .store import Replica

__all__ = ["SyncedStorage", "record_id"]

logger = logging.getLogger("ringloop.sync")

_KINDS = {"W": "WORKING", "F": "FAILED", "S": "SUCCESS", "R": "REVOKED", "D": "DELETED"}


def record_id(record: Any) -> str:
    """The sync id of a TaskRecorder-style record: its id if a str, else its canonical JSON."""
    if not isinstance(record, list) or len(record) < 2 or record[0] not in _KINDS:
        raise TypeError(f"a synced record is [kind, id, ...] with kind in {sorted(_KINDS)}, not {record!r:.100}")
    task_id = record[1]
    return task_id if isinstance(task_id, str) else "json:" + json.dumps(task_id, sort_keys=True)


class SyncedStorage:
    """A local Storage synced with an upstream every ``interval`` seconds, and on :meth:`sync`."""

    def __init__(self, local: Storage, *, upstream: str, token: str, interval: float = 5.0,
                 node: str | None = None, ssl: ssl_module.SSLContext | None = None,
                 depth: int = DEFAULT_DEPTH) -> None:
        """Sync ``local`` with ``upstream`` (a URL) using ``token``; ``node`` None keeps the logged id."""
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self.replica = Replica(local, node=node, depth=depth)
        self.upstream = Upstream(upstream, token, ssl=ssl)
        self.interval = float(interval)
        self.last: SyncStats | None = None
        #: The error of the last failed sync, None after a successful one.
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._sync_lock = asyncio.Lock()

    @property
    def node(self) -> str:
        """This node's id (known once opened)."""
        return self.replica.node

    async def open(self) -> None:
        """Replay the local log and start syncing in the background."""
        if not self._opened:
            await self.replica.open()
            self._opened = True
            self._task = asyncio.get_running_loop().create_task(self._run())

    # -- Storage ------------------------------------------------------------------

    async def save(self, batch: list[Any]) -> None:
        """Merge each record of ``batch`` as a local write of its id, durably, in order."""
        if not isinstance(batch, list):
            raise TypeError(f"a batch is a list, not {type(batch).__name__}")
        ids = [record_id(record) for record in batch]
        await self.open()
        for rid, record in zip(ids, batch):
            await self.replica.write(rid, _KINDS[record[0]], record)

    async def load(self, query: Callable[[Any], bool] | None = None) -> list[Any]:
        """The latest record of each live (not revoked, not deleted) id, in clock order."""
        if query is not None and not callable(query):
            raise TypeError("query must be None or a callable record -> bool")
        await self.open()
        live = sorted((r for r in self.replica.records.values() if not r.tombstone), key=lambda r: r.hlc)
        return [r.payload for r in live if query is None or query(r.payload)]

    async def close(self) -> None:
        """Stop syncing (a last sync is not attempted) and close the local storage and the session."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.upstream.close()
        await self.replica.close()

    # -- beyond Storage -------------------------------------------------------------

    async def put(self, record_id: str, state: str, payload: Any = None) -> Record:
        """Write ``record_id``'s state and payload locally (durable on return); it syncs later."""
        if not isinstance(record_id, str) or not record_id:
            raise TypeError("record_id must be a non-empty str")
        if state not in _KINDS.values():
            raise ValueError(f"state must be one of {sorted(_KINDS.values())}, not {state!r}")
        await self.open()
        return await self.replica.write(record_id, state, payload)

    def get(self, record_id: str) -> Record | None:
        """The merged record of ``record_id`` here now (tombstones included), or None."""
        return self.replica.get(record_id)

    def state(self) -> dict[str, tuple[str, Any]]:
        """id -> (state, payload) of every record held, tombstones included."""
        return {rid: (r.state, r.payload) for rid, r in self.replica.records.items()}

    async def sync(self) -> SyncStats:
        """Sync once now; UpstreamError when the upstream cannot be reached or refuses."""
        await self.open()
        async with self._sync_lock:
            try:
                self.last = await sync_once(self.replica, self.upstream)
            except BaseException as exc:
                self.error = exc
                raise
            self.error = None
            return self.last

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except UpstreamError as exc:  # the upstream is down or refusing: keep recording, retry later
                logger.info("sync with %s failed: %s", self.upstream.url, exc)
            await asyncio.sleep(self.interval)
