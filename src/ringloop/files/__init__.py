"""Async file I/O on the ring: a drop-in for aiofiles that never touches a thread.

    from ringloop import files

    async with files.open("data.txt") as f:
        async for line in f:
            ...

Every read, write, open, close, stat, rename, unlink, mkdir, link and
symlink is an io_uring operation of the running ringloop loop; only
``listdir`` and ``Path.iterdir`` (no ring opcode lists a directory) use the
loop's executor.  The call shapes are aiofiles' (``files.open`` for
``aiofiles.open``, the path functions for ``aiofiles.os``), the results and
errors the built-in ``open``'s and ``os``'.  Needs a running ringloop loop
(``ringloop.run``); anything else raises RuntimeError.  See docs/files.md.
"""
from ._binary import BinaryFile
from ._direct import ALIGNMENT
from ._open import DEFAULT_BUFFER_SIZE, Opening, open
from ._path import Path
from ._paths import (
    exists,
    link,
    listdir,
    lstat,
    mkdir,
    remove,
    rename,
    replace,
    rmdir,
    stat,
    symlink,
    unlink,
)
from ._text import TextFile

__all__ = [
    "ALIGNMENT", "DEFAULT_BUFFER_SIZE", "BinaryFile", "Opening", "Path", "TextFile", "open",
    "exists", "link", "listdir", "lstat", "mkdir", "remove", "rename", "replace", "rmdir", "stat", "symlink", "unlink",
]
