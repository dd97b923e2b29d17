"""1,000 concurrent connections echoing on one loop, and no file descriptor left behind."""
import asyncio
import os
import resource

import pytest

import ringloop
from helpers import open_fds

CONNECTIONS = 1000


@pytest.fixture
def enough_fds():
    """Two fds per connection (both ends live in this process) plus headroom."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * CONNECTIONS + 256
    if soft >= need:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        self.transport.close()


async def _echo_many(loop, open_conn, serve):
    server = await serve()
    started = asyncio.Event()
    all_connected = asyncio.Event()
    connected = 0

    async def client(index):
        nonlocal connected
        reader, writer = await open_conn(server)
        connected += 1
        if connected == CONNECTIONS:
            all_connected.set()
        # Every connection is open at once before any of them talks.
        await all_connected.wait()
        message = b"%06d:" % index + os.urandom(16).hex().encode() * (1 + index % 7)
        writer.write(message)
        writer.write_eof()
        echoed = await reader.read()
        writer.close()
        await writer.wait_closed()
        return echoed == message

    started.set()
    results = await asyncio.gather(*(client(i) for i in range(CONNECTIONS)))
    server.close()
    await server.wait_closed()
    return results


def _run_and_check_fds(open_conn, serve):
    before = open_fds()
    loop = ringloop.new_event_loop()
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        results = loop.run_until_complete(asyncio.wait_for(_echo_many(loop, open_conn, serve), 60))
    finally:
        loop.close()
    assert not errors, errors[:3]
    assert results.count(True) == CONNECTIONS
    # Every socket of 2,000 transports and the listener went back through the
    # ring; closing the loop releases the ring and its eventfd.
    assert open_fds() == before


def test_thousand_tcp_connections_echo_no_fd_leak(enough_fds):
    async def serve():
        loop = asyncio.get_running_loop()
        return await loop.create_server(Echo, "127.0.0.1", 0, backlog=CONNECTIONS + 24)

    async def open_conn(server):
        return await asyncio.open_connection(*server.sockets[0].getsockname())

    _run_and_check_fds(open_conn, serve)


def test_thousand_unix_connections_echo_no_fd_leak(enough_fds, tmp_path):
    path = str(tmp_path / "echo.sock")

    async def serve():
        loop = asyncio.get_running_loop()
        return await loop.create_unix_server(Echo, path, backlog=CONNECTIONS + 24)

    async def open_conn(server):
        return await asyncio.open_unix_connection(path)

    _run_and_check_fds(open_conn, serve)
