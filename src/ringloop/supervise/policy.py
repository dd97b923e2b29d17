"""What a supervisor decides when a task ends: restart policies, restart intensity, backoff,
and the errors the supervision layer raises."""
from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from .outcome import Outcome


class Restart(enum.Enum):
    """When an ended worker or child is started again: OTP's three restart types."""

    #: Always, whether it returned or failed.
    PERMANENT = "permanent"
    #: Only after it failed (raised, or was cancelled by someone other than its supervisor).
    TRANSIENT = "transient"
    #: Never.
    TEMPORARY = "temporary"

    def restarts(self, failed: bool) -> bool:
        """Whether a task under this policy is started again after ending; ``failed`` says how it ended."""
        return self is Restart.PERMANENT or (failed and self is Restart.TRANSIENT)


class Intensity:
    """OTP's restart intensity: at most ``max_restarts`` restarts within any ``period`` seconds."""

    def __init__(self, max_restarts: int, period: float) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Record a restart at time ``now`` and return True, or return False if it would be one too many."""
        times = self._times
        while times and times[0] <= now - self.period:
            times.popleft()
        if len(times) >= self.max_restarts:
            return False
        times.append(now)
        return True

    def reset(self) -> None:
        """Forget the restarts recorded so far (a new run starts with a clean slate)."""
        self._times.clear()

    def describe(self) -> str:
        """The limit in words, for SupervisorGaveUp."""
        return f"more than {self.max_restarts} restarts in {self.period:g} s"


class Backoff:
    """Delays before consecutive restarts: ``initial``, doubling each time, at most ``maximum``."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum

    def delay(self, attempt: int) -> float:
        """The delay before restart number ``attempt`` (0 for the first after a quiet period)."""
        # Capped so that 2.0 ** attempt stays a finite float however long a worker crash-loops.
        return min(self.maximum, self.initial * 2.0 ** min(attempt, 1000))


class SupervisorGaveUp(Exception):
    """A group or supervisor stopped everything it ran: its restart intensity was exceeded
    or a child failed to start.

    ``errors`` holds the last errors that led to it, oldest first (its ``__cause__`` is the
    last); ``outcomes`` how each of its tasks ended, filled in once they are stopped.
    """

    def __init__(self, name: str, reason: str, errors: Sequence[BaseException] = ()) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.errors: tuple[BaseException, ...] = tuple(errors)
        self.outcomes: tuple[Outcome, ...] = ()
        if self.errors:
            self.__cause__ = self.errors[-1]


class ActorCrashed(Exception):
    """The actor crashed on every delivery of this message (``errors``, oldest first): it was dead-lettered."""

    def __init__(self, actor: str, message: Any, errors: Sequence[BaseException]) -> None:
        super().__init__(f"actor {actor!r} crashed on each of {len(errors)} deliveries of {message!r}")
        self.actor = actor
        self.message = message
        self.errors: tuple[BaseException, ...] = tuple(errors)
        if self.errors:
            self.__cause__ = self.errors[-1]


class ActorStopped(Exception):
    """The actor was stopped: it takes no more messages, and those it never reached are dead-lettered."""
