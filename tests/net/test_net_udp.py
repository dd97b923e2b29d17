"""UDP through create_datagram_endpoint on recvmsg/sendmsg ring ops."""
import asyncio
import socket

import pytest
from helpers import run_checked


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self, loop, echo=False):
        self.loop = loop
        self.echo = echo
        self.received = []
        self.errors = []
        self.arrived = None
        self.error = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.append((data, addr))
        if self.echo:
            self.transport.sendto(data.upper(), addr)
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    async def until(self, count):
        while len(self.received) < count:
            self.arrived = self.loop.create_future()
            await self.arrived

    def error_received(self, exc):
        self.errors.append(exc)
        if not self.error.done():
            self.error.set_result(exc)

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def _free_udp_port():
    """A loopback UDP port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unconnected_and_connected_endpoints(loop):
    async def main():
        server_transport, server = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop, echo=True), local_addr=("127.0.0.1", 0)
        )
        server_addr = server_transport.get_extra_info("sockname")
        # Unconnected client: every sendto names the address.
        plain_transport, plain = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), local_addr=("127.0.0.1", 0)
        )
        assert plain_transport.get_extra_info("peername") is None
        for i in range(50):
            plain_transport.sendto(b"u%02d" % i, server_addr)
        await plain.until(50)
        # UDP on loopback keeps order and loses nothing at this rate.
        assert [d for d, _ in plain.received] == [b"U%02d" % i for i in range(50)]
        assert all(addr == server_addr for _, addr in plain.received)
        # Connected client: sendto without address; other addresses refused.
        conn_transport, conn = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), remote_addr=server_addr
        )
        assert conn_transport.get_extra_info("peername") == server_addr
        conn_transport.sendto(b"hello")
        conn_transport.sendto(bytearray(b"world"), server_addr)
        with pytest.raises(ValueError):
            conn_transport.sendto(b"x", ("127.0.0.1", 9))
        await conn.until(2)
        assert [d for d, _ in conn.received] == [b"HELLO", b"WORLD"]
        # Large datagrams arrive whole.
        big = bytes(range(256)) * 200  # 51,200 bytes
        conn_transport.sendto(big)
        await conn.until(3)
        assert conn.received[2][0] == big.upper()
        for transport, proto in ((plain_transport, plain), (conn_transport, conn), (server_transport, server)):
            transport.close()
            assert await proto.lost is None
        assert not plain.errors and not conn.errors and not server.errors

    run_checked(loop, main())


def test_error_received_on_connected_socket_with_closed_peer_port(loop):
    async def main():
        port = _free_udp_port()
        transport, proto = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), remote_addr=("127.0.0.1", port)
        )
        transport.sendto(b"anyone there?")  # ICMP port unreachable comes back
        exc = await proto.error
        assert isinstance(exc, ConnectionRefusedError), exc
        assert not transport.is_closing()  # an error for one datagram, not the end
        transport.sendto(b"still usable")  # no exception
        transport.close()
        assert await proto.lost is None

    run_checked(loop, main())


def test_reuse_port(loop):
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT")

    async def main():
        first, p1 = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), local_addr=("127.0.0.1", 0), reuse_port=True
        )
        addr = first.get_extra_info("sockname")
        second, p2 = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), local_addr=addr, reuse_port=True
        )
        assert second.get_extra_info("sockname") == addr
        for transport in (first, second):
            assert transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        # Datagrams from many source ports spread over the two sockets; all arrive.
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
        try:
            for i, sender in enumerate(senders):
                sender.sendto(b"d%02d" % i, addr)
            while len(p1.received) + len(p2.received) < 40:
                waiters = [p.loop.create_future() for p in (p1, p2)]
                p1.arrived, p2.arrived = waiters
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for sender in senders:
                sender.close()
        assert sorted(d for d, _ in p1.received + p2.received) == [b"d%02d" % i for i in range(40)]
        first.close()
        second.close()
        await p1.lost
        await p2.lost

    run_checked(loop, main())


def test_allow_broadcast_is_accepted(loop):
    async def main():
        transport, proto = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), local_addr=("127.0.0.1", 0), allow_broadcast=True
        )
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
        # The endpoint works as any other.
        addr = transport.get_extra_info("sockname")
        transport.sendto(b"self", addr)
        await proto.until(1)
        assert proto.received == [(b"self", addr)]
        transport.close()
        await proto.lost

    run_checked(loop, main())


def test_unix_datagram_endpoint(loop, tmp_path):
    async def main():
        server_path = str(tmp_path / "srv.sock")
        client_path = str(tmp_path / "cli.sock")
        server_transport, server = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop, echo=True), local_addr=server_path, family=socket.AF_UNIX
        )
        client_transport, client = await loop.create_datagram_endpoint(
            lambda: Datagrams(loop), local_addr=client_path, remote_addr=server_path, family=socket.AF_UNIX
        )
        client_transport.sendto(b"over unix")
        await client.until(1)
        assert client.received == [(b"OVER UNIX", server_path)]
        assert server.received == [(b"over unix", client_path)]
        client_transport.close()
        server_transport.close()
        await client.lost
        await server.lost

    run_checked(loop, main())
