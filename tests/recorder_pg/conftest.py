"""A real PostgreSQL for the recorder_pg tests: started once per session in a temporary directory.

It reuses the bench's throwaway cluster (bench/apps/postgres.py: initdb +
pg_ctl as the ``postgres`` user when root, Unix socket only, no TCP).  When
the server binaries are missing the tests fail, saying what to install:
``make test`` installs them; skipping would hide that PostgresStorage was
never tested.
"""
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.apps import postgres as pg  # noqa: E402
from bench.registry import Unavailable  # noqa: E402

PORT = 5433


@pytest.fixture(scope="session")
def pg_dsn():
    """The DSN of a running throwaway PostgreSQL (user ``bench``, database ``postgres``)."""
    if pg.find_bin() is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH: "
                    "install them (Debian/Ubuntu: apt-get install postgresql; `make test` does it as root)",
                    pytrace=False)
    try:
        with pg.cluster(port=PORT) as cluster:
            yield f"postgresql://{cluster.user}@/postgres?host={cluster.socket_dir}&port={cluster.port}"
    except Unavailable as exc:
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)


@pytest.fixture
def table():
    """A table prefix of this test's own, so tests do not see each other's rows."""
    return "t_" + uuid.uuid4().hex[:12]
