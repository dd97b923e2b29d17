"""The upstream: an aiohttp application over a Replica, every request authenticated by a shared token.

Routes (all ``POST``, ``Authorization: Bearer <token>``); the node routes
take and answer binary messages (:mod:`.protocol`), fields in order:

- ``/v1/hello``   node, hlc -> node, hlc, horizon: registers the node
- ``/v1/root``    node, root (16 bytes), hlc -> equal (0/1), hlc, horizon: equal roots acknowledge
- ``/v1/compare`` salt, level, parents, fingerprints -> the children that differ: one level of the descent
- ``/v1/leaves``  salt, leaves, per leaf a count, fingerprints -> records, the positions of the wanted ones
- ``/v1/push``    node, records -> rejected ids, hlc: merge records, durably

and one operator route, JSON so that curl can call it:

- ``/v1/forget``  ``{"node": ...}`` -> ``{"forgotten": bool}``: stop holding tombstones for a node

A request is parsed and checked completely before anything changes, so a
malformed one (400), an unauthenticated one (401) or an oversized one (413)
changes nothing.
"""
from __future__ import annotations

import hmac
import json
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from aiohttp import web

from .digest import FANOUT, SALT_SIZE, fingerprint, salt_of, unpack_fingerprints
from .model import HASH_SIZE
from .protocol import (CONTENT_TYPE, MAX_NODE_BYTES, MAX_RECORDS, RESPONSE, ROUTES, MalformedMessage, Reader,
                       Writer)
from .store import Replica

__all__ = ["make_app", "start_server", "MAX_BODY", "MAX_RECORDS"]

MAX_BODY = 64 << 20

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


async def _message(request: web.Request, route: str) -> Reader:
    return Reader(await request.read(), ROUTES[route])


def _answer(message: Writer) -> web.Response:
    return web.Response(body=message.finish(), content_type=CONTENT_TYPE)


def _salt(message: Reader) -> int:
    raw = message.blob(SALT_SIZE)
    if len(raw) != SALT_SIZE:
        raise MalformedMessage(f"a salt has {SALT_SIZE} bytes")
    return salt_of(raw)


def _node(message: Reader) -> str:
    node = message.text(MAX_NODE_BYTES)
    if not 0 < len(node) <= 128:
        raise MalformedMessage("a node id is a non-empty str of at most 128 characters")
    return node


class _Handlers:
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def _reply(self, route: str) -> Writer:
        return Writer(ROUTES[route] | RESPONSE)

    async def hello(self, request: web.Request) -> web.Response:
        body = await _message(request, "hello")
        node, hlc = _node(body), body.hlc()
        body.done()
        self.replica.clock.observe(hlc)
        await self.replica.register(node)
        return _answer(self._reply("hello").text(self.replica.node).hlc(self.replica.clock.now())
                       .hlc(self.replica.horizon))

    async def root(self, request: web.Request) -> web.Response:
        body = await _message(request, "root")
        node, root, hlc = _node(body), body.blob(HASH_SIZE), body.hlc()
        body.done()
        if len(root) != HASH_SIZE:
            raise MalformedMessage(f"a root digest has {HASH_SIZE} bytes")
        if node not in self.replica.acks:
            raise web.HTTPConflict(text="unknown node: say hello first")
        self.replica.clock.observe(hlc)
        equal = root == self.replica.tree.root
        if equal:
            # The node held exactly this state, and writes nothing older than
            # hlc from now on: what collection needs to know (see collect()).
            await self.replica.acknowledge(node, self.replica.seq, hlc)
            await self.replica.collect()
        return _answer(self._reply("root").varint(int(equal)).hlc(self.replica.clock.now())
                       .hlc(self.replica.horizon))

    async def compare(self, request: web.Request) -> web.Response:
        body = await _message(request, "compare")
        salt = _salt(body)
        level = body.uint(self.replica.tree.depth, "level")
        parents = body.indexes(FANOUT ** level)
        fps = body.blob()
        body.done()
        return _answer(self._reply("compare").indexes(self.replica.tree.differing(level, parents, fps, salt)))

    async def leaves(self, request: web.Request) -> web.Response:
        body = await _message(request, "leaves")
        salt = _salt(body)
        leaves = body.indexes(FANOUT ** self.replica.tree.depth)
        counts = [body.varint() for _ in leaves]
        fps = unpack_fingerprints(body.blob())
        body.done()
        if sum(counts) != len(fps):
            raise MalformedMessage("the counts must give, for each leaf, how many of the fingerprints are in it")
        records, wanted = [], []
        first = 0
        for leaf, count in zip(leaves, counts):
            # Matched within the leaf only: 32-bit fingerprints are unique among a leaf's few records.
            theirs = fps[first:first + count]
            mine = {fingerprint(int.from_bytes(hash_, "big"), salt): rid
                    for hash_, rid in self.replica.leaf_hashes(leaf).items()}
            known = set(theirs)
            records += [self.replica.records[rid] for fp, rid in mine.items() if fp not in known]
            wanted += [first + n for n, fp in enumerate(theirs) if fp not in mine]
            first += count
        return _answer(self._reply("leaves").records(records).indexes(wanted))

    async def push(self, request: web.Request) -> web.Response:
        body = await _message(request, "push")
        _node(body)
        records = body.records(MAX_RECORDS)
        body.done()
        _, rejected = await self.replica.apply(records, reject_stale=True)
        reply = self._reply("push").varint(len(rejected))
        for rid in rejected:
            reply.text(rid)
        return _answer(reply.hlc(self.replica.clock.now()))

    async def forget(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        node = body.get("node") if isinstance(body, dict) else None
        if not isinstance(node, str) or not 0 < len(node) <= 128:
            raise ValueError('the body is {"node": "<a node id of 1 to 128 characters>"}')
        forgotten = await self.replica.forget(node)
        if forgotten:
            await self.replica.collect()
        return web.json_response({"forgotten": forgotten})
