"""The node side: one sync with an upstream (:func:`sync_once`) and the digest descent it runs."""
from __future__ import annotations

import os
import ssl as ssl_module
from dataclasses import dataclass

import aiohttp

from .digest import FANOUT, SALT_SIZE, fingerprint, pack_fingerprints, salt_of
from .protocol import (CONTENT_TYPE, MAX_ID_BYTES, MAX_NODE_BYTES, RESPONSE, ROUTES, MalformedMessage,
                       Reader, Writer)
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
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl must be None or an ssl.SSLContext, not {type(ssl).__name__}")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE}
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, route: str, message: Writer, stats: SyncStats) -> Reader:
        """POST ``message`` to ``/v1/<route>``; a Reader of the answer; UpstreamError on any failure.

        A malformed answer is an UpstreamError too: the caller has changed
        nothing yet when it reads one.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = message.finish()
        try:
            async with self._session.post(f"{self.url}/v1/{route}", data=data, headers=self._headers,
                                          ssl=self._ssl if self._ssl is not None else True) as response:
                answer = await response.read()
                stats.sent += len(data)
                stats.received += len(answer)
                stats.requests += 1
                if response.status != 200:
                    raise UpstreamError(f"{route}: {response.status} {answer[:200]!r}", response.status)
                return Reader(answer, ROUTES[route] | RESPONSE)
        except MalformedMessage as exc:
            raise UpstreamError(f"{route}: malformed answer: {exc}") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UpstreamError(f"{route}: the upstream's TLS certificate was refused (give ssl= a context "
                                f"that trusts its CA): {exc.certificate_error}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UpstreamError(f"{route}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Close the HTTP session, if one was made."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _request(route: str) -> Writer:
    return Writer(ROUTES[route])


async def sync_once(replica: Replica, upstream: Upstream) -> SyncStats:
    """Reconcile ``replica`` with ``upstream`` once; ``converged`` tells whether both ended equal.

    Every record received is merged and logged durably before the next step,
    and the upstream logs what it receives before answering, so an
    interruption anywhere loses nothing either side acknowledged: the next
    sync resumes from whatever both hold.  UpstreamError when the upstream
    cannot be reached, refuses a request, or answers with a malformed message.
    """
    stats = SyncStats()
    try:
        return await _sync(replica, upstream, stats)
    except MalformedMessage as exc:  # a field of an answer: the Reader checks it as the server checks requests
        raise UpstreamError(f"malformed answer: {exc}") from exc


async def _sync(replica: Replica, upstream: Upstream, stats: SyncStats) -> SyncStats:
    hello = await upstream.call("hello", _request("hello").text(replica.node).hlc(replica.clock.now()), stats)
    hello.text(MAX_NODE_BYTES)
    hlc, horizon = hello.hlc(), hello.hlc()
    hello.done()
    replica.clock.observe(hlc)
    await replica.set_horizon(horizon)
    if await _roots_equal(replica, upstream, stats):
        stats.converged = True
        return stats
    raw_salt = os.urandom(SALT_SIZE)  # new each sync: a fingerprint collision cannot repeat (see .digest)
    salt = salt_of(raw_salt)
    parents = [0]
    for level in range(replica.tree.depth):
        answer = await upstream.call("compare", _request("compare").blob(raw_salt).varint(level).indexes(parents)
                                     .blob(replica.tree.child_fingerprints(level, parents, salt)), stats)
        parents = answer.indexes(FANOUT ** (level + 1))
        answer.done()
        if not parents:
            break
    if parents:
        await _exchange_leaves(replica, upstream, parents, raw_salt, stats)
    stats.converged = await _roots_equal(replica, upstream, stats)
    return stats


async def _roots_equal(replica: Replica, upstream: Upstream, stats: SyncStats) -> bool:
    # The clock is read and the root taken with no await between: every
    # local write not in this root is stamped later than hlc.
    hlc = replica.clock.now()
    root = replica.tree.root
    answer = await upstream.call("root", _request("root").text(replica.node).blob(root).hlc(hlc), stats)
    equal = bool(answer.uint(2, "equal flag"))
    remote, horizon = answer.hlc(), answer.hlc()
    answer.done()
    replica.clock.observe(remote)
    await replica.set_horizon(horizon)
    return equal


async def _exchange_leaves(replica: Replica, upstream: Upstream, leaves: list[int], raw_salt: bytes,
                           stats: SyncStats) -> None:
    salt = salt_of(raw_salt)
    ids: list[str] = []
    fps: list[int] = []
    request = _request("leaves").blob(raw_salt).indexes(leaves)
    for leaf in leaves:
        members = replica.leaf_hashes(leaf)
        request.varint(len(members))
        for hash_, rid in members.items():
            ids.append(rid)
            fps.append(fingerprint(int.from_bytes(hash_, "big"), salt))
    answer = await upstream.call("leaves", request.blob(pack_fingerprints(fps)), stats)
    pulled = answer.records()
    wanted = answer.indexes(len(ids))  # positions in fps: the records the upstream lacks
    answer.done()
    await replica.apply(pulled)
    stats.pulled = len(pulled)
    push = [replica.records[rid] for rid in sorted({ids[n] for n in wanted}) if rid in replica.records]
    if push:
        answer = await upstream.call("push", _request("push").text(replica.node).records(push), stats)
        rejected = [answer.text(MAX_ID_BYTES) for _ in range(answer.uint(len(push) + 1, "rejected count"))]
        hlc = answer.hlc()
        answer.done()
        stats.pushed = len(push)
        replica.clock.observe(hlc)
        # Refused as stale: ids deleted and collected upstream while this node held an old record.
        await replica.purge(rejected)
