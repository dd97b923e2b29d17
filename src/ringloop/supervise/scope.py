"""The `async with` and scope() link shared by Group and Supervisor.

The block's task is linked to the supervised tasks the way asyncio.TaskGroup links its
body to its children: when supervision gives up, the body is cancelled at its current
await, and the block raises SupervisorGaveUp instead of that CancelledError.
"""
from __future__ import annotations

import abc
import asyncio
import inspect
from types import TracebackType
from typing import Any, Awaitable, TypeVar

from .policy import SupervisorGaveUp

T = TypeVar("T")
S = TypeVar("S", bound="Supervised")


class Supervised(abc.ABC):
    """Base of :class:`Group` and :class:`Supervisor`: start, shut down, and link a block to both."""

    _owner: asyncio.Task[Any] | None = None
    _owner_cancelled = False

    @abc.abstractmethod
    async def start(self) -> None:
        """Start supervising on the running loop."""

    @abc.abstractmethod
    async def shutdown(self) -> Any:
        """Stop everything supervised and report how it ended; raise SupervisorGaveUp if supervision gave up."""

    async def scope(self, main: Awaitable[T]) -> T:
        """Start, await ``main`` while supervising, then shut down and return ``main``'s result.

        If supervision gives up first, ``main`` is cancelled and SupervisorGaveUp raised; if
        ``main`` raises, everything is shut down and its exception propagates.
        """
        if not inspect.isawaitable(main):
            raise TypeError(f"main must be awaitable, not {type(main).__name__}")
        async with self:
            return await main

    async def __aenter__(self: S) -> S:
        await self.start()
        self._owner = asyncio.current_task()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        # Cleared before the first await: from here on a give-up must not cancel this task,
        # since the CancelledError would land in shutdown() rather than in the body.
        owner, self._owner = self._owner, None
        propagate_cancellation = exc_type is asyncio.CancelledError
        if self._owner_cancelled:
            self._owner_cancelled = False
            # Our own cancel is withdrawn; if nobody else cancelled the task, SupervisorGaveUp
            # replaces the CancelledError, otherwise the cancellation goes on.
            if owner is not None and owner.uncancel() == 0:
                propagate_cancellation = False
        try:
            await self.shutdown()
        except SupervisorGaveUp:
            if not propagate_cancellation:
                raise

    def _cancel_owner(self) -> None:
        """Cancel the task inside the `async with` block, if any: supervision just gave up."""
        if self._owner is not None and not self._owner_cancelled:
            self._owner_cancelled = True
            self._owner.cancel()
