"""``python -m ringloop journal PATH``: states, counts and last records, read without locking or changing."""
import asyncio
import json
import subprocess
import sys

import pytest
from helpers import run_checked

from ringloop.recorder import JournalStorage, TaskRecorder
from ringloop.recorder.inspection import inspect_journal
from ringloop.recorder.journal import build_frames, encode_record


def journal_command(*args):
    return subprocess.run([sys.executable, "-m", "ringloop", "journal", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


async def nothing():
    pass


async def fail():
    raise ValueError("no")


def test_a_task_journal_while_its_writer_has_it_open(loop, tmp_path):
    path = tmp_path / "tasks"

    async def main():
        tasks = await TaskRecorder.open(JournalStorage(path))
        await tasks.launch("ok", nothing)
        await tasks.wait("ok")
        for task_id in ("bad1", "bad2"):
            await tasks.launch(task_id, fail)
            await tasks.wait(task_id)
        await tasks.launch("running", asyncio.sleep, 60)
        await tasks.launch("ok2", nothing)
        await tasks.wait("ok2")  # stored after the WORKING record of "running": that one is on disk too
        done = journal_command(path, "--last", 3)
        await tasks.close(cancel=True)
        return done

    done = run_checked(loop, main())
    assert done.returncode == 0, done.stderr
    assert "tasks:    SUCCESS 2, FAILED 3 (1 interrupted)" in done.stdout
    assert "last 3 records:" in done.stdout and '["W", "running"' in done.stdout
    report = inspect_journal(str(path))
    assert report["tasks"] == {"SUCCESS": 2, "FAILED": 3, "interrupted": 0}  # closed: the task failed for good


def test_an_event_journal_as_json(loop, tmp_path):
    path = tmp_path / "events"

    async def main():
        journal = JournalStorage(path)
        await journal.save([encode_record(r) for r in ({"user": 1}, b"\x00\x01", [1, 2])])
        await journal.close()

    run_checked(loop, main())
    done = journal_command(path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["records"] == 3 and report["frames"] == 1 and report["tasks"] is None
    assert report["last"] == [{"user": 1}, {"bytes": "0001"}, [1, 2]]
    assert report["torn_bytes"] == 0 and report["damaged"] == []


def test_a_torn_tail_is_reported_and_left_in_place(loop, tmp_path):
    path = tmp_path / "events"

    async def main():
        journal = JournalStorage(path)
        await journal.save([encode_record("kept")])
        await journal.close()

    run_checked(loop, main())
    with open(path, "ab") as f:
        f.write(build_frames([encode_record("torn")], 1)[0][0][:-2])
    before = path.read_bytes()
    done = journal_command(path)
    assert done.returncode == 0 and "torn bytes" in done.stdout and '"kept"' in done.stdout
    assert path.read_bytes() == before


def test_damage_and_foreign_files(loop, tmp_path):
    path = tmp_path / "events"

    async def main():
        journal = JournalStorage(path)
        for i in range(3):
            await journal.save([encode_record(i)])
        await journal.close()

    run_checked(loop, main())
    data = bytearray(path.read_bytes())
    data[12] ^= 1  # in the first frame
    path.write_bytes(bytes(data))
    done = journal_command(path)
    assert done.returncode == 1 and "repair=True" in done.stdout
    assert "lost:     1 records" in done.stdout

    (tmp_path / "other").write_text("hello")
    done = journal_command(tmp_path / "other")
    assert done.returncode == 2 and "not a ringloop journal" in done.stderr
    done = journal_command(tmp_path / "missing")
    assert done.returncode == 2 and "No such file" in done.stderr
    assert journal_command(path, "--last", "-1").returncode == 2
    with pytest.raises(ValueError):
        inspect_journal(str(path), last=-1)


def test_an_empty_journal(tmp_path):
    (tmp_path / "new").write_bytes(b"")
    report = inspect_journal(str(tmp_path / "new"))
    assert report["records"] == 0 and report["tasks"] is None and report["last"] == []
