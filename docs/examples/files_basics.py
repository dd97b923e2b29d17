"""ringloop.files: aiofiles' call shapes, the built-in's results, ring operations underneath."""
import asyncio
import os
import tempfile

import ringloop
from ringloop import files


async def main(directory):
    folder = files.Path(directory)
    path = folder / "notes.txt"

    # Text mode: what the built-in open writes and reads, byte for byte.
    async with files.open(path, "w", encoding="utf-8") as f:
        await f.writelines(["héllo\n", "wörld\r\n", "last line"])
    with open(path, encoding="utf-8") as stock:
        expected = stock.readlines()
    async with files.open(path, encoding="utf-8") as f:
        lines = [line async for line in f]  # split a 64 KiB chunk at a time, not a ring op per line
    assert lines == expected
    print("lines:", lines)
    # The batch form: a buffer's whole lines per async step (the same lines, in lists;
    # the first comes with the read that fills the buffer, a tiny file has few per list).
    async with files.open(path, encoding="utf-8") as f:
        batches = [batch async for batch in f.line_batches()]
    assert [line for batch in batches for line in batch] == expected
    print("line batches:", batches)
    # A whole small file: one linked OPENAT -> READ -> READ submission on a fixed file slot.
    print("read_bytes:", await path.read_bytes())

    # Binary mode: pread from many tasks at once; the position is not shared.
    data = os.urandom(64 * 1024)
    await (folder / "blob").write_bytes(data)
    f = await files.open(folder / "blob", "rb")
    chunks = await asyncio.gather(*[f.pread(4096, offset) for offset in range(0, len(data), 4096)])
    assert b"".join(chunks) == data
    await f.seek(10)
    assert await f.read(5) == data[10:15] and await f.tell() == 15
    await f.close()
    print("16 concurrent preads:", sum(map(len, chunks)), "bytes")

    # Durable appends: fdatasync is a ring op too.
    async with files.open(folder / "journal", "ab") as j:
        for i in range(3):
            await j.write(b"record %d\n" % i)
        await j.fdatasync()
    assert (await (folder / "journal").read_bytes()).count(b"\n") == 3

    # Errors are the built-in ones, with errno, strerror and filename.
    try:
        await files.open(folder / "missing")
    except FileNotFoundError as exc:
        assert exc.filename == str(folder / "missing")
        print("missing file:", exc)

    # Path functions: STATX, RENAMEAT, UNLINKAT, MKDIRAT ring ops.
    assert (await files.stat(path)) == os.stat(path)
    await files.mkdir(folder / "sub")
    await files.rename(path, folder / "sub" / "notes.txt")
    # Listing a directory is the one executor call: no ring opcode does it.
    names = sorted([p.name async for p in folder.iterdir()])
    assert names == ["blob", "journal", "sub"]
    print("entries:", names)
    await files.unlink(folder / "sub" / "notes.txt")
    await files.rmdir(folder / "sub")

    # Cancelling a read cancels its ring op; the position stays where it was.
    r, w = os.pipe()
    async with files.open(r, "rb") as pipe_in:
        reader = asyncio.ensure_future(pipe_in.read(5))
        await asyncio.sleep(0)
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            print("cancelled a pending read")
        os.write(w, b"later")
        assert await pipe_in.read(5) == b"later"  # nothing was lost
    os.close(w)


with tempfile.TemporaryDirectory() as directory:
    ringloop.run(main(directory))
