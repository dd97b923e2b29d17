"""Helpers for tests: ``from helpers import open_fds, run_checked, on_stock_and_ringloop, fill_send_buffer``.

A module of its own, not conftest.py: several test folders have a conftest.py,
and ``from conftest import`` would find whichever was imported last.
"""
import asyncio
import os

import ringloop


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def fill_send_buffer(sock):
    """Send into the non-blocking ``sock`` until its buffers are full; the bytes sent."""
    sent = bytearray()
    chunk = b"f" * 65536
    while True:
        try:
            sent += chunk[: sock.send(chunk)]
        except BlockingIOError:
            return bytes(sent)


def run_checked(loop, coro, timeout=30):
    """Run ``coro`` on ``loop`` within ``timeout`` s; fail if the loop's exception handler saw anything."""
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    result = loop.run_until_complete(asyncio.wait_for(coro, timeout))
    assert not errors, errors
    return result


def on_stock_and_ringloop(scenario, *, debug=None, timeout=30):
    """``scenario(loop)``'s result on asyncio's own loop and on ringloop, each run with run_checked.

    ``debug``: each loop's debug mode (None leaves the default).
    """
    results = []
    for make in (asyncio.new_event_loop, ringloop.new_event_loop):
        loop = make()
        if debug is not None:
            loop.set_debug(debug)
        try:
            results.append(run_checked(loop, scenario(loop), timeout=timeout))
        finally:
            loop.close()
    return results
