"""Pipe transports and add_reader/add_writer on ringloop."""
import asyncio
import os
import socket

import ringloop


class Collect(asyncio.Protocol):
    def __init__(self):
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.closed.set_result(exc)


async def main():
    loop = asyncio.get_running_loop()

    # A pipe, both ends as transports.
    r, w = os.pipe()
    reader = Collect()
    await loop.connect_read_pipe(lambda: reader, open(r, "rb", 0))
    writer, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, open(w, "wb", 0))
    writer.write(b"through ring reads and writes")
    writer.close()  # the reader then sees end of file
    await reader.closed
    print("pipe:", reader.data.decode())

    # add_reader is level-triggered: a callback that reads one byte is called again.
    a, b = socket.socketpair()
    a.setblocking(False)
    got = bytearray()
    done = loop.create_future()

    def on_readable():
        got.extend(a.recv(1))
        if len(got) == 5:
            loop.remove_reader(a)
            done.set_result(None)

    loop.add_reader(a, on_readable)
    b.send(b"abcde")
    await done
    print("add_reader, one byte per call:", got.decode())

    writable = loop.create_future()
    loop.add_writer(b, lambda: writable.done() or writable.set_result("writable"))
    print("add_writer:", await writable, "| removed:", loop.remove_writer(b))
    a.close()
    b.close()


ringloop.run(main())
