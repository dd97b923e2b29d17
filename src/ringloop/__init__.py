"""ringloop: an asyncio event loop on Linux io_uring.

    import ringloop
    ringloop.run(main())

or ``asyncio.Runner(loop_factory=ringloop.new_event_loop)``.
"""
from ._core.opfuture import OpFuture
from ._entry import EventLoopPolicy, install, new_event_loop, run
from ._ring.errors import RingClosedError
from .loop import Loop

__all__ = ["Loop", "OpFuture", "RingClosedError", "EventLoopPolicy", "install", "new_event_loop", "run"]
__version__ = "0.1.0"
