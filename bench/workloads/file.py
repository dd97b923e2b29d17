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
import contextlib
import functools
import itertools
import json
import mmap
import os
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

from ..registry import Workload, register, title

if __name__ == "__main__":
    # ``python -m bench.workloads.file``: the package has imported (and
    # registered) this module already; run that one, not a second copy.
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
    from bench.workloads.file import main as _main

    raise SystemExit(_main())

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


def warm(path: Path) -> None:
    """Read ``path`` once, so that the page cache holds it (fio, for one, drops it: see fio_iops)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(CHUNK):
            pass


_warmed: set[Path] = set()


def _cached(size: int) -> Path:
    """The scratch file of ``size`` bytes, read once per process before its first (untimed) use."""
    path = scratch_file(size)
    if path not in _warmed:
        warm(path)
        _warmed.add(path)
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
            await fn(loop, n, _cached(size))

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
LIBRARIES = {"files": "ringloop.files", "files_batches": "ringloop.files, f.line_batches()",
             "ring": "loop.ring_read_bytes (the ring op alone, no page-cache try)",
             "aiofiles": "aiofiles", "anyio": "anyio.open_file", "anyio_path": "anyio.Path",
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


async def _rand_ring(n: int, path: Path, tasks: int) -> None:
    """The same reads as awaited ring ops and nothing else: what pread costs when the page-cache try is off."""
    loop: Any = asyncio.get_running_loop()
    fd = os.open(path, os.O_RDONLY)
    try:
        await _in_tasks(tasks, _offsets(n, BIG), lambda offset: loop.ring_read_bytes(fd, PAGE, offset))
    finally:
        os.close(fd)


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
          files=_rand_files, ring=_rand_ring, aiofiles=_rand_aiofiles, anyio=_rand_anyio, blocking=_rand_blocking)


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
        # --invalidate=0: fio's default drops the file from the page cache
        # first, and the page-cache rows then read the device.
        ["fio", "--name=randread", f"--filename={path}", "--direct=1", "--ioengine=io_uring", "--rw=randread",
         "--invalidate=0",
         "--bs=4k", f"--iodepth={iodepth}", f"--size={path.stat().st_size}", f"--number_ios={reads}",
         "--output-format=json"],
        capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["jobs"][0]["read"]["iops"])


def ring_iops(path: Path, depth: int = 32, reads: int = 20_000, *, poll: bool = False) -> float:
    """Random 4 KiB O_DIRECT reads of ``path``, ``depth`` in flight, driven on a bare ringloop Ring.

    The Python floor of the O_DIRECT row: no asyncio, no futures, one
    handler call and one re-queued read per completion.  ``poll=False``
    waits as the loop does (asleep in io_uring_enter until a completion);
    ``poll=True`` never sleeps (enters without waiting, over and over), as
    fio's io_uring engine effectively does at iodepth 32.  Reads per second.
    """
    from ringloop._ring.options import RingOptions
    from ringloop._ring.ring import Ring

    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    ring = Ring.open(RingOptions())
    try:
        offsets = _offsets(2 * reads + 2 * depth, path.stat().st_size)  # completions of a last batch re-queue too
        buffers = [memoryview(mmap.mmap(-1, PAGE)) for _ in range(depth)]
        done = [0]

        def make_handler(buffer: memoryview) -> Callable[[int, int], None]:
            def handler(res: int, flags: int) -> None:
                done[0] += 1
                if res < 0:
                    raise OSError(-res, os.strerror(-res))
                ring.read(fd, buffer, next(offsets), handler)
            return handler

        for buffer in buffers:
            ring.read(fd, buffer, next(offsets), make_handler(buffer))
        timeout = 0 if poll else None
        start = time.perf_counter()
        while done[0] < reads:
            ring.dispatch(ring.wait(timeout), _raise)
        return done[0] / (time.perf_counter() - start)
    finally:
        ring.close()
        os.close(fd)


def _raise(exc: Exception) -> None:
    raise exc


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


# The same files read whole with one call: ringloop.files' Path.read_bytes is
# one linked OPENAT -> READ -> READ submission; anyio's is one thread hop;
# aiofiles has no such call (its cheapest whole-file read is the row above).

@functools.cache
def _paths_as(kind: type) -> list[Any]:
    """The small files' paths as ``kind`` objects, made once: building a path is not file I/O."""
    return [kind(p) for p in small_files()]


def _cycle_as(kind: type, n: int) -> Iterator[Any]:
    return itertools.islice(itertools.cycle(_paths_as(kind)), n)


async def _small_rb_files(n: int, path: Path, tasks: int) -> None:
    from ringloop import files

    await _in_tasks(tasks, _cycle_as(files.Path, n), lambda p: p.read_bytes())


async def _small_rb_anyio(n: int, path: Path, tasks: int) -> None:
    import anyio

    await _in_tasks(tasks, _cycle_as(anyio.Path, n), lambda p: p.read_bytes())


async def _small_rb_blocking(n: int, path: Path, tasks: int) -> None:
    for p in _cycle(n):
        p.read_bytes()


_scenario("smallrb", "p.read_bytes() of one of the 10,000 4 KiB files (p: the library's Path)", PAGE, (1, 32),
          files=_small_rb_files, anyio_path=_small_rb_anyio, blocking=_small_rb_blocking)


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
        async with files.open(text_file()) as f, contextlib.aclosing(aiter(f)) as lines:
            async for _line in lines:
                n -= 1
                if n == 0:
                    return


async def _lines_files_batches(n: int, path: Path, tasks: int) -> None:
    from ringloop import files

    while n > 0:
        async with files.open(text_file()) as f, contextlib.aclosing(f.line_batches()) as batches:
            async for lines in batches:
                for _line in lines:
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
        async with await anyio.open_file(text_file()) as f, contextlib.aclosing(aiter(f)) as lines:
            async for _line in lines:
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
          files=_lines_files, files_batches=_lines_files_batches, aiofiles=_lines_aiofiles, anyio=_lines_anyio,
          blocking=_lines_blocking)


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


# -- the targets, as paired ratios ------------------------------------------
#
# ``python -m bench.workloads.file [--rounds N]`` measures the rows the issue's
# targets compare, interleaved: every round runs each row once (and fio, and
# the bare-ring O_DIRECT references), so a slow spell of the shared machine
# lands on all of them; each target's ratio is taken within a round, and the
# median over the rounds is reported with its range.

TARGET_ROWS = ("rand4k_t32_files", "rand4k_t32_ring", "rand4k_t32_aiofiles", "rand4k_blocking",
               "rand4k_direct_t32_files",
               "small_t32_files", "smallrb_t32_files", "small_t32_aiofiles", "small_blocking",
               "lines_t1_files", "lines_t1_files_batches", "lines_blocking")


def _target_ratios(us: dict[str, float], iops: dict[str, float]) -> dict[str, float]:
    direct_iops = 1e6 / us["rand4k_direct_t32_files"]
    return {
        "random reads, 32 tasks: aiofiles time / files time (>= 20)":
            us["rand4k_t32_aiofiles"] / us["rand4k_t32_files"],
        "random reads, 32 tasks: blocking os.pread time / files time (>= 0.3)":
            us["rand4k_blocking"] / us["rand4k_t32_files"],
        "random reads, 32 tasks, the ring op alone: aiofiles / ring (reference)":
            us["rand4k_t32_aiofiles"] / us["rand4k_t32_ring"],
        "random reads, 32 tasks, the ring op alone: blocking / ring (reference)":
            us["rand4k_blocking"] / us["rand4k_t32_ring"],
        "small files, 32 tasks, open+read+close: aiofiles / files (>= 5)":
            us["small_t32_aiofiles"] / us["small_t32_files"],
        "small files, 32 tasks, Path.read_bytes: aiofiles open+read+close / files (>= 5)":
            us["small_t32_aiofiles"] / us["smallrb_t32_files"],
        "O_DIRECT random reads, 32 tasks: files IOPS / fio IOPS (>= 0.8)": direct_iops / iops["fio"],
        "O_DIRECT, bare ring, loop's wait: IOPS / fio IOPS (reference)": iops["ring"] / iops["fio"],
        "O_DIRECT, bare ring, busy polling: IOPS / fio IOPS (reference)": iops["ring_poll"] / iops["fio"],
        "lines, async for: files time / built-in for (<= 2)": us["lines_t1_files"] / us["lines_blocking"],
        "lines, line_batches(): files time / built-in for (<= 2)":
            us["lines_t1_files_batches"] / us["lines_blocking"],
    }


def targets(rounds: int, progress: Callable[[str], None] = print, *, rows: tuple[str, ...] = TARGET_ROWS,
            counts: dict[str, int] | None = None, references: bool = True) -> dict[str, Any]:
    """Per-round µs/op of ``rows``, IOPS of fio and the bare ring, and the targets' paired ratios.

    ``counts`` (operations per measurement, by row) skips the calibration:
    two runs given the same counts do the same work.  ``references=False``
    leaves out fio and the bare ring (and so the ratios).
    """
    import statistics

    from ..loops import DEFAULT_LOOPS
    from ..registry import WORKLOADS
    from ..runners.inprocess import TARGET_SECONDS, calibrate, measure

    spec = DEFAULT_LOOPS[0]
    workloads = {name: WORKLOADS[name] for name in rows}
    counts = dict(counts or {})
    for name, w in workloads.items():
        assert isinstance(w, Workload)
        if name not in counts:
            counts[name] = calibrate(spec, w, TARGET_SECONDS)
        else:
            measure(spec, w, 1)  # the untimed first call: scratch files made and cached
    big = scratch_file(BIG)
    per_round: list[dict[str, float]] = []
    iops_rounds: list[dict[str, float]] = []
    ratios: dict[str, list[float]] = {}
    for rnd in range(1, rounds + 1):
        warm(big)
        us = {}
        for name, w in workloads.items():
            assert isinstance(w, Workload)
            us[name] = measure(spec, w, counts[name]) / counts[name] * 1e6
        iops: dict[str, float] = {}
        if references:
            iops = {"ring": ring_iops(big), "ring_poll": ring_iops(big, poll=True)}
            if fio_missing() is None:
                iops["fio"] = fio_iops(big)
        per_round.append(us)
        iops_rounds.append(iops)
        if "fio" in iops and set(TARGET_ROWS) <= set(us):
            for target, value in _target_ratios(us, iops).items():
                ratios.setdefault(target, []).append(value)
        progress(f"round {rnd}/{rounds}: " + ", ".join(f"{k} {v:.2f}" for k, v in us.items())
                 + "".join(f", {k} {v:.0f}/s" for k, v in iops.items()))
    summary = {target: (statistics.median(v), min(v), max(v)) for target, v in ratios.items()}
    medians = {name: statistics.median(r[name] for r in per_round) for name in workloads}
    iops_medians = {k: statistics.median(r[k] for r in iops_rounds) for k in iops_rounds[0]}
    return {"rounds": rounds, "counts": counts, "us_per_op": per_round, "iops": iops_rounds,
            "medians": medians, "iops_medians": iops_medians, "ratios": summary}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.workloads.file``: the targets' table (see :func:`targets`)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m bench.workloads.file",
                                     description="The issue 13 targets as paired, interleaved ratios.")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--rows", help="comma-separated rows (default: every row the targets use)")
    parser.add_argument("--counts", type=Path, help="a JSON file of operations per row: no calibration")
    parser.add_argument("--no-references", action="store_true", help="leave out fio and the bare ring")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args(argv)
    rows = tuple(args.rows.split(",")) if args.rows else TARGET_ROWS
    counts = json.loads(args.counts.read_text()) if args.counts else None
    result = targets(args.rounds, progress=lambda line: print(line, file=sys.stderr, flush=True), rows=rows,
                     counts=counts, references=not args.no_references)
    print("| row | median µs/op |\n|---|---|")
    for name, value in result["medians"].items():
        print(f"| {name} | {value:.2f} |")
    for name, value in result["iops_medians"].items():
        print(f"| {name} IOPS | {value:,.0f} |")
    if result["ratios"]:
        print("\n| target (paired, per round) | median | range |\n|---|---|---|")
    for target, (med, low, high) in result["ratios"].items():
        print(f"| {target} | {med:.2f} | {low:.2f} to {high:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
