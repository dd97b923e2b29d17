"""Ways to get a ringloop loop: a factory, a runner, and the (deprecated) policy."""
from __future__ import annotations

import asyncio
import sys
import warnings
from typing import Any, Coroutine, TypeVar

from .loop import Loop

T = TypeVar("T")


def new_event_loop(**options: Any) -> Loop:
    """Return a new ringloop loop; ``options`` are :class:`Loop`'s keyword options."""
    return Loop(**options)


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None, **options: Any) -> T:
    """Run coroutine ``main`` on a new ringloop loop and return its result.

    Behaves as ``asyncio.run``: the loop is created, async generators and the
    default executor are shut down, and the loop is closed afterwards; Ctrl+C
    cancels ``main`` and raises KeyboardInterrupt.  ``options`` are validated
    before anything runs.
    """
    loop = Loop(**options)  # validate (and fail) before taking ownership of main
    with asyncio.Runner(debug=debug, loop_factory=lambda: loop) as runner:
        return runner.run(main)


# The Unix default policy where it exists, so that code still calling
# asyncio.get_child_watcher()/set_child_watcher() on 3.11 keeps working
# (ringloop itself watches children with pidfds and needs no watcher).
_policy_base = (
    getattr(asyncio.unix_events, "_UnixDefaultEventLoopPolicy", None)
    or getattr(asyncio.events, "BaseDefaultEventLoopPolicy", None)
    or getattr(asyncio.events, "_BaseDefaultEventLoopPolicy", None)
)

if _policy_base is not None:

    class EventLoopPolicy(_policy_base):  # type: ignore[misc, valid-type]
        """An asyncio event loop policy whose loops are ringloop loops.

        The policy system is deprecated from Python 3.14; prefer :func:`run` or
        ``asyncio.Runner(loop_factory=ringloop.new_event_loop)``.
        """

        def __init__(self, **options: Any) -> None:
            super().__init__()
            Loop(**options).close()  # reject bad options now, not at first use
            self._options = options

        def new_event_loop(self) -> Loop:
            return Loop(**self._options)

else:
    EventLoopPolicy = None  # type: ignore[assignment, misc]


def install(**options: Any) -> None:
    """Make ringloop the loop of ``asyncio.new_event_loop()`` and ``asyncio.run()``.

    Sets the asyncio event loop policy, so it works only where Python still has
    the policy system (deprecated in 3.14); raises RuntimeError where it is gone.
    """
    if EventLoopPolicy is None:
        raise RuntimeError(
            f"Python {sys.version_info.major}.{sys.version_info.minor} has no event loop policies; "
            "use ringloop.run() or asyncio.Runner(loop_factory=ringloop.new_event_loop)"
        )
    if sys.version_info >= (3, 14):
        warnings.warn(
            "ringloop.install() relies on asyncio's deprecated policy system; "
            "use ringloop.run() or asyncio.Runner(loop_factory=ringloop.new_event_loop)",
            DeprecationWarning,
            stacklevel=2,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(EventLoopPolicy(**options))
    else:
        asyncio.set_event_loop_policy(EventLoopPolicy(**options))
