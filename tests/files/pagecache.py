"""Page-cache control for the tests of the cached reads: drop a file's pages, or all but its first."""
import os
import time

import pytest

PAGE = 4096


def evict(path):
    """Drop ``path``'s pages from the page cache (written back first); skip where the kernel keeps them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(50):  # a page still locked by write-back or read-ahead stays: try again
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.preadv(fd, [bytearray(PAGE)], 0, os.RWF_NOWAIT)
            except BlockingIOError:
                # That probe may have started read-ahead: let it finish (a
                # page under I/O cannot be dropped), then drop the pages again.
                os.pread(fd, os.fstat(fd).st_size, 0)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                return
            time.sleep(0.01)
    finally:
        os.close(fd)
    pytest.skip("this file system keeps the pages cached (tmpfs?): nothing to evict")


def keep_first_page_only(path, size):
    """Leave only the first page of ``path`` (``size`` bytes, 3 pages) cached; skip where that cannot be arranged."""
    evict(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.pread(fd, size, 0)
        os.posix_fadvise(fd, PAGE, size - PAGE, os.POSIX_FADV_DONTNEED)  # the first page stays cached
        try:
            got = os.preadv(fd, [bytearray(size)], 0, os.RWF_NOWAIT)
        except BlockingIOError:
            got = 0
        # That probe may have started read-ahead of the other pages: let it
        # finish (a page under I/O cannot be dropped), then drop them again.
        os.pread(fd, size, 0)
        os.posix_fadvise(fd, PAGE, size - PAGE, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if got != PAGE:
        pytest.skip(f"the kernel read {got} bytes of the partly cached range; the case needs exactly one page")
