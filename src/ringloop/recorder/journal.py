"""The journal's format: records encoded, batches framed, and a scanner that recovers frames.

Pure code, no I/O: JournalStorage feeds the scanner the bytes it reads with
ring ops, ``python -m ringloop journal`` the bytes it reads with plain reads.

A journal file is ``MAGIC`` followed by frames.  A frame is what one commit
writes (one batch of records; a batch over ``MAX_FRAME`` bytes is several
commits)::

    crc     u32  CRC-32 of the rest of the header and of the payload
    length  u32  payload bytes, 1 .. MAX_FRAME
    seq     u64  sequence number of the frame's first record: a file's records
                 are numbered 0, 1, 2, ... without gaps
    count   u32  records in the frame, 1 .. length
    payload      segments, each: kind u8, length u32, data
                   SEG_JSON   a JSON array (ASCII) of one or more records
                   SEG_BYTES  one bytes record

Since a commit is one write followed by fdatasync, and the next commit starts
only after that fdatasync succeeded, a crash can damage only the last frame.
So a bad frame with no good frame after it is a torn tail (never
acknowledged: recovery drops it), while a bad frame *followed* by a good one
is damage to acknowledged data (recovery refuses it unless asked to repair).
"""
from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from .storage import StorageError

__all__ = [
    "MAGIC", "MAX_FRAME", "MAX_RECORD", "JournalCorrupt", "NotAJournal", "Frame", "JsonText", "Scan", "Scanner",
    "encode_record", "build_frames", "make_frame", "decode_payload",
]

MAGIC = b"RLJRNL\x00\x01"  # name and format version 1
HEADER = struct.Struct("<IIQI")  # crc, length, seq, count
SEGMENT = struct.Struct("<BI")  # kind, length
SEG_JSON = 1
SEG_BYTES = 2
#: Largest frame payload: also the most a recovery ever buffers for one frame.
MAX_FRAME = 64 << 20
#: Largest encoded record, so that any record fits in a frame of its own.
MAX_RECORD = 32 << 20

_CRC = struct.Struct("<I")
_REST = struct.Struct("<IQI")  # the header after its crc field
_NONZERO = re.compile(rb"[^\x00]")


class JournalCorrupt(StorageError):
    """Acknowledged data in a journal is damaged (a bad frame followed by good ones)."""


class NotAJournal(StorageError):
    """The file does not start with a ringloop journal's MAGIC."""


def _not_json(value: Any) -> Any:
    raise TypeError(f"a journal record is a JSON value or bytes; {type(value).__name__} is neither "
                    "(nor may bytes sit inside a JSON value)")


# json.dumps builds this C encoder anew on every call; building it once makes
# encoding a small record about 40% cheaper, and saving a record is mostly
# encoding it.  c_make_encoder is None where the _json accelerator is missing.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder = (_c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, False)
              if _c_make_encoder is not None else None)
_py_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_not_json)


class JsonText(str):
    """JSON text made by :func:`encode_record`: the only str a journal frames as is.

    A type of its own so that a plain string handed to ``save`` is refused
    rather than stored as if it were JSON, which would make the journal
    unreadable.
    """

    __slots__ = ()


def encode_record(record: Any) -> JsonText | bytes:
    """Check and encode one record: compact ASCII JSON text for a JSON value, the bytes for bytes.

    bytearray and memoryview records are copied to bytes.  Raises TypeError
    for anything else (bytes nested in a JSON value included), ValueError for
    NaN or infinities, for circular or too deeply nested values, and for a
    record whose encoding exceeds MAX_RECORD.  JSON turns tuples into lists
    and non-string dict keys into strings: ``load`` gives back what
    ``json.loads`` makes of the text.
    """
    # A dict, the usual record, skips the isinstance() of three types: saving
    # a record is mostly encoding it, so its few checks show.
    if type(record) is not dict and isinstance(record, (bytes, bytearray, memoryview)):
        data = bytes(record)
        if len(data) > MAX_RECORD:
            raise ValueError(f"a journal record is at most {MAX_RECORD} bytes, got {len(data)}")
        return data
    try:
        text = JsonText("".join(_c_encoder(record, 0)) if _c_encoder is not None else _py_encoder.encode(record))
    except RecursionError:
        raise ValueError("a journal record must not be circular or nested this deeply") from None
    if len(text) > MAX_RECORD:
        raise ValueError(f"a journal record is at most {MAX_RECORD} bytes encoded, got {len(text)}")
    return text


def build_frames(items: list[Any], seq: int) -> list[tuple[bytes, int]]:
    """Frame ``items`` (results of encode_record) with sequence numbers from ``seq``.

    Returns ``[(frame, record count), ...]``: one frame unless the items
    exceed MAX_FRAME bytes.  Raises TypeError for an item that is neither
    JsonText nor bytes.
    """
    if items and set(map(type, items)) == {JsonText}:  # the common batch: JSON records only
        data = ("[" + ",".join(items) + "]").encode("ascii")
        if len(data) + SEGMENT.size <= MAX_FRAME:
            return [(make_frame([SEGMENT.pack(SEG_JSON, len(data)), data], len(items), seq), len(items))]
    frames: list[tuple[bytes, int]] = []
    segments: list[bytes] = []  # payload of the frame being built
    size = count = 0
    run: list[str] = []  # JSON texts that become one SEG_JSON segment
    run_size = 0

    def end_run() -> None:
        nonlocal size, count, run, run_size
        if run:
            data = ("[" + ",".join(run) + "]").encode("ascii")
            segments.append(SEGMENT.pack(SEG_JSON, len(data)))
            segments.append(data)
            size += SEGMENT.size + len(data)
            count += len(run)
            run, run_size = [], 0

    def end_frame() -> None:
        nonlocal segments, size, count, seq
        end_run()
        if count:
            frames.append((make_frame(segments, count, seq), count))
            seq += count
            segments, size, count = [], 0, 0

    for item in items:
        if type(item) is JsonText:
            if size + SEGMENT.size + run_size + len(item) + 2 > MAX_FRAME:
                end_frame()
            run.append(item)
            run_size += len(item) + 1
        elif type(item) is bytes:
            end_run()
            if size + SEGMENT.size + len(item) > MAX_FRAME:
                end_frame()
            segments.append(SEGMENT.pack(SEG_BYTES, len(item)))
            segments.append(item)
            size += SEGMENT.size + len(item)
            count += 1
        else:
            raise TypeError(f"journal items are what encode() returns (JsonText or bytes), "
                            f"not {type(item).__name__}")
    end_frame()
    return frames


def make_frame(payload: list[bytes], count: int, seq: int) -> bytes:
    """The frame of ``count`` records numbered from ``seq`` whose payload is the concatenation of ``payload``."""
    rest = _REST.pack(sum(map(len, payload)), seq, count)
    crc = zlib.crc32(rest)
    for part in payload:
        crc = zlib.crc32(part, crc)
    return b"".join([_CRC.pack(crc), rest, *payload])


def decode_payload(payload: bytes, count: int) -> list[Any]:
    """The ``count`` records of a frame's payload (whose CRC was checked); JournalCorrupt if it is malformed."""
    records: list[Any] = []
    pos = 0
    try:
        while pos < len(payload):
            kind, length = SEGMENT.unpack_from(payload, pos)
            pos += SEGMENT.size
            data = payload[pos:pos + length]
            pos += length
            if len(data) != length:
                raise ValueError("segment runs past the payload")
            if kind == SEG_JSON:
                values = json.loads(data)
                if not isinstance(values, list) or not values:
                    raise ValueError("JSON segment is not a non-empty array")
                records.extend(values)
            elif kind == SEG_BYTES:
                records.append(data)
            else:
                raise ValueError(f"unknown segment kind {kind}")
    except (ValueError, struct.error) as exc:  # json.JSONDecodeError is a ValueError
        raise JournalCorrupt(f"a frame with a good CRC holds a malformed payload: {exc}") from None
    if len(records) != count:
        raise JournalCorrupt(f"a frame says it holds {count} records but holds {len(records)}")
    return records


class Frame(NamedTuple):
    """A good frame: where it starts, its first sequence number, how many records it holds, its payload (or None)."""

    offset: int
    seq: int
    records: int
    payload: bytes | None


@dataclass(frozen=True)
class Scan:
    """What a scan of a whole journal found.

    ``end`` is where the good data ends (where the next frame goes); ``torn``
    the bytes after it that a crash left; ``corrupt`` the ``(start, end)``
    byte ranges of damage *followed by* good frames, with ``records_lost`` the
    sequence numbers they swallowed; ``new`` says the file is empty or holds
    part of MAGIC only (a creation cut short).
    """

    size: int
    end: int
    frames: int
    records: int
    torn: int
    corrupt: tuple[tuple[int, int], ...]
    records_lost: int
    new: bool


class Scanner:
    """Recovers the good frames of a journal from its bytes, fed in order, in pieces of any size.

    ``feed()`` returns the good frames the new bytes completed; ``finish()``
    (at end of file) the last ones, after which ``result`` holds the Scan.
    Payloads are kept only with ``keep_payloads``.  Raises NotAJournal when
    the file starts with something else than MAGIC.  Memory: the unparsed
    bytes, at most one frame (MAX_FRAME) plus the last piece fed.
    """

    def __init__(self, *, keep_payloads: bool = False) -> None:
        self._keep = keep_payloads
        self._buf = bytearray()
        self._base = 0  # file offset of self._buf[0]
        self._started = False  # MAGIC checked
        self._bad: int | None = None  # offset where the damage being skipped starts
        self._corrupt: list[tuple[int, int]] = []
        self._lost = 0
        self._frames = 0
        self._records = 0
        self._seq = 0  # sequence number the next frame must start with
        self._end = len(MAGIC)
        self.result: Scan | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take the next bytes of the file; return the good frames they complete."""
        if self.result is not None:
            raise RuntimeError("the scan is finished")
        self._buf += data
        return self._parse(final=False)

    def finish(self) -> list[Frame]:
        """End of file: return the last good frames and set ``result``."""
        if self.result is not None:
            raise RuntimeError("the scan is finished")
        if not self._started and len(self._buf) < len(MAGIC):
            if not MAGIC.startswith(bytes(self._buf)):
                raise NotAJournal("the file is not a ringloop journal (it does not start with MAGIC)")
            self.result = Scan(len(self._buf), 0, 0, 0, 0, (), 0, True)
            return []
        frames = self._parse(final=True)
        size = self._base + len(self._buf)
        if self._bad is not None:
            self._end = self._bad
        self.result = Scan(size, self._end, self._frames, self._records, size - self._end,
                           tuple(self._corrupt), self._lost, False)
        return frames

    def _parse(self, final: bool) -> list[Frame]:
        buf = self._buf
        n = len(buf)
        i = 0
        if not self._started:
            if n < len(MAGIC):
                return []
            if buf[:len(MAGIC)] != MAGIC:
                raise NotAJournal("the file is not a ringloop journal (it does not start with MAGIC)")
            self._started = True
            i = len(MAGIC)
        frames: list[Frame] = []
        with memoryview(buf) as view:
            while n - i >= HEADER.size:
                if self._bad is not None:
                    # Skipping damage: look for the next offset where a good
                    # frame starts.  A header's length field has a nonzero
                    # byte, which lets a run of zeros be skipped at once.
                    match = _NONZERO.search(buf, i + 4)
                    if match is None:
                        i = max(i, n - 7)
                        break
                    if match.start() >= i + 8:
                        i = match.start() - 7
                        continue
                crc, length, seq, count = HEADER.unpack_from(buf, i)
                plausible = 0 < length <= MAX_FRAME and 0 < count <= length and (
                    seq == self._seq if self._bad is None else seq >= self._seq)
                if plausible:
                    stop = i + HEADER.size + length
                    if stop > n:
                        if not final:
                            break  # wait for the rest of this frame
                    elif zlib.crc32(view[i + 4:stop]) == crc:
                        if self._bad is not None:
                            self._corrupt.append((self._bad, self._base + i))
                            self._lost += seq - self._seq
                            self._bad = None
                        frames.append(Frame(self._base + i, seq, count,
                                            bytes(view[i + HEADER.size:stop]) if self._keep else None))
                        self._frames += 1
                        self._records += count
                        self._seq = seq + count
                        i = stop
                        self._end = self._base + i
                        continue
                if self._bad is None:
                    self._bad = self._base + i
                i += 1
        if final and self._bad is None and i < n:
            self._bad = self._base + i  # a piece of a header at the very end
        del buf[:i]
        self._base += i
        return frames
