"""File I/O workloads: the hook that later issues fill (random 4 KiB reads, small files).

No file workload is registered yet, on purpose: a placeholder number would be
a fake one.  Adding one is one small function; it gets a scratch file of the
size it asks for, made once (random bytes, in bench/out/scratch) and reused::

    @file_workload("random 4 KiB reads of a 64 MiB file", size=64 * 2**20)
    async def random_4k_reads(loop, n, path):
        ...  # perform exactly n reads of `path` on the running `loop`

It joins the ``file`` group (``--only file``), runs on every loop, interleaved
and calibrated like the loop-overhead workloads, and gets its own table.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Awaitable, Callable

from ..registry import Workload, register, title

title("file", "File I/O")

SCRATCH_DIR = Path(__file__).resolve().parents[1] / "out" / "scratch"
CHUNK = 1 << 20

FileWorkloadFn = Callable[[asyncio.AbstractEventLoop, int, Path], Awaitable[None]]


def scratch_file(size: int, directory: Path | None = None) -> Path:
    """A file of ``size`` random bytes in ``directory`` (default SCRATCH_DIR), created on first use, reused after."""
    directory = directory or SCRATCH_DIR
    path = directory / f"scratch-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with open(partial, "wb") as f:
            for start in range(0, size, CHUNK):
                f.write(os.urandom(min(CHUNK, size - start)))
        partial.replace(path)  # never leave a short file under the final name
    return path


def file_workload(description: str, *, size: int,
                  only_on: tuple[str, ...] | None = None) -> Callable[[FileWorkloadFn], FileWorkloadFn]:
    """Decorator: register ``async def name(loop, n, path)`` as file workload ``name`` on a ``size``-byte file.

    The scratch file is made before the first call returns, during the
    harness's unrecorded calibration probes, so its creation is never timed.
    """

    def decorate(fn: FileWorkloadFn) -> FileWorkloadFn:
        async def run(loop: asyncio.AbstractEventLoop, n: int) -> None:
            await fn(loop, n, scratch_file(size))

        register(Workload(fn.__name__, run, description,
                          None if only_on is None else frozenset(only_on), group="file"))
        return fn

    return decorate
