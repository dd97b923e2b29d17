"""TextFile against io.TextIOWrapper: decoding, newlines, lines, tell/seek cookies, writing."""
import random

import pytest
from helpers import run_checked

from ringloop import files

ALPHABET = ["a", "b", "é", "€", "\U0001f600", "\n", "\r", "\r\n", "\x0c", "\u2028", " "]
ENCODINGS = ["utf-8", "utf-16", "latin-1", "utf-8-sig", "cp1252"]
NEWLINES = [None, "", "\n", "\r", "\r\n"]


def _text(seed, size, encoding):
    rng = random.Random(seed)
    chars = [c for c in ALPHABET if _encodable(c, encoding)]
    return "".join(rng.choice(chars) for _ in range(size))


def _encodable(text, encoding):
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _write_raw(path, text, encoding):
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("newline", NEWLINES)
def test_reading_matches_the_builtin(loop, tmp_path, encoding, newline):
    path = tmp_path / "t"
    # Larger than one 64 KiB chunk, so characters and \r\n fall across chunk edges.
    _write_raw(path, _text(1, 70_000, encoding), encoding)
    with open(path, encoding=encoding, newline=newline) as f:
        whole = f.read()
    with open(path, encoding=encoding, newline=newline) as f:
        lines = list(f)
    with open(path, encoding=encoding, newline=newline) as f:
        pieces = [f.read(7), f.readline(), f.readline(3), f.read(40_000), f.readline(), f.read()]
        newlines_seen = f.newlines

    async def main():
        async with files.open(path, encoding=encoding, newline=newline) as f:
            got_whole = await f.read()
        async with files.open(path, encoding=encoding, newline=newline) as f:
            got_lines = [line async for line in f]
        async with files.open(path, encoding=encoding, newline=newline) as f:
            assert [line async for batch in f.line_batches() for line in batch] == got_lines
        async with files.open(path, encoding=encoding, newline=newline) as f:
            assert await f.readlines() == got_lines
        async with files.open(path, encoding=encoding, newline=newline) as f:
            assert await f.readlines(1000) == lines[:next(i for i in range(len(lines))
                                                          if sum(map(len, lines[:i + 1])) > 1000) + 1]
        async with files.open(path, encoding=encoding, newline=newline) as f:
            got_pieces = [await f.read(7), await f.readline(), await f.readline(3), await f.read(40_000),
                          await f.readline(), await f.read()]
            got_newlines = f.newlines
        return got_whole, got_lines, got_pieces, got_newlines

    got_whole, got_lines, got_pieces, got_newlines = run_checked(loop, main())
    assert got_whole == whole
    assert got_lines == lines
    assert got_pieces == pieces
    assert got_newlines == newlines_seen


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp1252"])
def test_tell_and_seek_cookies_match_the_builtin(loop, tmp_path, encoding):
    path = tmp_path / "t"
    _write_raw(path, _text(2, 3000, encoding), encoding)
    rng = random.Random(5)
    steps = [rng.choice([1, 3, 10, 200]) for _ in range(40)]
    with open(path, encoding=encoding, newline="") as f:
        cookies, texts = [], []
        for n in steps:
            texts.append(f.read(n))
            cookies.append(f.tell())
        after = []
        for cookie in cookies[::3]:
            f.seek(cookie)
            after.append(f.read(5))

    async def main():
        async with files.open(path, encoding=encoding, newline="") as f:
            got_cookies, got_texts = [], []
            for n in steps:
                got_texts.append(await f.read(n))
                got_cookies.append(await f.tell())
            got_after = []
            for cookie in got_cookies[::3]:
                await f.seek(cookie)
                got_after.append(await f.read(5))
            assert await f.seek(0, 2) == path.stat().st_size
            assert await f.read() == ""
            return got_cookies, got_texts, got_after

    assert run_checked(loop, main()) == (cookies, texts, after)


@pytest.mark.parametrize("newline", NEWLINES)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_writing_matches_the_builtin(loop, tmp_path, newline, encoding):
    stock, ours = tmp_path / "stock", tmp_path / "ours"
    parts = ["first\n", "é\r\nsecond", "\n", "€" * 5000, "\rlast"]
    with open(stock, "w", encoding=encoding, newline=newline) as f:
        counts = [f.write(part) for part in parts]
    with open(stock, "a", encoding=encoding, newline=newline) as f:
        f.write("appended\n")  # no second byte-order mark

    async def main():
        async with files.open(ours, "w", encoding=encoding, newline=newline) as f:
            got = [await f.write(part) for part in parts]
        async with files.open(ours, "a", encoding=encoding, newline=newline) as f:
            await f.write("appended\n")
        return got

    assert run_checked(loop, main()) == counts
    assert ours.read_bytes() == stock.read_bytes()


def test_read_write_mode_and_line_buffering(loop, tmp_path):
    path = tmp_path / "t"
    path.write_text("abc\ndef\n")

    async def main():
        async with files.open(path, "r+", buffering=1) as f:
            assert f.line_buffering
            assert await f.readline() == "abc\n"
            await f.seek(0, 2)
            await f.write("ghi\n")  # line buffering: on disk now
            assert path.read_text() == "abc\ndef\nghi\n"
            await f.write("no newline")
            assert path.read_text() == "abc\ndef\nghi\n"
            await f.seek(0)
            assert await f.readlines() == ["abc\n", "def\n", "ghi\n", "no newline"]

    run_checked(loop, main())


def test_errors_argument_and_decode_errors(loop, tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"ok\xffbad\n")

    async def main():
        async with files.open(path, encoding="utf-8", errors="replace") as f:
            assert await f.read() == "ok\ufffdbad\n"
        async with files.open(path, encoding="utf-8") as f:
            with pytest.raises(UnicodeDecodeError):
                await f.read()
        async with files.open(path, "w", encoding="ascii") as f:
            with pytest.raises(UnicodeEncodeError):
                await f.write("é")
            with pytest.raises(TypeError):
                await f.write(b"bytes")

    run_checked(loop, main())


def test_unseekable_text_refuses_tell(loop, pipe):
    import io
    import os
    r, w = pipe
    os.write(w, "één\ntwee\n".encode())
    os.close(w)

    async def main():
        async with files.open(r, encoding="utf-8", closefd=False) as f:
            with pytest.raises(io.UnsupportedOperation):
                await f.tell()
            assert [line async for line in f] == ["één\n", "twee\n"]

    run_checked(loop, main())


def test_tell_during_line_iteration_across_chunk_edges(loop, tmp_path):
    # A line that starts in one 64 KiB chunk and ends in the next is joined
    # from the two: tell() right after it must point just past it.
    path = tmp_path / "t"
    rng = random.Random(8)
    lines = ["x" * rng.randrange(0, 300) + "\n" for _ in range(2000)] + ["tail"]
    path.write_text("".join(lines))
    ends = [sum(map(len, lines[:i + 1])) for i in range(len(lines))]
    crossing = {i for i, end in enumerate(ends) if (end - len(lines[i])) // 65536 != (end - 1) // 65536}
    assert len(crossing) >= 3

    async def main():
        got = []
        async with files.open(path) as f:
            async for line in f:
                got.append(line)
                if len(got) - 1 in crossing or len(got) % 97 == 0:
                    assert await f.tell() == ends[len(got) - 1], len(got) - 1
        return got

    assert run_checked(loop, main()) == lines


def test_cancelled_line_iteration_keeps_the_beginning_of_a_line(loop, pipe):
    import asyncio
    import os
    r, w = pipe
    os.write(w, b"one\ntw")

    async def main():
        async with files.open(r, closefd=False) as f:
            lines = aiter(f)
            assert await anext(lines) == "one\n"
            task = asyncio.ensure_future(anext(lines))  # "tw" and a read for the rest of the line
            await asyncio.sleep(0)
            loop._ring.submit()  # the read waits in the kernel
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            os.write(w, b"o\n")
            assert await f.readline() == "two\n"

    run_checked(loop, main())
