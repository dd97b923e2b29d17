"""Which event loops the lab compares, and how each one is built.

A loop is a name and a zero-argument factory.  A factory that raises
ImportError marks its loop as not installed: the run goes on without it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Sequence

#: The loop every ratio is taken of; the other loops are the denominators.
SUBJECT = "ringloop"


@dataclass(frozen=True)
class LoopSpec:
    """A loop under test: ``factory()`` returns a new, not yet running loop.

    ``dist`` is the distribution that provides it (None: the standard library).
    """

    name: str
    factory: Callable[[], asyncio.AbstractEventLoop]
    dist: str | None = None

    def version(self) -> str:
        """The installed version of ``dist``, "stdlib", or "not installed"."""
        if self.dist is None:
            return "stdlib"
        try:
            return metadata.version(self.dist)
        except metadata.PackageNotFoundError:
            return "not installed"


def _ringloop() -> asyncio.AbstractEventLoop:
    import ringloop

    return ringloop.new_event_loop()


def _stock_asyncio() -> asyncio.AbstractEventLoop:
    # A fresh default policy: what asyncio.new_event_loop() gives a program
    # that installed nothing (the selector loop on Linux).
    return asyncio.DefaultEventLoopPolicy().new_event_loop()


def _uvloop() -> asyncio.AbstractEventLoop:
    import uvloop  # optional: the bench extra

    return uvloop.new_event_loop()


DEFAULT_LOOPS: tuple[LoopSpec, ...] = (
    LoopSpec(SUBJECT, _ringloop, "ringloop"),
    LoopSpec("asyncio", _stock_asyncio),
    LoopSpec("uvloop", _uvloop, "uvloop"),
)


def probe(specs: Sequence[LoopSpec]) -> tuple[list[LoopSpec], dict[str, str]]:
    """Split ``specs`` into the loops that can be built here and the ones that cannot.

    Builds (and closes) one loop of each kind.  Returns the usable specs, in
    order, and {name: reason} for each loop whose factory raised ImportError.
    Any other error propagates: a loop that is installed but broken is a bug
    to see, not a column to hide.
    """
    usable: list[LoopSpec] = []
    missing: dict[str, str] = {}
    for spec in specs:
        try:
            loop = spec.factory()
        except ImportError as exc:
            missing[spec.name] = f"not installed ({exc})"
            continue
        loop.close()
        usable.append(spec)
    return usable, missing
