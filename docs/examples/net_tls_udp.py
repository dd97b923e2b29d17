"""TLS (asyncio's SSL protocol over a ring transport), sendfile falling back
over TLS, and UDP endpoints with error_received."""
import asyncio
import os
import socket
import ssl
import subprocess
import tempfile

import ringloop


def server_context():
    """A fresh self-signed certificate made with the openssl command."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tmp = tempfile.mkdtemp()
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    ctx.load_cert_chain(cert, key)
    return ctx


async def tls(loop):
    server_ctx = server_context()
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE  # self-signed: demo only

    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    host, port = server.sockets[0].getsockname()
    reader, writer = await asyncio.open_connection(host, port, ssl=client_ctx)
    writer.write(b"secret")
    print("tls echo:", await reader.readexactly(6), writer.get_extra_info("ssl_object").version())

    # loop.sendfile over TLS: no native path, so it reads and writes the file.
    with tempfile.TemporaryFile() as f:
        f.write(b"f" * 100_000)
        f.flush()
        f.seek(0)
        try:
            await loop.sendfile(writer.transport, f, fallback=False)
        except RuntimeError:
            print("tls sendfile without fallback: refused, as on the stock loop")
        sent = await loop.sendfile(writer.transport, f)
    echoed = await reader.readexactly(sent)
    print(f"tls sendfile with fallback: {sent} bytes, {len(echoed)} echoed")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


class Udp(asyncio.DatagramProtocol):
    def __init__(self, loop, echo=False):
        self.echo = echo
        self.got = loop.create_future()
        self.error = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.echo:
            self.transport.sendto(data.upper(), addr)
        elif not self.got.done():
            self.got.set_result(data)

    def error_received(self, exc):
        if not self.error.done():
            self.error.set_result(exc)


async def udp(loop):
    server, _ = await loop.create_datagram_endpoint(lambda: Udp(loop, echo=True), local_addr=("127.0.0.1", 0))
    addr = server.get_extra_info("sockname")
    client, proto = await loop.create_datagram_endpoint(lambda: Udp(loop), remote_addr=addr)
    client.sendto(b"udp hello")
    print("udp echo:", await proto.got)
    client.close()
    server.close()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client, proto = await loop.create_datagram_endpoint(lambda: Udp(loop), remote_addr=("127.0.0.1", closed_port))
    client.sendto(b"anyone?")
    print("udp error_received:", type(await proto.error).__name__)
    client.close()


async def main():
    loop = asyncio.get_running_loop()
    await tls(loop)
    await udp(loop)


ringloop.run(main())
