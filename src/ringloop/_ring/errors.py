"""Errors of ring operations, and the result codes every layer compares against.

A completion carries a negative errno; these are the one spelling of the
values that the layers above test for.
"""
from __future__ import annotations

import errno
import logging
import os

__all__ = ["RingClosedError", "os_error", "CANCELED", "RETRY_ERRNOS", "logger"]

#: Result of an operation that was cancelled (the completion's ``res``).
CANCELED = -errno.ECANCELED

#: errnos (positive) after which the same operation is simply issued again:
#: EINTR always; EAGAIN where an fd is non-blocking (the caller first waits for
#: readiness with a poll, because some kernels answer a ring read or recv of a
#: non-blocking fd with -EAGAIN instead of waiting).
RETRY_ERRNOS = frozenset((errno.EAGAIN, errno.EINTR))

#: Where the loop reports what the stock loop reports: asyncio's own logger,
#: so that a user's logging configuration for asyncio covers ringloop too.
logger = logging.getLogger("asyncio")


class RingClosedError(RuntimeError):
    """Raised by every operation on a ring that has been closed."""


def os_error(res: int) -> OSError:
    """The OSError for a negative ring result (errno picks the subclass, e.g. ConnectionResetError)."""
    return OSError(-res, os.strerror(-res))
