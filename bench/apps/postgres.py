"""A throwaway PostgreSQL for the asyncpg workload: initdb + pg_ctl in a temporary directory, Unix socket only.

:func:`cluster` is a context manager: it finds the server binaries (installing
Debian's ``postgresql`` with apt-get when they are missing and this runs as
root), creates a cluster in a temporary directory (trust authentication, no
TCP, fsync off unless ``durable``: the asyncpg workload measures the client, not
the disk, while the recorder's durable rows must pay for the flush), starts it
pinned to the given CPU, creates the ``items`` table the queries read, and on
exit stops the server and removes the directory.  When it cannot, it raises
:class:`bench.registry.Unavailable` saying why.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..registry import Unavailable

ROWS = 1000
SETUP_SQL = (f"CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"
             f"INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, {ROWS}) AS i;")


@dataclass(frozen=True)
class Cluster:
    """A running server: connect with ``host=socket_dir``, ``port``, ``user``, database ``postgres``."""

    socket_dir: str
    port: int
    user: str


def find_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl (or the one on PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4])
                   if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and (Path(on_path).parent / "initdb").exists() else None


def ensure_bin() -> Path:
    """The binaries' folder, installing ``postgresql`` with apt-get when missing and root; else Unavailable."""
    found = find_bin()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable("PostgreSQL is not installed (initdb, pg_ctl); Debian: apt-get install postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            raise Unavailable(f"PostgreSQL is not installed and {' '.join(argv[:2])} failed: "
                              f"{done.stderr.strip()[-200:]}")
    found = find_bin()
    if found is None:
        raise Unavailable("apt-get installed postgresql but no initdb/pg_ctl was found")
    return found


def _run_as(user: str | None, argv: list[str], cpu: int | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    """``argv`` as ``user`` (None: as this process), pinned to ``cpu`` so the server it starts stays there."""
    def prepare() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if user is not None:
            entry = pwd.getpwnam(user)
            os.setgid(entry.pw_gid)
            os.initgroups(user, entry.pw_gid)
            os.setuid(entry.pw_uid)

    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=prepare, **kwargs)


def _server_user() -> str | None:
    """None when not root; as root (initdb refuses it) the ``postgres`` user, else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise Unavailable("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


@contextmanager
def cluster(cpu: int | None = None, port: int = 5432, durable: bool = False) -> Iterator[Cluster]:
    """A running throwaway cluster pinned to ``cpu``; stopped and removed on exit."""
    bindir = ensure_bin()
    user = _server_user()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (tmp, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    started = False
    try:
        done = _run_as(user, [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "bench",
                              "--no-sync", "-E", "UTF8"], timeout=120)
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {done.stderr.strip()[-200:]}")
        flush = "on" if durable else "off"
        options = (f"-c listen_addresses='' -c unix_socket_directories='{sock}' -p {port} -c fsync={flush} "
                   f"-c synchronous_commit={flush} -c full_page_writes={flush} -c max_connections=50")
        done = _run_as(user, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-o", options,
                              "-w", "-t", "60", "start"], cpu=cpu, timeout=90)
        if done.returncode != 0:
            log = (tmp / "log").read_text(errors="replace") if (tmp / "log").exists() else ""
            raise Unavailable(f"pg_ctl start failed: {(done.stderr or log).strip()[-200:]}")
        started = True
        psql = bindir / "psql"
        done = _run_as(user, [str(psql), "-h", str(sock), "-p", str(port), "-U", "bench", "-d", "postgres",
                              "-v", "ON_ERROR_STOP=1", "-q", "-c", SETUP_SQL], timeout=60)
        if done.returncode != 0:
            raise Unavailable(f"creating the table failed: {done.stderr.strip()[-200:]}")
        yield Cluster(str(sock), port, "bench")
    finally:
        if started:
            _run_as(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
