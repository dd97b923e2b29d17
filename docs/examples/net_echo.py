"""TCP and Unix echo servers on ringloop: a Protocol server, stream clients,
half-close, flow control, and when writes reach the kernel."""
import asyncio
import os
import tempfile

import ringloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):  # bytes from the shared provided-buffer pool
        self.transport.write(data)

    def eof_received(self):
        self.transport.close()  # our write side closes after the echo has gone out


async def tcp():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()

    async def one(i):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"message %d" % i)
        writer.write_eof()  # half-close: the server still answers
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return reply

    replies = await asyncio.gather(*(one(i) for i in range(100)))
    assert replies == [b"message %d" % i for i in range(100)]
    print(f"tcp: 100 connections echoed on {host}:{port}")
    server.close()
    await server.wait_closed()


async def unix():
    path = os.path.join(tempfile.mkdtemp(), "echo.sock")
    server = await asyncio.get_running_loop().create_unix_server(Echo, path)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"x" * 1_000_000)
    writer.write_eof()
    data = await reader.read()
    print(f"unix: {len(data)} bytes echoed through {os.path.basename(path)}")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    os.unlink(path)


async def writes_are_queued():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
    transport.write(b"hello")
    # The send op is queued; the kernel gets it at the next loop iteration.
    print("write buffer right after write():", transport.get_write_buffer_size())
    await loop.ring_nop()  # one full iteration
    print("write buffer one iteration later:", transport.get_write_buffer_size())
    transport.close()
    server.close()
    await server.wait_closed()


async def main():
    await tcp()
    await unix()
    await writes_are_queued()


ringloop.run(main())
