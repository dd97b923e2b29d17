"""OS integration on the ring: signals, subprocesses, pipes, add_reader/add_writer, fork.

Mixed into :class:`ringloop.Loop` ahead of asyncio's BaseEventLoop.
"""
from __future__ import annotations


class UnixIntegrationMixin:
    """Loop methods that tie the ring to the rest of the OS (issue #4)."""
