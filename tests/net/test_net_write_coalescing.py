"""Writes of one loop iteration leave a stream transport as one ring operation.

uvicorn writes a response as a head and a body, in the same task step; each
used to be a send of its own (the body waiting for the head's completion).
The ring's token counter says how many operations a transport queued: the
recv is multishot (no new token per read), so every new token is a send.
"""
import asyncio
import re
import socket

import pytest
from helpers import run_checked

SMALL = (b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n", b"body")
# Each under the size sent at once inside write(), together over the join
# limit: gathered by sendmsg instead (test_net_write_at_once has larger writes).
LARGE = (b"h" * 10_000, b"b" * 12_000)


def tokens_used(loop):
    """Tokens the loop's ring has handed out so far (its itertools.count, read without advancing it)."""
    return int(re.fullmatch(r"count\((\d+)\)", repr(loop._ring._tokens)).group(1))


class TwoPartResponder(asyncio.Protocol):
    """Answers every request byte with ``parts``, written one write() each, as uvicorn does."""

    def __init__(self, parts):
        self.parts = parts

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        for _ in data:
            for part in self.parts:
                self.transport.write(part)


async def serve_and_request(loop, parts, requests):
    """Send ``requests`` one-byte requests one at a time; (responses as received, tokens used meanwhile)."""
    server = await loop.create_server(lambda: TwoPartResponder(parts), "127.0.0.1", 0)
    client = socket.create_connection(server.sockets[0].getsockname())
    client.setblocking(False)
    want = sum(map(len, parts))
    responses = []
    try:
        await asyncio.sleep(0.05)  # the server's accept and first read armed
        before = tokens_used(loop)
        for _ in range(requests):
            await loop.sock_sendall(client, b"?")
            got = b""
            while len(got) < want:
                got += await loop.sock_recv(client, want - len(got))
            responses.append(got)
        # sock_sendall and sock_recv queue ops of their own: count them out.
        used = tokens_used(loop) - before
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    return responses, used


async def client_ops_only(loop, requests, want):
    """Tokens a client alone uses for ``requests`` request/response exchanges of ``want`` bytes (no server)."""
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    try:
        before = tokens_used(loop)
        for _ in range(requests):
            await loop.sock_sendall(left, b"?")
            right.recv(1)
            right.sendall(b"x" * want)
            got = 0
            while got < want:
                got += len(await loop.sock_recv(left, want - got))
        return tokens_used(loop) - before
    finally:
        left.close()
        right.close()


@pytest.mark.parametrize("parts", [SMALL, LARGE], ids=["joined", "gathered"])
def test_two_writes_in_one_step_are_one_send(loop, parts):
    requests = 20
    responses, used = run_checked(loop, serve_and_request(loop, parts, requests))
    assert responses == [b"".join(parts)] * requests
    client_used = run_checked(loop, client_ops_only(loop, requests, sum(map(len, parts))))
    # One send per response on the server's side: a second write of the same
    # step would be a second token.
    assert used - client_used == requests


def test_writes_after_write_eof_order(loop):
    """write(); write(); write_eof() in one step: both chunks reach the peer before its EOF."""

    async def main():
        server_got = loop.create_future()

        class Sink(asyncio.Protocol):
            def __init__(self):
                self.data = b""

            def data_received(self, data):
                self.data += data

            def eof_received(self):
                server_got.set_result(self.data)

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        transport.write(b"first ")
        transport.write(b"second")
        transport.write_eof()
        try:
            return await server_got
        finally:
            transport.close()
            server.close()
            await server.wait_closed()

    assert run_checked(loop, main()) == b"first second"
