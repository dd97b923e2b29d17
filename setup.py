"""setuptools needs this shim only to hand ``cffi_modules`` to cffi; all metadata is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
