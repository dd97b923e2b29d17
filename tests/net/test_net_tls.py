"""TLS over ringloop's stream transport (asyncio's SSLProtocol on top), and
loop.sendfile on a TLS transport, which must fall back to reads and writes."""
import asyncio
import hashlib
import os
import ssl

import pytest
from helpers import run_checked

# CPython's test package: `make test` installs it where a distribution ships it apart.
from test.test_asyncio.utils import simple_client_sslcontext, simple_server_sslcontext


def test_tls_echo_streams(loop):
    async def main():
        seen = []

        async def echo(reader, writer):
            seen.append(writer.get_extra_info("ssl_object"))
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=simple_server_sslcontext())
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port, ssl=simple_client_sslcontext())
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.version() is not None
        payload = os.urandom(3 << 20)
        for offset in range(0, len(payload), 100_000):
            writer.write(payload[offset : offset + 100_000])
        await writer.drain()
        echoed = await reader.readexactly(len(payload))
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        assert len(seen) == 1 and isinstance(seen[0], ssl.SSLObject)

    run_checked(loop, main())


def test_tls_many_small_round_trips(loop):
    async def main():
        async def echo(reader, writer):
            while line := await reader.readline():
                writer.write(line.upper())
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=simple_server_sslcontext())
        reader, writer = await asyncio.open_connection(
            *server.sockets[0].getsockname(), ssl=simple_client_sslcontext()
        )
        for i in range(300):
            writer.write(b"line %d\n" % i)
            assert await reader.readline() == b"LINE %d\n" % i
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_start_tls_upgrades_a_plain_connection(loop):
    async def main():
        server_ctx = simple_server_sslcontext()

        async def handle(reader, writer):
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"OK\n")
            await writer.drain()
            await writer.start_tls(server_ctx)
            line = await reader.readline()
            writer.write(b"secure:" + line)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"OK\n"
        await writer.start_tls(simple_client_sslcontext())
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"hello\n")
        assert await reader.readline() == b"secure:hello\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "payload.bin"
    data = os.urandom((1 << 20) + 12345)
    path.write_bytes(data)
    return path, data


class Sink(asyncio.Protocol):
    def __init__(self, loop):
        self.data = bytearray()
        self.eof = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eof.set_result(None)


def test_sendfile_over_tls_falls_back(loop, data_file):
    path, data = data_file

    async def main():
        sinks = []
        server = await loop.create_server(
            lambda: sinks.append(Sink(loop)) or sinks[-1], "127.0.0.1", 0, ssl=simple_server_sslcontext()
        )
        transport, _ = await loop.create_connection(
            asyncio.Protocol, *server.sockets[0].getsockname(), ssl=simple_client_sslcontext()
        )
        assert transport.get_extra_info("ssl_object") is not None
        with open(path, "rb") as f:
            # No native path over TLS: with the fallback refused it says so.
            with pytest.raises(RuntimeError, match="fallback is disabled"):
                await loop.sendfile(transport, f, fallback=False)
            assert f.tell() == 0
            # The fallback reads the file and writes through the TLS transport.
            sent = await loop.sendfile(transport, f, offset=10, count=len(data) - 20)
            assert sent == len(data) - 20
            assert f.tell() == len(data) - 10
        assert not transport.can_write_eof()
        transport.close()  # close_notify: the server side sees EOF
        await sinks[0].eof
        assert bytes(sinks[0].data) == data[10:-10]
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_sendfile_plain_tcp_is_native(loop, data_file):
    """For contrast: without TLS the native (splice) path takes the file, no fallback needed."""
    path, data = data_file

    async def main():
        sinks = []
        server = await loop.create_server(lambda: sinks.append(Sink(loop)) or sinks[-1], "127.0.0.1", 0)
        transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        with open(path, "rb") as f:
            assert await loop.sendfile(transport, f, fallback=False) == len(data)
            assert f.tell() == len(data)
        transport.write_eof()
        await sinks[0].eof
        assert bytes(sinks[0].data) == data
        transport.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())
