"""File I/O workloads (issue 13): ringloop.files against aiofiles, anyio and blocking calls.

Each scenario is measured once per library, all on the ringloop loop (aiofiles
and anyio hand each call to the loop's executor threads, as they do on any
asyncio loop), so rows of one scenario compare libraries, not loops:
``<scenario>_files`` (ringloop.files: ring operations), ``_aiofiles``,
``_anyio`` (``anyio.open_file``) and ``_blocking`` (the same calls made
blocking in the loop thread: the cost of being asynchronous at all).

Sizes keep a run short on a small machine: a 256 MiB file (the page cache
holds it) stands in for the issue's 1 GiB one, and a 32 MiB text file for its
100 MiB one; per-operation costs do not depend on the file's size.  The
O_DIRECT rows read the same file from the device; :func:`fio_iops` measures
the device's own limit with fio (``fio_missing`` says why it cannot run).

A workload gets a scratch file of the size it asks for, made once (random
bytes, in bench/out/scratch) and reused::

    @file_workload("random 4 KiB reads of a 64 MiB file", size=64 * 2**20)
    async def random_4k_reads(loop, n, path):
        ...  # perform exactly n reads of `path` on the running `loop`
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import json
import mmap
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

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


def file_workload(description: str, *, size: int, only_on: tuple[str, ...] | None = None,
                  name: str | None = None) -> Callable[[FileWorkloadFn], FileWorkloadFn]:
    """Decorator: register ``async def fn(loop, n, path)`` as file workload ``name`` (default:
    the function's name) on a ``size``-byte file.

    The scratch file is made before the first call returns, during the
    harness's unrecorded calibration probes, so its creation is never timed.
    """

    def decorate(fn: FileWorkloadFn) -> FileWorkloadFn:
        async def run(loop: asyncio.AbstractEventLoop, n: int) -> None:
            await fn(loop, n, scratch_file(size))

        register(Workload(name or fn.__name__, run, description,
                          None if only_on is None else frozenset(only_on), group="file"))
        return fn

    return decorate



# -- the scenarios ---------------------------------------------------------------
#
# Each scenario is a function per library, ``async def (n, path, tasks)``
# performing exactly n operations; _scenario registers one workload per
# library and task count, named <scenario>_t<tasks>_<library>.

MiB = 2**20
BIG = 256 * MiB
PAGE = 4096
SMALL_FILES = 10_000
TEXT_SIZE = 32 * MiB
RECORD = b"r" * 4096
ONLY_RINGLOOP = ("ringloop",)  # ringloop.files needs it; the other libraries run on the same loop
LIBRARIES = {"files": "ringloop.files", "aiofiles": "aiofiles", "anyio": "anyio.open_file",
             "blocking": "blocking calls in the loop thread"}

Scenario = Callable[[int, Path, int], Awaitable[None]]


def _scenario(name: str, what: str, size: int, tasks: tuple[int, ...], **runs: Scenario) -> None:
    for count in tasks:
        for library, run in runs.items():
            suffix = "" if library == "blocking" else f", {count} task{'s' if count > 1 else ''}"
            if library == "blocking" and count != tasks[0]:
                continue  # blocking calls do not overlap: one row

            async def fn(loop: asyncio.AbstractEventLoop, n: int, path: Path,
                         run: Scenario = run, count: int = count) -> None:
                await run(n, path, count)

            file_workload(f"{what}{suffix}: {LIBRARIES[library]}", size=size, only_on=ONLY_RINGLOOP,
                          name=f"{name}_t{count}_{library}" if library != "blocking" else f"{name}_blocking")(fn)


def _offsets(n: int, size: int) -> Iterator[int]:
    """n random 4 KiB-aligned offsets in a file of ``size`` bytes (the same for every library)."""
    rng = random.Random(n)
    return (rng.randrange(size // PAGE) * PAGE for _ in range(n))


async def _in_tasks(tasks: int, work: Iterator[Any], step: Callable[[Any], Awaitable[Any]]) -> None:
    """Run ``step(item)`` for every item of ``work`` from ``tasks`` concurrent tasks."""
    async def worker() -> None:
        for item in work:
            await step(item)

    await asyncio.gather(*[worker() for _ in range(tasks)])


async def _per_task(tasks: int, work: Iterator[Any], open_file: Callable[[], Any],
                    step: Callable[[Any, Any], Awaitable[Any]]) -> None:
    """Like _in_tasks, with a file object per task (seek + read cannot share one)."""
    async def worker() -> None:
        f = await open_file()
        try:
            for item in work:
                await step(f, item)
        finally:
            await _close(f)

    await asyncio.gather(*[worker() for _ in range(tasks)])


async def _close(f: Any) -> None:
    """Close an aiofiles, anyio or ringloop.files file (anyio's is ``aclose``)."""
    await (f.aclose() if hasattr(f, "aclose") else f.close())


# Random 4 KiB reads of the page-cached file; direct=True from the device.

async def _rand_files(n: int, path: Path, tasks: int, direct: bool = False) -> None:
    from ringloop import files

    async with files.open(path, "rb", buffering=0, direct=direct) as f:
        await _in_tasks(tasks, _offsets(n, BIG), lambda offset: f.pread(PAGE, offset))


async def _seek_read(f: Any, offset: int) -> None:
    await f.seek(offset)
    await f.read(PAGE)


async def _rand_aiofiles(n: int, path: Path, tasks: int) -> None:
    import aiofiles

    await _per_task(tasks, _offsets(n, BIG), lambda: _awaitable(aiofiles.open(path, "rb", buffering=0)),
                    _seek_read)


async def _rand_anyio(n: int, path: Path, tasks: int) -> None:
    import anyio

    await _per_task(tasks, _offsets(n, BIG), lambda: anyio.open_file(path, "rb", buffering=0), _seek_read)


async def _awaitable(value: Any) -> Any:
    return await value


async def _rand_blocking(n: int, path: Path, tasks: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in _offsets(n, BIG):
            os.pread(fd, PAGE, offset)
    finally:
        os.close(fd)


_scenario("rand4k", "random 4 KiB reads of a page-cached 256 MiB file", BIG, (1, 32),
          files=_rand_files, aiofiles=_rand_aiofiles, anyio=_rand_anyio, blocking=_rand_blocking)


async def _rand_direct_files(n: int, path: Path, tasks: int) -> None:
    await _rand_files(n, path, tasks, direct=True)


async def _rand_direct_blocking(n: int, path: Path, tasks: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buffer = memoryview(mmap.mmap(-1, PAGE))  # O_DIRECT needs aligned memory
    try:
        for offset in _offsets(n, BIG):
            os.preadv(fd, [buffer], offset)
    finally:
        os.close(fd)


_scenario("rand4k_direct", "random 4 KiB O_DIRECT reads of the 256 MiB file (from the device)", BIG, (32,),
          files=_rand_direct_files, blocking=_rand_direct_blocking)


def fio_missing() -> str | None:
    """Why fio cannot run here (not installed), or None."""
    return None if shutil.which("fio") else "fio is not installed (Debian: apt-get install fio)"


def fio_iops(path: Path, iodepth: int = 32, reads: int = 20_000) -> float:
    """The device's random 4 KiB O_DIRECT read rate on ``path`` as fio (io_uring engine) measures it.

    fio's own IOPS figure, so its start-up (a quarter of a second) is not counted.
    """
    done = subprocess.run(
        ["fio", "--name=randread", f"--filename={path}", "--direct=1", "--ioengine=io_uring", "--rw=randread",
         "--bs=4k", f"--iodepth={iodepth}", f"--size={path.stat().st_size}", f"--number_ios={reads}",
         "--output-format=json"],
        capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["jobs"][0]["read"]["iops"])


# Small files: open + read + close.

@functools.cache
def small_files(count: int = SMALL_FILES, directory: Path | None = None) -> list[Path]:
    """``count`` 4 KiB files of random bytes, made once and reused (and listed once per process)."""
    folder = (directory or SCRATCH_DIR) / f"small-{count}"
    paths = [folder / f"{i:05d}" for i in range(count)]
    if not (folder / "complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for p in paths:
            p.write_bytes(os.urandom(PAGE))
        (folder / "complete").write_bytes(b"")
    return paths


def _cycle(n: int) -> Iterator[Path]:
    return itertools.islice(itertools.cycle(small_files()), n)


async def _small_files(n: int, path: Path, tasks: int) -> None:
    from ringloop import files

    async def one(p: Path) -> None:
        async with files.open(p, "rb") as f:
            await f.read()

    await _in_tasks(tasks, _cycle(n), one)


async def _small_aiofiles(n: int, path: Path, tasks: int) -> None:
    import aiofiles

    async def one(p: Path) -> None:
        async with aiofiles.open(p, "rb") as f:
            await f.read()

    await _in_tasks(tasks, _cycle(n), one)


async def _small_anyio(n: int, path: Path, tasks: int) -> None:
    import anyio

    async def one(p: Path) -> None:
        async with await anyio.open_file(p, "rb") as f:
            await f.read()

    await _in_tasks(tasks, _cycle(n), one)


async def _small_blocking(n: int, path: Path, tasks: int) -> None:
    for p in _cycle(n):
        with open(p, "rb") as f:
            f.read()


_scenario("small", "open + read + close of one of 10,000 4 KiB files", PAGE, (1, 32),
          files=_small_files, aiofiles=_small_aiofiles, anyio=_small_anyio, blocking=_small_blocking)


# Lines of a text file; sequential 1 MiB reads.

@functools.cache
def text_file(size: int = TEXT_SIZE, directory: Path | None = None) -> Path:
    """A ``size``-byte ASCII text file of 20-100 character lines, made once and reused."""
    path = (directory or SCRATCH_DIR) / f"lines-{size}.txt"
    if not path.exists() or path.stat().st_size != size:
        rng = random.Random(size)
        lines = []
        total = 0
        while total < size:
            line = "x" * rng.randrange(20, 100) + "\n"
            lines.append(line)
            total += len(line)
        text = "".join(lines)[:size - 1] + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(text)
        partial.replace(path)
    return path


async def _lines_files(n: int, path: Path, tasks: int) -> None:
    from ringloop import files

    while n > 0:  # from the top again at the end of the file
        async with files.open(text_file()) as f:
            async for _line in f:
                n -= 1
                if n == 0:
                    return


async def _lines_aiofiles(n: int, path: Path, tasks: int) -> None:
    import aiofiles

    while n > 0:
        async with aiofiles.open(text_file()) as f:
            async for _line in f:
                n -= 1
                if n == 0:
                    return


async def _lines_anyio(n: int, path: Path, tasks: int) -> None:
    import anyio

    while n > 0:
        async with await anyio.open_file(text_file()) as f:
            async for _line in f:
                n -= 1
                if n == 0:
                    return


async def _lines_blocking(n: int, path: Path, tasks: int) -> None:
    while n > 0:
        with open(text_file()) as f:
            for _line in f:
                n -= 1
                if n == 0:
                    return


_scenario("lines", "one line of a 32 MiB text file, `async for line in f` (`for` for the built-in)", PAGE, (1,),
          files=_lines_files, aiofiles=_lines_aiofiles, anyio=_lines_anyio, blocking=_lines_blocking)


async def _seq_reads(n: int, open_file: Callable[[], Any]) -> None:
    while n > 0:  # from the top again at the end of the file
        f = await open_file()
        try:
            while n > 0 and await f.read(MiB):
                n -= 1
        finally:
            await _close(f)


async def _seq_files(n: int, path: Path, tasks: int) -> None:
    from ringloop import files

    await _seq_reads(n, lambda: _awaitable(files.open(path, "rb")))


async def _seq_aiofiles(n: int, path: Path, tasks: int) -> None:
    import aiofiles

    await _seq_reads(n, lambda: _awaitable(aiofiles.open(path, "rb")))


async def _seq_anyio(n: int, path: Path, tasks: int) -> None:
    import anyio

    await _seq_reads(n, lambda: anyio.open_file(path, "rb"))


async def _seq_blocking(n: int, path: Path, tasks: int) -> None:
    while n > 0:
        with open(path, "rb") as f:
            while n > 0 and f.read(MiB):
                n -= 1


_scenario("seq1m", "sequential 1 MiB reads of the page-cached 256 MiB file", BIG, (1,),
          files=_seq_files, aiofiles=_seq_aiofiles, anyio=_seq_anyio, blocking=_seq_blocking)


# Appending 4 KiB records, made durable after each or after every 64.

def _journal(name: str) -> Path:
    path = SCRATCH_DIR / f"journal-{name}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def _appends(every: int) -> dict[str, Scenario]:
    async def files_(n: int, path: Path, tasks: int) -> None:
        from ringloop import files

        async with files.open(_journal("files"), "ab") as f:
            for i in range(1, n + 1):
                await f.write(RECORD)
                if i % every == 0 or i == n:
                    await f.fdatasync()

    async def aiofiles_(n: int, path: Path, tasks: int) -> None:
        import aiofiles

        async with aiofiles.open(_journal("aiofiles"), "ab") as f:
            for i in range(1, n + 1):
                await f.write(RECORD)
                if i % every == 0 or i == n:
                    await f.flush()
                    await asyncio.to_thread(os.fdatasync, f.fileno())  # what aiofiles users write

    async def anyio_(n: int, path: Path, tasks: int) -> None:
        import anyio

        async with await anyio.open_file(_journal("anyio"), "ab") as f:
            for i in range(1, n + 1):
                await f.write(RECORD)
                if i % every == 0 or i == n:
                    await f.flush()
                    await anyio.to_thread.run_sync(os.fdatasync, f.wrapped.fileno())

    async def blocking(n: int, path: Path, tasks: int) -> None:
        with open(_journal("blocking"), "ab") as f:
            for i in range(1, n + 1):
                f.write(RECORD)
                if i % every == 0 or i == n:
                    f.flush()
                    os.fdatasync(f.fileno())

    return {"files": files_, "aiofiles": aiofiles_, "anyio": anyio_, "blocking": blocking}


_scenario("append_sync1", "append a 4 KiB record, fdatasync after each", PAGE, (1,), **_appends(1))
_scenario("append_sync64", "append a 4 KiB record, fdatasync after every 64", PAGE, (1,), **_appends(64))
