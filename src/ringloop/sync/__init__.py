"""Sync recorded state between nodes: local-first, offline-capable, reconciled by digests.

- :class:`SyncedStorage`: a Storage that writes locally and syncs with an upstream when it can.
- :func:`start_server` / ``python -m ringloop.recorder serve`` (or ``ringloop.sync``): the upstream service
  (aiohttp on ringloop, binary messages: :mod:`.protocol`).
- :mod:`.hlc`, :mod:`.model`, :mod:`.digest`: the pure parts (clocks, the merge rule, the digest tree).

See docs/sync.md.
"""
from .client import SyncStats, Upstream, UpstreamError, sync_once
from .digest import DigestTree
from .hlc import HybridClock
from .model import STATES, Record, merge
from .server import make_app, start_server
from .store import Replica
from .synced import SyncedStorage

__all__ = ["SyncedStorage", "Replica", "Record", "STATES", "merge", "HybridClock", "DigestTree",
           "Upstream", "UpstreamError", "SyncStats", "sync_once", "make_app", "start_server"]
