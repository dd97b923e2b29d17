"""The layering itself: every part of the package has a place in the import-linter contracts."""
import ast
import pkgutil
import tomllib
from pathlib import Path

import ringloop

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(ringloop.__file__).parent


def _contracts():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _layered_modules():
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    names = set()
    for layer in layers["layers"]:
        for part in layer.split("|"):
            names.add(part.strip().strip("()"))
    return names


def test_every_part_of_the_package_is_in_a_layer():
    parts = {f"ringloop.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    missing = parts - _layered_modules()
    assert not missing, f"not in the layers contract of pyproject.toml: {sorted(missing)}"


def test_public_upper_layers_are_forbidden_the_underscore_packages():
    upper = {f"ringloop.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])
             if not m.name.startswith("_") and m.name != "loop"}
    guarded = set()
    for contract in _contracts():
        if contract["type"] == "forbidden" and "ringloop._core" in contract["forbidden_modules"]:
            guarded.update(contract["source_modules"])
    assert upper <= guarded, f"public layers without the public-API contract: {sorted(upper - guarded)}"


def test_only_the_ring_layer_imports_the_cffi_module():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "_ring":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("_ffi"):
                offenders.append(str(path.relative_to(PACKAGE)))
            elif isinstance(node, ast.Import) and any(a.name.endswith("._ffi") for a in node.names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert not offenders
