"""How a supervised task ended, and the bounded way of ending tasks that every stop uses."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Literal

Kind = Literal["returned", "failed", "cancelled", "stuck"]


@dataclass(frozen=True)
class Outcome:
    """How one worker or child ended: ``kind`` is

    - ``"returned"``: it returned ``result``;
    - ``"failed"``: it raised ``error``, or was cancelled by a task other than its supervisor
      (``error`` is then a CancelledError);
    - ``"cancelled"``: its supervisor stopped it;
    - ``"stuck"``: its supervisor cancelled it and it was still running when the shutdown
      timeout ran out; ``task`` is still on the loop.
    """

    name: str
    kind: Kind
    result: Any = None
    error: BaseException | None = None
    task: asyncio.Task[Any] | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        """Whether it ended in a way that TRANSIENT restarts."""
        return self.kind == "failed"


def outcome_of(name: str, task: asyncio.Task[Any], *, stopping: bool) -> Outcome:
    """The outcome of ``task``; ``stopping`` says that its supervisor cancelled it.

    Reading the task's exception here also keeps asyncio from logging it as never retrieved:
    the supervisor, not the loop's exception handler, is where a worker's crash goes.
    """
    if not task.done():
        return Outcome(name, "stuck", task=task)
    if task.cancelled():
        if stopping:
            return Outcome(name, "cancelled", task=task)
        return Outcome(name, "failed", error=asyncio.CancelledError(f"{name} was cancelled by another task"),
                       task=task)
    error = task.exception()
    if error is not None:
        return Outcome(name, "failed", error=error, task=task)
    return Outcome(name, "returned", result=task.result(), task=task)


async def stop_tasks(steps: Iterable[tuple[Collection[asyncio.Task[Any]], float | None]]) -> None:
    """Stop tasks step by step: cancel a step's tasks, then wait until they have ended or the
    step's timeout (seconds; None: no limit) has passed, before the next step.

    A task already being cancelled (by a give-up, say) is not cancelled again: a second
    cancel would interrupt the clean-up it is doing after the first. Tasks that ignore
    cancellation are left running once their time is up; the caller reports them
    (:func:`outcome_of` calls them stuck). A stop is never left half done: if
    the caller is cancelled meanwhile, every step still runs, within its timeout, and the
    CancelledError is re-raised afterwards, as asyncio.TaskGroup does on exit.
    """
    loop = asyncio.get_running_loop()
    # A worker stopping its own group cancels itself too, but cannot wait for itself.
    caller = asyncio.current_task()
    interrupted: asyncio.CancelledError | None = None
    for tasks, timeout in steps:
        for task in tasks:
            if not task.cancelling():
                task.cancel()
        deadline = None if timeout is None else loop.time() + timeout
        pending = [task for task in tasks if not task.done() and task is not caller]
        while pending:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            try:
                await asyncio.wait(pending, timeout=remaining)
            except asyncio.CancelledError as cancelled:
                interrupted = cancelled
            pending = [task for task in pending if not task.done()]
    if interrupted is not None:
        raise interrupted
