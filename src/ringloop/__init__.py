"""ringloop: an asyncio event loop on Linux io_uring.

    import ringloop
    ringloop.run(main())

or ``asyncio.Runner(loop_factory=ringloop.new_event_loop)``.
"""
from typing import TYPE_CHECKING

from ._core.opfuture import OpFuture
from ._entry import EventLoopPolicy, install, new_event_loop, run
from ._ring.errors import RingClosedError
from .loop import Loop

if TYPE_CHECKING:
    from .scheduler import LoopGroup as LoopGroup
    from .scheduler import serve as serve

__all__ = [
    "Loop", "OpFuture", "RingClosedError", "EventLoopPolicy", "install", "new_event_loop", "run", "serve", "LoopGroup",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ringloop.scheduler imports ringloop itself: loaded on first use, not with the package.
    if name in ("serve", "LoopGroup"):
        from . import scheduler

        return getattr(scheduler, name)
    raise AttributeError(f"module 'ringloop' has no attribute {name!r}")
