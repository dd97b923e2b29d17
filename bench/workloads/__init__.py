"""What is measured: one module per workload group; importing this package registers them all.

Each module registers its workloads with :mod:`bench.registry` when imported.
The modules are imported in alphabetical order, after the loop-overhead
group, which comes first in every listing.  A new group is a new module here.
"""
import importlib
import pkgutil

from . import loop  # noqa: F401  (first: registry order is listing order)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
