"""The journal's recovery: a torn tail is dropped and reported, damage before it needs repair=True."""
import json
import os
import subprocess
import sys
import tempfile

import ringloop
from ringloop.recorder import JournalCorrupt, JournalLocked, JournalStorage


async def write(path: str) -> None:
    journal = JournalStorage(path)
    for n in range(3):
        await journal.save([journal.encode({"n": n})])  # one frame, one fdatasync
    try:
        await JournalStorage(path).open()
    except JournalLocked as exc:  # one writer at a time
        print("second writer:", exc)
    await journal.close()


async def recover(path: str, repair: bool = False) -> list:
    journal = JournalStorage(path, repair=repair)
    scan = await journal.open()
    print(f"opened: {scan.records} records, {scan.torn} torn bytes dropped, "
          f"{len(scan.corrupt)} damaged ranges dropped")
    records = await journal.load()
    await journal.close()
    return records


def inspect(path: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "ringloop", "journal", path, "--json"],
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "events.journal")
    ringloop.run(write(path))

    with open(path, "ab") as f:  # a process killed in the middle of a write
        f.write(b"\x13\x37 half a frame")
    print("python -m ringloop journal:", {k: v for k, v in inspect(path).items() if k in ("records", "torn_bytes")})
    assert ringloop.run(recover(path)) == [{"n": 0}, {"n": 1}, {"n": 2}]

    with open(path, "r+b") as f:  # a bit flipped in acknowledged data
        f.seek(30)
        byte = f.read(1)
        f.seek(30)
        f.write(bytes([byte[0] ^ 1]))
    try:
        ringloop.run(recover(path))
    except JournalCorrupt as exc:
        print("refused:", exc)
    records = ringloop.run(recover(path, repair=True))
    print("repaired:", records)
    assert records == [{"n": 1}, {"n": 2}]
