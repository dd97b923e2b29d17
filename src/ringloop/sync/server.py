"""The upstream: an aiohttp application over a Replica, every request authenticated by a shared token.

Routes (all ``POST``, JSON bodies, ``Authorization: Bearer <token>``):

- ``/v1/hello``   ``{node, hlc}`` -> ``{node, hlc, horizon}``: registers the node
- ``/v1/root``    ``{node, root, hlc}`` -> ``{equal, hlc, horizon}``: equal roots acknowledge
- ``/v1/compare`` ``{level, parents, fps}`` -> ``{differ}``: one level of the descent
- ``/v1/leaves``  ``{leaves, counts, fps}`` -> ``{records, want}``: the differing leaves' records
- ``/v1/push``    ``{node, records}`` -> ``{rejected, hlc}``: merge records, durably
- ``/v1/forget``  ``{node}`` -> ``{forgotten}``: stop holding tombstones for a node

A request is parsed and checked completely before anything changes, so a
malformed one (400), an unauthenticated one (401) or an oversized one (413)
changes nothing.
"""
from __future__ import annotations

import hmac
import json
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .digest import FANOUT, FP_SIZE
from .hlc import check_timestamp
from .model import HASH_SIZE, Record, from_wire
from .protocol import field, pack_bytes, pack_indexes, unpack_bytes, unpack_indexes
from .store import Replica

__all__ = ["make_app", "start_server", "MAX_BODY", "MAX_RECORDS"]

MAX_BODY = 64 << 20
MAX_RECORDS = 200_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(replica: Replica, token: str, *, max_body: int = MAX_BODY) -> web.Application:
    """The upstream's aiohttp application serving ``replica`` to clients that present ``token``."""
    if not isinstance(token, str) or not token:
        raise ValueError("the token must be a non-empty str")
    if type(max_body) is not int or max_body < 1024:
        raise ValueError("max_body must be an int of at least 1024")
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(text="missing or wrong token")
        if request.content_length is not None and request.content_length > max_body:
            raise web.HTTPRequestEntityTooLarge(max_size=max_body, actual_size=request.content_length)
        try:
            return await handler(request)
        except ValueError as exc:  # every parse error, before anything changed
            raise web.HTTPBadRequest(text=str(exc)) from None

    app = web.Application(client_max_size=max_body, middlewares=[guard])
    handlers = _Handlers(replica)
    app.add_routes([web.post(f"/v1/{name}", getattr(handlers, name))
                    for name in ("hello", "root", "compare", "leaves", "push", "forget")])
    return app


async def start_server(replica: Replica, token: str, *, host: str = "127.0.0.1", port: int = 0,
                       ssl: ssl_module.SSLContext | None = None, max_body: int = MAX_BODY) -> web.AppRunner:
    """Serve ``replica`` on ``host:port`` (TLS with ``ssl``); the runner's ``addresses`` give the port."""
    runner = web.AppRunner(make_app(replica, token, max_body=max_body), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl).start()
    return runner


async def _body(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None


class _Handlers:
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def _answer(self, payload: dict[str, Any]) -> web.Response:
        return web.json_response(payload, dumps=lambda v: json.dumps(v, separators=(",", ":")))

    async def hello(self, request: web.Request) -> web.Response:
        body = await _body(request)
        node = _node(body)
        hlc = check_timestamp(field(body, "hlc", list))
        self.replica.clock.observe(hlc)
        await self.replica.register(node)
        return self._answer({"node": self.replica.node, "hlc": list(self.replica.clock.now()),
                             "horizon": list(self.replica.horizon)})

    async def root(self, request: web.Request) -> web.Response:
        body = await _body(request)
        node = _node(body)
        root = unpack_bytes(field(body, "root", str))
        hlc = check_timestamp(field(body, "hlc", list))
        if len(root) != HASH_SIZE:
            raise ValueError(f"a root digest has {HASH_SIZE} bytes")
        if node not in self.replica.acks:
            raise web.HTTPConflict(text="unknown node: say hello first")
        self.replica.clock.observe(hlc)
        equal = root == self.replica.tree.root
        if equal:
            # The node held exactly this state, and writes nothing older than
            # hlc from now on: what collection needs to know (see collect()).
            await self.replica.acknowledge(node, self.replica.seq, hlc)
            await self.replica.collect()
        return self._answer({"equal": equal, "hlc": list(self.replica.clock.now()),
                             "horizon": list(self.replica.horizon)})

    async def compare(self, request: web.Request) -> web.Response:
        body = await _body(request)
        level = field(body, "level", int)
        if not 0 <= level < self.replica.tree.depth:
            raise ValueError(f"level must be from 0 to {self.replica.tree.depth - 1}")
        parents = unpack_indexes(field(body, "parents", str), FANOUT ** level)
        fps = unpack_bytes(field(body, "fps", str))
        return self._answer({"differ": pack_indexes(self.replica.tree.differing(level, parents, fps))})

    async def leaves(self, request: web.Request) -> web.Response:
        body = await _body(request)
        leaves = unpack_indexes(field(body, "leaves", str), FANOUT ** self.replica.tree.depth)
        counts = field(body, "counts", list)
        fps = unpack_bytes(field(body, "fps", str))
        if (len(counts) != len(leaves) or not all(type(c) is int and c >= 0 for c in counts)
                or sum(counts) * FP_SIZE != len(fps)):
            raise ValueError("counts must give, for each leaf, how many of fps are in it")
        theirs = {fps[n:n + FP_SIZE] for n in range(0, len(fps), FP_SIZE)}
        records, want = [], []
        for leaf in leaves:
            mine = {hash_[:FP_SIZE]: rid for hash_, rid in self.replica.leaf_hashes(leaf).items()}
            records += [self.replica.records[rid].to_wire() for fp, rid in mine.items() if fp not in theirs]
        offset = 0
        for leaf, count in zip(leaves, counts):
            mine_fps = {hash_[:FP_SIZE] for hash_ in self.replica.leaf_hashes(leaf)}
            want += [fps[n:n + FP_SIZE] for n in range(offset, offset + count * FP_SIZE, FP_SIZE)
                     if fps[n:n + FP_SIZE] not in mine_fps]
            offset += count * FP_SIZE
        return self._answer({"records": records, "want": pack_bytes(b"".join(want))})

    async def push(self, request: web.Request) -> web.Response:
        body = await _body(request)
        _node(body)
        raw = field(body, "records", list)
        if len(raw) > MAX_RECORDS:
            raise ValueError(f"at most {MAX_RECORDS} records a push")
        records: list[Record] = [from_wire(item) for item in raw]
        _, rejected = await self.replica.apply(records, reject_stale=True)
        return self._answer({"rejected": rejected, "hlc": list(self.replica.clock.now())})

    async def forget(self, request: web.Request) -> web.Response:
        body = await _body(request)
        forgotten = await self.replica.forget(_node(body))
        if forgotten:
            await self.replica.collect()
        return self._answer({"forgotten": forgotten})


def _node(body: Any) -> str:
    node = field(body, "node", str)
    if not 0 < len(node) <= 128:
        raise ValueError("a node id is a non-empty str of at most 128 characters")
    return str(node)


