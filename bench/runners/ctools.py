"""The lab's C tools (bench/c/*.c): compiled with ``cc`` on demand into bench/out/bin.

A tool is rebuilt when its source is newer than its binary, so editing a
``.c`` file and rerunning the bench is enough.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1] / "c"
BUILD_DIR = Path(__file__).resolve().parents[1] / "out" / "bin"
LIBURING_HEADER = Path("/usr/include/liburing.h")

#: tool name -> extra linker flags
TOOLS: dict[str, tuple[str, ...]] = {
    "loadgen": (),
    "echo_uring": ("-luring",),
}


class BuildError(RuntimeError):
    """A C tool could not be built; the message says what to install or what the compiler said."""


def _check_prerequisites(name: str, cc: str | None, header: Path) -> str:
    if cc is None:
        raise BuildError(f"cannot build {name}: no C compiler `cc` on PATH (Debian: apt-get install gcc)")
    if "-luring" in TOOLS[name] and not header.exists():
        raise BuildError(f"cannot build {name}: liburing headers are missing ({header}; "
                         "Debian: apt-get install liburing-dev)")
    return cc


def build(name: str, build_dir: Path = BUILD_DIR, *, cc: str | None = None,
          header: Path = LIBURING_HEADER) -> Path:
    """The path of the built tool ``name``, compiling ``bench/c/<name>.c`` first if it is missing or stale.

    ``cc`` defaults to the ``cc`` on PATH.  Raises BuildError, with a
    message saying what is missing, when there is no compiler, when a tool
    that needs liburing finds no ``header``, or when compilation fails.
    """
    if name not in TOOLS:
        raise BuildError(f"unknown C tool {name!r}; known: {', '.join(TOOLS)}")
    source = SOURCE_DIR / f"{name}.c"
    binary = build_dir / name
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = _check_prerequisites(name, cc or shutil.which("cc"), header)
    build_dir.mkdir(parents=True, exist_ok=True)
    command = [compiler, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source), *TOOLS[name]]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"cannot build {name}: {' '.join(command)} failed:\n{done.stderr.strip()}")
    return binary
