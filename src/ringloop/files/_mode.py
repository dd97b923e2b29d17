"""The arguments of ``open``, checked exactly as the built-in ``open`` checks them."""
from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

__all__ = ["Mode", "check_text_args", "mode_name", "parse_mode"]

_NEWLINES = (None, "", "\n", "\r", "\r\n")


@dataclass(frozen=True)
class Mode:
    """What a mode string asks for: the open(2) flags and the file object's abilities."""

    flags: int
    readable: bool
    writable: bool
    append: bool
    binary: bool


def parse_mode(mode: object, buffering: object) -> Mode:
    """The Mode of ``mode``; TypeError or ValueError with the built-in open's message when invalid."""
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    if not isinstance(buffering, int):
        raise TypeError(f"'{type(buffering).__name__}' object cannot be interpreted as an integer")
    return _parse(mode)


@functools.lru_cache(maxsize=64)
def _parse(mode: str) -> Mode:
    modes = set(mode)
    if modes - set("axrwb+t") or len(mode) > len(modes):
        raise ValueError(f"invalid mode: {mode!r}")
    creating, reading, writing, appending = ("x" in modes, "r" in modes, "w" in modes, "a" in modes)
    text, binary, updating = "t" in modes, "b" in modes, "+" in modes
    if text and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    if not (creating or reading or writing or appending):
        raise ValueError("Must have exactly one of create/read/write/append mode and at most one plus")
    if updating:
        flags = os.O_RDWR
    else:
        flags = os.O_RDONLY if reading else os.O_WRONLY
    if writing:
        flags |= os.O_CREAT | os.O_TRUNC
    elif appending:
        flags |= os.O_CREAT | os.O_APPEND
    elif creating:
        flags |= os.O_CREAT | os.O_EXCL
    return Mode(flags | os.O_CLOEXEC, reading or updating, not reading or updating, appending, binary)


def check_text_args(mode: Mode, buffering: int, encoding: object, errors: object, newline: object) -> None:
    """The built-in open's checks of encoding, errors, newline and buffering against the mode."""
    if encoding is not None and not isinstance(encoding, str):
        raise TypeError(f"open() argument 'encoding' must be str or None, not {type(encoding).__name__}")
    if errors is not None and not isinstance(errors, str):
        raise TypeError(f"open() argument 'errors' must be str or None, not {type(errors).__name__}")
    if newline is not None and not isinstance(newline, str):
        raise TypeError(f"open() argument 'newline' must be str or None, not {type(newline).__name__}")
    if mode.binary:
        for name, value in (("encoding", encoding), ("errors", errors), ("newline", newline)):
            if value is not None:
                raise ValueError(f"binary mode doesn't take an {name} argument" if name != "newline"
                                 else "binary mode doesn't take a newline argument")
        if buffering == 1:
            warnings.warn("line buffering (buffering=1) isn't supported in binary mode, "
                          "the default buffer size will be used", RuntimeWarning, 4)
        return
    if newline not in _NEWLINES:
        raise ValueError(f"illegal newline value: {newline}")
    if buffering == 0:
        raise ValueError("can't have unbuffered text I/O")


def mode_name(mode: Mode) -> str:
    """The mode a binary file reports, as FileIO.mode spells it ("w+b" is "rb+")."""
    if mode.flags & os.O_EXCL:
        name = "xb"
    elif mode.append:
        name = "ab"
    elif mode.readable:
        name = "rb"
    else:
        name = "wb"
    return name + "+" if mode.readable and mode.writable else name
