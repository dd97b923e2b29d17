"""`make test` runs these sessions: the layering and type checks once, the suite on every CPython from 3.11 to 3.13.

An interpreter this machine lacks is reported by nox as skipped, with its
version, and the run goes on; interpreters installed with pyenv are found even
when pyenv does not put them on PATH.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

PYTHONS = ["3.11", "3.12", "3.13"]

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


def _put_pyenv_versions_on_path() -> None:
    """Prepend each pyenv-installed CPython of PYTHONS to PATH, so nox finds ``pythonX.Y``."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = []
    for version in PYTHONS:
        candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
        if candidates:
            found.append(str(Path(candidates[-1]).parent))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_versions_on_path()


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """Imports only go down (import-linter) and the package type-checks (mypy, strict)."""
    session.install("-q", "-e", ".[test]")
    session.run("lint-imports")
    session.run("mypy")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite, CPython's own test_asyncio suites included, on this interpreter."""
    session.install("-q", "-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)
