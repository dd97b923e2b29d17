"""The ring options a scheduled loop is created with, from its CPU plan."""
from __future__ import annotations

from typing import Any

import ringloop
from ringloop.supervise.checks import check_count

from .cpuplan import CpuPlan

#: How long an idle SQPOLL thread spins before it sleeps, in ms: chosen from the measurement in
#: docs/multicore.md (``python -m bench.sqpoll_idle``). Long enough that a busy server's SQPOLL
#: thread never sleeps between requests; short enough that one with sparse traffic does not
#: keep a CPU busy for nothing.
DEFAULT_SQ_IDLE_MS = 10


def check_loop_options(entries: object, sq_idle_ms: object) -> None:
    """Reject bad ``entries`` or ``sq_idle_ms`` now, as ringloop would when making the loop
    (TypeError or ValueError naming the option), rather than in every loop or worker later."""
    check_count("sq_idle_ms", sq_idle_ms, 1)
    # ringloop's own check of entries, on a loop that is closed at once.
    ringloop.new_event_loop(entries=entries).close()


def loop_options(plan: CpuPlan, index: int, *, entries: int, sq_idle_ms: int,
                 attach_to: ringloop.Loop | None = None) -> dict[str, Any]:
    """Keyword options for ``ringloop.new_event_loop`` of loop number ``index`` under ``plan``.

    With SQPOLL, the loop either shares ``attach_to``'s SQPOLL thread or gets its own, pinned
    where the plan says.
    """
    if not plan.sqpoll:
        return {"entries": entries}
    options: dict[str, Any] = {"entries": entries, "sqpoll": True, "sq_idle_ms": sq_idle_ms}
    if attach_to is not None:
        options["attach_to"] = attach_to
    elif (cpu := plan.sq_cpu_for(index)) is not None:
        options["sq_cpu"] = cpu
    return options
