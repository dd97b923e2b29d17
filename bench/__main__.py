"""``python -m bench``: see :func:`bench.cli.main`."""
from .cli import main

raise SystemExit(main())
