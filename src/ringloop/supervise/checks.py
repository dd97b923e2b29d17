"""Argument checks shared by the public API: each names the argument it rejects."""
from __future__ import annotations

import math
from typing import Any, Callable

from .policy import Backoff, Restart


def check_count(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum``; TypeError or ValueError naming ``name`` otherwise."""
    # bool is an int subclass, but True workers or restarts is always a mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """``value`` as a finite, non-negative (or ``positive``) number of seconds."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite {'positive' if positive else 'non-negative'} "
                         f"number of seconds, got {value!r}")
    return float(value)


def check_timeout(name: str, value: object) -> float | None:
    """Like :func:`check_seconds`, but None (no limit) is allowed."""
    return None if value is None else check_seconds(name, value)


def check_callable(name: str, value: object) -> Callable[..., Any]:
    """``value`` if it is callable; TypeError naming ``name`` otherwise."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value


def check_name(name: str, value: object) -> str:
    """``value`` if it is a non-empty str."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def check_restart(value: object) -> Restart:
    """A :class:`Restart`, also accepted by its value (``"transient"``)."""
    if isinstance(value, Restart):
        return value
    if isinstance(value, str):
        try:
            return Restart(value)
        except ValueError:
            pass
    choices = ", ".join(repr(policy.value) for policy in Restart)
    raise ValueError(f"restart must be a Restart or one of {choices}, got {value!r}")


def check_backoff(value: object) -> Backoff | None:
    """None (restart at once) or a pair ``(initial, maximum)`` of seconds with initial <= maximum."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"backoff must be None or a pair (initial, maximum), got {value!r}")
    initial = check_seconds("backoff[0] (initial delay)", value[0], positive=True)
    maximum = check_seconds("backoff[1] (maximum delay)", value[1], positive=True)
    if initial > maximum:
        raise ValueError(f"backoff: the initial delay {initial} exceeds the maximum {maximum}")
    return Backoff(initial, maximum)
