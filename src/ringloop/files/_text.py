"""The text file object: io.TextIOWrapper's semantics over a :class:`BinaryFile`.

Decoding and encoding are incremental (codecs' incremental decoder, wrapped
in io.IncrementalNewlineDecoder for universal newlines, exactly as
TextIOWrapper does), so a multi-byte character split between two reads and
a \\r\\n split between two chunks come out as the built-in gives them.  The
reading logic and tell()/seek()'s opaque cookies follow CPython's
TextIOWrapper (cookies packed as its C implementation packs them), with one
change: the binary reads under it are ring operations, awaited.
"""
from __future__ import annotations

import codecs
import io
import os
from typing import Iterable, Union

from ._binary import BinaryFile
from ._lines import LineIteration
from ._textpos import pack_cookie, unpack_cookie

__all__ = ["TextFile"]

_CHUNK_SIZE = 64 * 1024
Decoder = Union[codecs.IncrementalDecoder, io.IncrementalNewlineDecoder]  # bytes decoded at a time: line iteration pays per chunk, not per line


class TextFile(LineIteration[str]):
    """An open file in text mode, from :func:`ringloop.files.open`; aiofiles' call shapes.

    ``read``, ``readline``, ``readlines``, ``write``, ``writelines``, ``seek``,
    ``tell``, ``flush``, ``truncate``, ``close`` and ``async for`` behave as
    the built-in text file's methods do, awaited.  ``buffer`` is the
    underlying :class:`BinaryFile`.
    """

    def __init__(self, buffer: BinaryFile, mode: str, encoding: str, errors: str, newline: str | None,
                 line_buffering: bool) -> None:
        """Wrap ``buffer`` (use :func:`ringloop.files.open`); ``encoding`` must be a text codec."""
        self.buffer = buffer
        self.mode = mode
        self._encoding = encoding
        self._errors = errors
        self._line_buffering = line_buffering
        self._readuniversal = not newline
        self._readtranslate = newline is None
        self._readnl = newline
        self._writetranslate = newline != ""
        self._writenl = newline or os.linesep
        self._decoder: Decoder | None = None
        self._encoder: codecs.IncrementalEncoder | None = None
        self._decoded_chars = ""
        self._decoded_chars_used = 0
        # (decoder flags, bytes fed since) at the start of the decoded chunk:
        # what tell() rebuilds a position from.
        self._snapshot: tuple[int, bytes] | None = None
        self._b2cratio = 0.0
        self._seekable = buffer._seekable
        if buffer._readable:
            self._get_decoder()
        if buffer._writable:
            encoder = self._get_encoder()
            if self._seekable and buffer._position() != 0:
                encoder.setstate(0)  # no second byte-order mark in the middle of a file

    # -- attributes -------------------------------------------------------------

    @property
    def name(self) -> object:
        """The file's name: the path as given to open, or the fd."""
        return self.buffer.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self.buffer.closed

    @property
    def encoding(self) -> str:
        """The codec name used to decode and encode."""
        return self._encoding

    @property
    def errors(self) -> str:
        """The codec error handler."""
        return self._errors

    @property
    def line_buffering(self) -> bool:
        """Whether a write containing a newline flushes."""
        return self._line_buffering

    @property
    def newlines(self) -> str | tuple[str, ...] | None:
        """The newline kinds read so far (universal newlines mode), as TextIOWrapper.newlines."""
        return getattr(self._decoder, "newlines", None)

    def fileno(self) -> int:
        """The file descriptor."""
        return self.buffer.fileno()

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        return self.buffer.readable()

    async def writable(self) -> bool:
        """Whether the file was opened for writing."""
        return await self.buffer.writable()

    async def seekable(self) -> bool:
        """Whether seek and tell work."""
        return await self.buffer.seekable()

    async def isatty(self) -> bool:
        """Whether the file is a terminal."""
        return await self.buffer.isatty()

    # -- codecs -------------------------------------------------------------------

    def _get_decoder(self) -> Decoder:
        codec = codecs.getincrementaldecoder(self._encoding)(self._errors)
        decoder: Decoder = codec
        if self._readuniversal:
            decoder = io.IncrementalNewlineDecoder(codec, self._readtranslate)
        self._decoder = decoder
        return decoder

    def _get_encoder(self) -> codecs.IncrementalEncoder:
        self._encoder = codecs.getincrementalencoder(self._encoding)(self._errors)
        return self._encoder

    def _check_open(self) -> None:
        # Every reading, writing and positioning method starts here: the one
        # place that settles a line iteration in progress.
        if self._batch is not None:
            self._sync_lines()
        if self.buffer.closed:
            raise ValueError("I/O operation on closed file.")

    def _check_readable(self) -> Decoder:
        self._check_open()
        if self._decoder is None:
            raise io.UnsupportedOperation("not readable")
        return self._decoder

    def _set_decoded_chars(self, chars: str) -> None:
        self._decoded_chars = chars
        self._decoded_chars_used = 0

    def _get_decoded_chars(self, n: int | None = None) -> str:
        """The next ``n`` (default: all) decoded characters, consumed."""
        offset = self._decoded_chars_used
        chars = self._decoded_chars[offset:] if n is None else self._decoded_chars[offset:offset + n]
        self._decoded_chars_used += len(chars)
        return chars

    async def _read_chunk(self) -> bool:
        """Decode the next chunk of bytes into the decoded buffer; False at end of file."""
        decoder = self._check_readable()
        dec_buffer, dec_flags = decoder.getstate() if self._seekable else (b"", 0)
        input_chunk = await self.buffer.read1(_CHUNK_SIZE)
        eof = not input_chunk
        decoded = decoder.decode(input_chunk, eof)
        self._set_decoded_chars(decoded)
        self._b2cratio = len(input_chunk) / len(decoded) if decoded else 0.0
        if self._seekable:
            self._snapshot = (dec_flags, dec_buffer + input_chunk)
        return not eof

    def _forget_decoded(self) -> None:
        self._set_decoded_chars("")
        self._snapshot = None
        if self._decoder is not None:
            self._decoder.reset()

    # -- reading --------------------------------------------------------------------

    async def read(self, size: int | None = -1) -> str:
        """Up to ``size`` characters (all, to end of file, when negative or None)."""
        decoder = self._check_readable()
        if size is None or size < 0:
            result = self._get_decoded_chars() + decoder.decode(await self.buffer.read(), final=True)
            if self._snapshot is not None:
                self._set_decoded_chars("")
                self._snapshot = None
            return result
        result = self._get_decoded_chars(size)
        while len(result) < size and await self._read_chunk():
            result += self._get_decoded_chars(size - len(result))
        return result

    def _line_end(self, line: str, start: int) -> int:
        """End index of the first line ending in ``line`` at or after ``start``, or -1."""
        if self._readtranslate:  # newlines already translated to \n
            pos = line.find("\n", start)
            return pos + 1 if pos >= 0 else -1
        if self._readuniversal:  # any of \r, \r\n, \n; the decoder never splits a \r\n
            nlpos = line.find("\n", start)
            crpos = line.find("\r", start)
            if crpos == -1:
                return nlpos + 1 if nlpos >= 0 else -1
            if nlpos == -1 or nlpos > crpos + 1:
                return crpos + 1
            return nlpos + 1
        assert self._readnl is not None
        pos = line.find(self._readnl, start)
        return pos + len(self._readnl) if pos >= 0 else -1

    async def readline(self, size: int | None = -1) -> str:
        """One line, with its ending as the newline mode leaves it; "" at end of file."""
        self._check_readable()
        if size is None:
            size = -1
        chars, used = self._decoded_chars, self._decoded_chars_used
        # The common case, a whole line in the decoded chunk: one search, one slice.
        end = chars.find("\n", used) + 1 if self._readtranslate else self._line_end(chars, used)
        if end > 0 and (size < 0 or end - used <= size):
            self._decoded_chars_used = end
            return chars[used:end]
        line = self._get_decoded_chars()
        start = 0
        while True:
            endpos = self._line_end(line, start)
            if endpos >= 0:
                break
            # A \r\n may straddle the end of what is decoded: search again from before it.
            start = max(len(line) - 1, 0) if self._readnl == "\r\n" else len(line)
            if 0 <= size <= len(line):
                endpos = size
                break
            while await self._read_chunk():
                if self._decoded_chars:
                    break
            if not self._decoded_chars:  # end of file
                self._set_decoded_chars("")
                self._snapshot = None
                return line
            line += self._get_decoded_chars()
        if 0 <= size < endpos:
            endpos = size
        self._decoded_chars_used -= len(line) - endpos  # give back what follows the line
        return line[:endpos]

    def _line_source(self) -> tuple[str, int] | None:
        # Lines end at \n only: newlines translated (newline=None), or newline="\n".
        if self._readtranslate or self._readnl == "\n":
            return self._decoded_chars, self._decoded_chars_used
        return None

    def _move_cursor(self, index: int) -> None:
        self._decoded_chars_used = index

    async def _next_line_buffer(self) -> tuple[str, bool]:
        rest = self._decoded_chars[self._decoded_chars_used:]
        while await self._read_chunk():  # the chunk replaces the decoded buffer, rest and all
            if self._decoded_chars:
                return rest, True
        return rest, bool(self._decoded_chars)  # what the decoder gave at the end (a pending \r)

    # -- writing --------------------------------------------------------------------

    async def write(self, text: str) -> int:
        """Write ``text`` (newlines translated as the newline mode says); its length."""
        self._check_open()
        if self._encoder is None:
            raise io.UnsupportedOperation("not writable")
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        length = len(text)
        haslf = (self._writetranslate or self._line_buffering) and "\n" in text
        if haslf and self._writetranslate and self._writenl != "\n":
            text = text.replace("\n", self._writenl)
        await self.buffer.write(self._encoder.encode(text))
        if self._line_buffering and (haslf or "\r" in text):
            await self.flush()
        if self._decoder is not None:
            self._forget_decoded()  # read-ahead is stale now, as TextIOWrapper.write has it
        return length

    async def writelines(self, lines: Iterable[str]) -> None:
        """Write each of ``lines`` (no separators are added)."""
        for line in lines:
            await self.write(line)

    async def flush(self) -> None:
        """Write buffered text out with ring writes."""
        await self.buffer.flush()

    # -- position -------------------------------------------------------------------

    async def tell(self) -> int:
        """An opaque position for :meth:`seek` (the byte offset when no decoder state is pending)."""
        self._check_open()
        if not self._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        await self.flush()
        position = self.buffer._position()
        decoder = self._decoder
        if decoder is None or self._snapshot is None:
            return position
        dec_flags, next_input = self._snapshot
        return _rebuild_position(decoder, position - len(next_input), dec_flags, next_input,
                                 self._decoded_chars_used, self._b2cratio)

    async def seek(self, cookie: int, whence: int = os.SEEK_SET) -> int:
        """Go to ``cookie`` (from :meth:`tell`; 0), or to the end (``seek(0, 2)``); as TextIOWrapper.seek."""
        self._check_open()
        if not self._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if whence == os.SEEK_CUR:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero cur-relative seeks")
            whence, cookie = os.SEEK_SET, await self.tell()
        elif whence == os.SEEK_END:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero end-relative seeks")
            await self.flush()
            position = await self.buffer.seek(0, whence)
            self._forget_decoded()
            self._reset_encoder(position)
            return position
        if whence != os.SEEK_SET:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if cookie < 0:
            raise ValueError(f"negative seek position {cookie}")
        await self.flush()
        start_pos, dec_flags, bytes_to_feed, need_eof, chars_to_skip = unpack_cookie(cookie)
        await self.buffer.seek(start_pos)
        self._set_decoded_chars("")
        self._snapshot = None
        decoder = self._decoder
        if decoder is not None:
            if cookie == 0:
                decoder.reset()
            else:
                decoder.setstate((b"", dec_flags))
                self._snapshot = (dec_flags, b"")
        if chars_to_skip and decoder is not None:
            input_chunk = await self.buffer.read(bytes_to_feed)
            self._set_decoded_chars(decoder.decode(input_chunk, need_eof))
            self._snapshot = (dec_flags, input_chunk)
            if len(self._decoded_chars) < chars_to_skip:
                raise OSError("can't restore logical file position")
            self._decoded_chars_used = chars_to_skip
        self._reset_encoder(cookie)
        return cookie

    def _reset_encoder(self, position: int) -> None:
        """After a seek: a byte-order mark only at the start of the file."""
        if self._encoder is not None:
            if position != 0:
                self._encoder.setstate(0)
            else:
                self._encoder.reset()

    async def truncate(self, size: int | None = None) -> int:
        """Cut or extend the file to ``size`` bytes (default: the binary position under the text,
        read-ahead included, as TextIOWrapper.truncate has it)."""
        await self.flush()
        return await self.buffer.truncate(size)

    # -- durability and closing -------------------------------------------------------

    async def fsync(self) -> None:
        """Flush, then fsync(2)."""
        await self.buffer.fsync()

    async def fdatasync(self) -> None:
        """Flush, then fdatasync(2)."""
        await self.buffer.fdatasync()

    async def close(self) -> None:
        """Flush and close (the descriptor is closed even if the flush fails); idempotent."""
        await self.buffer.close()

    async def __aenter__(self) -> TextFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<ringloop.files.TextFile name={self.name!r} mode={self.mode!r} encoding={self._encoding!r}>"


def _rebuild_position(decoder: Decoder, position: int, dec_flags: int, next_input: bytes,
                      chars_to_skip: int, b2cratio: float) -> int:
    """TextIOWrapper.tell's search: the cookie of the character ``chars_to_skip`` into the chunk
    that starts at byte ``position`` with decoder flags ``dec_flags``."""
    if chars_to_skip == 0:
        return pack_cookie(position, dec_flags)
    saved_state = decoder.getstate()
    try:
        # A start point close to the target (one decode for fixed-width codecs).
        skip_bytes = int(b2cratio * chars_to_skip)
        skip_back = 1
        while skip_bytes > 0:
            decoder.setstate((b"", dec_flags))
            n = len(decoder.decode(next_input[:skip_bytes]))
            if n <= chars_to_skip:
                pending, flags = decoder.getstate()
                if not pending:
                    dec_flags = flags
                    chars_to_skip -= n
                    break
                skip_bytes -= len(pending)
                skip_back = 1
            else:
                skip_bytes -= skip_back
                skip_back *= 2
        else:
            skip_bytes = 0
            decoder.setstate((b"", dec_flags))
        start_pos = position + skip_bytes
        start_flags = dec_flags
        if chars_to_skip == 0:
            return pack_cookie(start_pos, start_flags)
        # Feed a byte at a time, noting the last point where the decoder holds nothing.
        bytes_fed = 0
        need_eof = False
        chars_decoded = 0
        for i in range(skip_bytes, len(next_input)):
            bytes_fed += 1
            chars_decoded += len(decoder.decode(next_input[i:i + 1]))
            pending, dec_flags = decoder.getstate()
            if not pending and chars_decoded <= chars_to_skip:
                start_pos += bytes_fed
                chars_to_skip -= chars_decoded
                start_flags, bytes_fed, chars_decoded = dec_flags, 0, 0
            if chars_decoded >= chars_to_skip:
                break
        else:
            chars_decoded += len(decoder.decode(b"", final=True))
            need_eof = True
            if chars_decoded < chars_to_skip:
                raise OSError("can't reconstruct logical file position")
        return pack_cookie(start_pos, start_flags, bytes_fed, need_eof, chars_to_skip)
    finally:
        decoder.setstate(saved_state)

