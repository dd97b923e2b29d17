"""struct statx (linux/stat.h) decoded into the ``os.stat_result`` that ``os.stat`` gives."""
from __future__ import annotations

import os
import struct

__all__ = ["AT_EMPTY_PATH", "AT_SYMLINK_NOFOLLOW", "STATX_BASIC_STATS", "STATX_SIZE", "stat_result"]

# linux/fcntl.h and linux/stat.h: the os module does not export these.
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
STATX_BASIC_STATS = 0x7FF

#: The kernel's struct statx is 256 bytes; what os.stat_result needs is its first 144.
STATX_SIZE = 256
_LAYOUT = struct.Struct(
    "=IIQ"    # stx_mask, stx_blksize, stx_attributes
    "IIIHH"   # stx_nlink, stx_uid, stx_gid, stx_mode, padding
    "QQQQ"    # stx_ino, stx_size, stx_blocks, stx_attributes_mask
    "qIi" "qIi" "qIi" "qIi"  # atime, btime, ctime, mtime: tv_sec, tv_nsec, padding
    "IIII"    # stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor
)
_NS = 1_000_000_000


def stat_result(buffer: bytearray) -> os.stat_result:
    """The os.stat_result of a filled struct statx, field for field what os.stat computes.

    Times as os.stat makes them: integer seconds in the tuple part, the float
    ``sec + nsec * 1e-9`` and the integer nanoseconds as attributes.
    """
    (_mask, blksize, _attrs, nlink, uid, gid, mode, _pad, ino, size, blocks, _attrs_mask,
     a_sec, a_nsec, _a, _b_sec, _b_nsec, _b, c_sec, c_nsec, _c, m_sec, m_nsec, _m,
     rdev_major, rdev_minor, dev_major, dev_minor) = _LAYOUT.unpack_from(buffer)
    return os.stat_result((
        mode, ino, os.makedev(dev_major, dev_minor), nlink, uid, gid, size,
        a_sec, m_sec, c_sec,
        a_sec + a_nsec * 1e-9, m_sec + m_nsec * 1e-9, c_sec + c_nsec * 1e-9,
        a_sec * _NS + a_nsec, m_sec * _NS + m_nsec, c_sec * _NS + c_nsec,
        blksize, blocks, os.makedev(rdev_major, rdev_minor),
    ))
