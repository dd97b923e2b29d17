"""The Python cost of ringloop's stream transport per echo round trip, without the kernel's.

``python -m bench.runners.transport_path [protocol|buffered] [--blocks N]``

Sixteen server transports on real TCP connections, each with the echo
server's protocol (bench/runners/server_app.py).  Their real reads are
cancelled; every round then feeds each transport a synthetic 1 KiB receive
completion through ``Ring.dispatch`` (a multishot one naming a pool buffer for
a plain Protocol, a single-shot one for a BufferedProtocol), runs what the
next wait would run before it submits (the coalesced writes), and feeds the
send completions.  The echoes' sends are real SQEs, submitted between timed
blocks (as are the reads a BufferedProtocol re-arms, turned into no-ops
first), and the peers drained there, so the kernel's work stays out of the
timing.  Prints the median and 10th percentile over blocks of 4 rounds, in µs
per round trip: what a change to the transport's hot path saves, with far
less noise than a server benchmark on a busy machine.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import statistics
import time
from typing import Any

import ringloop
from ringloop._net.stream import POOL_BUFFER_SIZE, POOL_BUFFERS
from ringloop._ring._ffi import lib
from ringloop._ring.bufring import _CQE_BUFFER_SHIFT
from ringloop._ring.ring import CQE_F_BUFFER, CQE_F_MORE

from .server_app import EchoBufferedProtocol, EchoProtocol

CONNECTIONS = 16
SIZE = 1024
ROUNDS_PER_BLOCK = 4


async def _connect(loop: Any, mode: str) -> tuple[list[Any], list[socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    transports, peers = [], []
    for _ in range(CONNECTIONS):
        peer = socket.create_connection(listener.getsockname())
        peer.setblocking(False)
        conn, _ = listener.accept()
        protocol = EchoProtocol() if mode == "protocol" else EchoBufferedProtocol()
        transport, _ = await loop.connect_accepted_socket(lambda protocol=protocol: protocol, conn)
        transports.append(transport)
        peers.append(peer)
    listener.close()
    await asyncio.sleep(0.05)  # every transport's first read armed
    return transports, peers


async def measure(mode: str, blocks: int) -> list[float]:
    """µs of Python per round trip, one sample per block of rounds."""
    loop = asyncio.get_running_loop()
    ring = loop._ring
    transports, peers = await _connect(loop, mode)
    for transport in transports:  # take the real reads out of play
        transport._paused = True
        ring.cancel(transport._recv_op)
    await asyncio.sleep(0.05)
    multishot = mode == "protocol"
    recv_tokens = []
    for transport in transports:
        transport._paused = False
        if multishot:
            # A table entry for the synthetic multishot completions (the nop's
            # own completion, without CQE_F_MORE, is never dispatched).
            transport._recv_op = ring.nop(transport._on_recv_multishot)
            transport._recv_is_multishot = True
        else:
            transport._arm_read()
        recv_tokens.append(transport._recv_op)
    buffers = ring.buffer_ring(POOL_BUFFERS, POOL_BUFFER_SIZE)
    rearmed: list[int] = []

    def settle() -> None:
        """Untimed: the re-armed reads become no-ops, the sends go out, the peers are drained."""
        for token in rearmed:
            lib.rl_unqueue(ring._r, token)
        rearmed.clear()
        ring._enter(0)
        for peer in peers:
            try:
                while peer.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass

    def fail(exc: Exception) -> None:
        raise exc

    settle()
    samples = []
    gc.disable()
    try:
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(ROUNDS_PER_BLOCK):
                if multishot:
                    reads = [(token, SIZE, CQE_F_MORE | CQE_F_BUFFER | (bid << _CQE_BUFFER_SHIFT))
                             for bid, token in enumerate(recv_tokens)]
                else:
                    reads = [(t._recv_op, SIZE, 0) for t in transports]
                ring.dispatch(reads, fail)
                ring._run_before_submit()
                ring.dispatch([(t._send_op, SIZE, 0) for t in transports], fail)
                if buffers is not None:
                    buffers.recycle()
                if not multishot:
                    rearmed.extend(t._recv_op for t in transports)
            samples.append((time.perf_counter() - start) / ROUNDS_PER_BLOCK / CONNECTIONS * 1e6)
            settle()
    finally:
        gc.enable()
        for transport in transports:
            transport.abort()
        for peer in peers:
            peer.close()
        await asyncio.sleep(0.05)
    return samples


def main(argv: list[str] | None = None) -> int:
    """Measure and print one line: the mode, the median and the 10th percentile in µs per round trip."""
    parser = argparse.ArgumentParser(prog="python -m bench.runners.transport_path")
    parser.add_argument("mode", nargs="?", default="protocol", choices=("protocol", "buffered"))
    parser.add_argument("--blocks", type=int, default=2000, help="timed blocks of 4 rounds (default 2000)")
    args = parser.parse_args(argv)
    if args.blocks < 10:
        parser.error("--blocks must be at least 10")
    samples = sorted(ringloop.run(measure(args.mode, args.blocks)))
    print(f"{args.mode}: median {statistics.median(samples):.3f}  p10 {samples[len(samples) // 10]:.3f} "
          f"us of Python per round trip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
