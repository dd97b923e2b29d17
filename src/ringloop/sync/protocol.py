"""The sync protocol's wire format: compact, versioned, validated binary messages.

Every request and response body of the node routes is one message::

    b"RLSY"  version (1 byte, VERSION)  kind (1 byte)  fields...

``kind`` is the route's code (:data:`ROUTES`) in a request and the code
plus 0x80 in its response, so a body sent to the wrong route, or an
answer to another request, is refused.  Fields, each a function here:

- varint: unsigned LEB128, at most 64 bits;
- text: varint byte length, then UTF-8; blob: varint byte length, then bytes;
- hlc: two varints (ms, counter);
- indexes: varint count, then the varint gaps between sorted distinct ints;
- records: varint count of a node-name table, the names (text), varint
  count of records, then per record: id (text), state (a varint: the
  index into STATES), payload (blob of JSON; empty for null), hlc, node (varint
  index into the table), generation (varint).

A :class:`Reader` raises MalformedMessage (a ValueError) for anything
malformed (a bad magic, another version, a cut field, an index out of
range, bytes left over, an invalid record), before the caller has changed
anything: the server answers 400.  Size limits are the caller's (the
server's ``max_body``).
"""
from __future__ import annotations

import json
from typing import Any

from .hlc import Timestamp
from .model import STATES, Record, from_wire

__all__ = ["VERSION", "MAGIC", "CONTENT_TYPE", "ROUTES", "RESPONSE", "MAX_INDEXES", "MAX_RECORDS", "MAX_ID_BYTES",
           "MAX_NODE_BYTES", "MalformedMessage", "Writer", "Reader"]

MAGIC = b"RLSY"
VERSION = 1
CONTENT_TYPE = "application/x-ringloop-sync"
ROUTES = {"hello": 1, "root": 2, "compare": 3, "leaves": 4, "push": 5}
RESPONSE = 0x80
MAX_INDEXES = 1 << 22
MAX_RECORDS = 200_000  # records in one message
MAX_ID_BYTES = 4 * 1024  # UTF-8 of an id of at most 1,024 characters (model.from_wire checks the characters)
MAX_NODE_BYTES = 4 * 128
_STATE_CODE = {state: code for code, state in enumerate(STATES)}


class MalformedMessage(ValueError):
    """A message that is not what its route expects (the server answers 400; a client raises UpstreamError)."""


class Writer:
    """Builds one message of ``kind`` (a route code, plus RESPONSE for an answer) field by field."""

    def __init__(self, kind: int) -> None:
        """Start a message: the magic, the version and ``kind``."""
        self._out = bytearray(MAGIC)
        self._out += bytes((VERSION, kind))

    def varint(self, value: int) -> Writer:
        """Append a non-negative int below 2**64 as LEB128; ValueError otherwise."""
        if type(value) is not int or not 0 <= value < 1 << 64:
            raise ValueError(f"a varint is an int from 0 to 2**64-1, not {value!r}")
        out = self._out
        while value > 0x7F:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
        return self

    def blob(self, data: bytes) -> Writer:
        """Append ``data`` with its length."""
        self.varint(len(data))
        self._out += data
        return self

    def text(self, value: str) -> Writer:
        """Append ``value`` as length-prefixed UTF-8."""
        return self.blob(value.encode())

    def hlc(self, stamp: Timestamp) -> Writer:
        """Append a timestamp (ms, counter)."""
        return self.varint(stamp[0]).varint(stamp[1])

    def indexes(self, values: list[int]) -> Writer:
        """Append sorted distinct non-negative ints as a count and the gaps between them."""
        self.varint(len(values))
        previous = -1
        for value in values:
            if value <= previous:
                raise ValueError("indexes must be sorted, distinct and non-negative")
            self.varint(value - previous - 1)
            previous = value
        return self

    def records(self, records: list[Record]) -> Writer:
        """Append records, their node ids once each in a table."""
        nodes = list(dict.fromkeys(record.node for record in records))
        self.varint(len(nodes))
        for node in nodes:
            self.text(node)
        number = {node: n for n, node in enumerate(nodes)}
        self.varint(len(records))
        for record in records:
            self.text(record.id)
            self.varint(_STATE_CODE[record.state])
            payload = b"" if record.payload is None else json.dumps(
                record.payload, separators=(",", ":"), ensure_ascii=False).encode()
            self.blob(payload).hlc(record.hlc).varint(number[record.node]).varint(record.gen)
        return self

    def finish(self) -> bytes:
        """The message's bytes."""
        return bytes(self._out)


class Reader:
    """Reads the fields of one message of ``kind``; every method raises MalformedMessage for malformed input."""

    def __init__(self, data: bytes, kind: int) -> None:
        """Check the header of ``data``: the magic, version VERSION and ``kind``."""
        if data[:4] != MAGIC:
            raise MalformedMessage(f"not a ringloop sync message (Content-Type {CONTENT_TYPE}, starting {MAGIC!r})")
        if len(data) < 6 or data[4] != VERSION:
            raise MalformedMessage(f"unsupported sync protocol version {data[4:5].hex() or 'none'}: "
                             f"this side speaks version {VERSION}")
        if data[5] != kind:
            raise MalformedMessage(f"message kind {data[5]:#x} where {kind:#x} was expected")
        self._data = data
        self._at = 6

    def varint(self) -> int:
        """An unsigned LEB128 int of at most 64 bits."""
        value = shift = 0
        data, at = self._data, self._at
        while True:
            if at >= len(data):
                raise MalformedMessage("message cut short inside a varint")
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise MalformedMessage("varint longer than 64 bits")
        if value >> 64:
            raise MalformedMessage("varint longer than 64 bits")
        self._at = at
        return value

    def uint(self, limit: int, what: str) -> int:
        """A varint below ``limit``."""
        value = self.varint()
        if value >= limit:
            raise MalformedMessage(f"{what} {value} out of range (below {limit})")
        return value

    def fixed(self, size: int) -> bytes:
        """The next ``size`` bytes."""
        end = self._at + size
        if end > len(self._data):
            raise MalformedMessage(f"message cut short: {size} bytes wanted, {len(self._data) - self._at} left")
        chunk = self._data[self._at:end]
        self._at = end
        return chunk

    def blob(self, limit: int | None = None) -> bytes:
        """A length-prefixed byte string, of at most ``limit`` bytes when given."""
        size = self.varint()
        if limit is not None and size > limit:
            raise MalformedMessage(f"a field of {size} bytes where at most {limit} are allowed")
        return self.fixed(size)

    def text(self, limit: int) -> str:
        """A length-prefixed UTF-8 string of at most ``limit`` bytes."""
        try:
            return self.blob(limit).decode()
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"a text field is not UTF-8: {exc}") from None

    def hlc(self) -> Timestamp:
        """A timestamp (ms, counter)."""
        return (self.varint(), self.varint())

    def indexes(self, limit: int) -> list[int]:
        """Sorted distinct ints below ``limit`` (see :meth:`Writer.indexes`)."""
        count = self.varint()
        if count > min(MAX_INDEXES, len(self._data) - self._at):  # every gap takes a byte at least
            raise MalformedMessage(f"an index list of {count} entries cannot be in this message")
        values = []
        previous = -1
        for _ in range(count):
            previous += self.varint() + 1
            if previous >= limit:
                raise MalformedMessage(f"index {previous} out of range (below {limit})")
            values.append(previous)
        return values

    def records(self, limit: int | None = None) -> list[Record]:
        """Records, at most ``limit`` when given, each checked as :func:`.model.from_wire` checks it."""
        bound = len(self._data) - self._at  # every entry takes a byte at least
        if limit is not None:
            bound = min(bound, limit)
        nodes = [self.text(MAX_NODE_BYTES) for _ in range(self.uint(bound + 1, "node table size"))]
        count = self.uint(bound + 1, "record count")
        records: list[Record] = []
        for _ in range(count):
            rid = self.text(MAX_ID_BYTES)
            state = STATES[self.uint(len(STATES), "state")]
            raw = self.blob()
            hlc = self.hlc()
            node = nodes[self.uint(len(nodes), "node number")]
            gen = self.varint()
            try:
                payload: Any = json.loads(raw) if raw else None
                records.append(from_wire([rid, state, payload, list(hlc), node, gen]))
            except ValueError as exc:  # bad JSON, or a record the model refuses
                raise MalformedMessage(f"record {len(records)}: {exc}") from None
        return records

    def done(self) -> None:
        """Check that the whole message was read: bytes left over are malformed input too."""
        if self._at != len(self._data):
            raise MalformedMessage(f"{len(self._data) - self._at} bytes left over after the message's fields")
