"""The node side: one sync with an upstream (:func:`sync_once`) and the digest descent it runs."""
from __future__ import annotations

import json
import ssl as ssl_module
from dataclasses import dataclass
from typing import Any

import aiohttp

from .digest import FP_SIZE
from .hlc import check_timestamp
from .model import from_wire
from .protocol import pack_bytes, pack_indexes, unpack_bytes, unpack_indexes
from .store import Replica

__all__ = ["SyncStats", "UpstreamError", "Upstream", "sync_once"]


class UpstreamError(Exception):
    """The upstream could not be reached or refused a request (the status is in ``status``, or None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SyncStats:
    """What one sync moved: request and response body bytes, round trips, records each way."""

    sent: int = 0
    received: int = 0
    requests: int = 0
    pulled: int = 0
    pushed: int = 0
    converged: bool = False


class Upstream:
    """A connection to an upstream service: ``url``, bearer ``token``, optional TLS context."""

    def __init__(self, url: str, token: str, *, ssl: ssl_module.SSLContext | None = None,
                 timeout: float = 30.0) -> None:
        """Describe the upstream; the HTTP session is made on first use, on the running loop."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, not {url!r}")
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty str")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, route: str, body: dict[str, Any], stats: SyncStats) -> Any:
        """POST ``body`` to ``/v1/<route>`` and return the decoded answer; UpstreamError on any failure."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self._session.post(f"{self.url}/v1/{route}", data=data, headers=self._headers,
                                          ssl=self._ssl if self._ssl is not None else True) as response:
                answer = await response.read()
                stats.sent += len(data)
                stats.received += len(answer)
                stats.requests += 1
                if response.status != 200:
                    raise UpstreamError(f"{route}: {response.status} {answer[:200]!r}", response.status)
                return json.loads(answer)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UpstreamError(f"{route}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Close the HTTP session, if one was made."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def sync_once(replica: Replica, upstream: Upstream) -> SyncStats:
    """Reconcile ``replica`` with ``upstream`` once; ``converged`` tells whether both ended equal.

    Every record received is merged and logged durably before the next step,
    and the upstream logs what it receives before answering, so an
    interruption anywhere loses nothing either side acknowledged: the next
    sync resumes from whatever both hold.
    """
    stats = SyncStats()
    hello = await upstream.call("hello", {"node": replica.node, "hlc": list(replica.clock.now())}, stats)
    replica.clock.observe(check_timestamp(hello["hlc"]))
    await replica.set_horizon(check_timestamp(hello["horizon"]))
    if await _roots_equal(replica, upstream, stats):
        stats.converged = True
        return stats
    parents = [0]
    for level in range(replica.tree.depth):
        answer = await upstream.call("compare", {
            "level": level, "parents": pack_indexes(parents),
            "fps": pack_bytes(replica.tree.child_fingerprints(level, parents))}, stats)
        parents = unpack_indexes(answer["differ"], 4 ** (level + 1))
        if not parents:
            break
    if parents:
        await _exchange_leaves(replica, upstream, parents, stats)
    stats.converged = await _roots_equal(replica, upstream, stats)
    return stats


async def _roots_equal(replica: Replica, upstream: Upstream, stats: SyncStats) -> bool:
    # The clock is read and the root taken with no await between: every
    # local write not in this root is stamped later than hlc.
    hlc = replica.clock.now()
    root = replica.tree.root
    answer = await upstream.call("root", {"node": replica.node, "root": pack_bytes(root), "hlc": list(hlc)}, stats)
    replica.clock.observe(check_timestamp(answer["hlc"]))
    await replica.set_horizon(check_timestamp(answer["horizon"]))
    return bool(answer["equal"])


async def _exchange_leaves(replica: Replica, upstream: Upstream, leaves: list[int], stats: SyncStats) -> None:
    by_fp: dict[bytes, str] = {}
    fps: list[bytes] = []
    counts = []
    for leaf in leaves:
        hashes = sorted(replica.leaf_hashes(leaf).items())
        counts.append(len(hashes))
        fps += [hash_[:FP_SIZE] for hash_, _ in hashes]
        by_fp.update((hash_[:FP_SIZE], rid) for hash_, rid in hashes)
    answer = await upstream.call("leaves", {"leaves": pack_indexes(leaves), "counts": counts,
                                            "fps": pack_bytes(b"".join(fps))}, stats)
    pulled = [from_wire(item) for item in answer["records"]]
    want = unpack_bytes(answer["want"])
    ids = {by_fp[want[n:n + FP_SIZE]] for n in range(0, len(want), FP_SIZE) if want[n:n + FP_SIZE] in by_fp}
    await replica.apply(pulled)
    stats.pulled = len(pulled)
    push = [replica.records[rid].to_wire() for rid in sorted(ids) if rid in replica.records]
    if push:
        answer = await upstream.call("push", {"node": replica.node, "records": push}, stats)
        stats.pushed = len(push)
        replica.clock.observe(check_timestamp(answer["hlc"]))
        # Refused as stale: ids deleted and collected upstream while this node held an old record.
        await replica.purge([rid for rid in answer["rejected"] if isinstance(rid, str)])
