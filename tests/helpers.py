"""Helpers for tests: ``from helpers import open_fds, run_checked``.

A module of its own, not conftest.py: several test folders have a conftest.py,
and ``from conftest import`` would find whichever was imported last.
"""
import asyncio
import os


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def run_checked(loop, coro, timeout=30):
    """Run ``coro`` on ``loop`` within ``timeout`` s; fail if the loop's exception handler saw anything."""
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    result = loop.run_until_complete(asyncio.wait_for(coro, timeout))
    assert not errors, errors
    return result
