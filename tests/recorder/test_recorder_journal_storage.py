"""JournalStorage: the journal file on ring ops, its recovery, lock, durability rules and compaction."""
import asyncio
import errno
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import open_fds, run_checked

from ringloop.recorder import (
    JournalCorrupt,
    JournalLocked,
    JournalStorage,
    NotAJournal,
    StorageBroken,
    StorageClosed,
)
from ringloop.recorder.journal import MAGIC, build_frames, encode_record


def items(records):
    return [encode_record(r) for r in records]


class Ops:
    """Records the ring ops a JournalStorage makes on ``loop``; ``fail`` makes the next one of a kind raise."""

    def __init__(self, loop, monkeypatch):
        self.calls = []
        self.fail = {}  # op name -> OSError to raise once
        self.max_write = None
        self.paths = {}  # fd -> the path it was opened as
        for name in ("ring_open", "ring_read", "ring_write", "ring_fsync", "ring_close"):
            monkeypatch.setattr(loop, name, self._wrap(name, getattr(loop, name)))

    def _wrap(self, name, real):
        def op(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            error = self.fail.pop(name, None)
            if error is not None:
                raise error
            if name == "ring_write" and self.max_write is not None:
                args = (args[0], memoryview(args[1])[:self.max_write], *args[2:])
            future = real(*args, **kwargs)
            if name == "ring_open":
                future.add_done_callback(lambda f: f.exception() or self.paths.__setitem__(f.result(), args[0]))
            return future
        return op

    def count(self, name):
        return sum(1 for call in self.calls if call[0] == name)

    def directory_fsyncs(self, directory):
        """fsyncs of an fd opened as ``directory``."""
        return sum(1 for name, args, _ in self.calls
                   if name == "ring_fsync" and os.fspath(self.paths.get(args[0], "")) == os.fspath(directory))


def test_save_load_reopen(loop, tmp_path):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        scan = await journal.open()
        assert scan.records == 0 and scan.torn == 0
        await journal.save(items([{"a": 1}, b"\x00bytes", "s"]))
        await journal.save(items([[1, 2], None]))
        assert await journal.load() == [{"a": 1}, b"\x00bytes", "s", [1, 2], None]
        assert await journal.load(lambda r: isinstance(r, dict)) == [{"a": 1}]
        assert journal.records == 5
        await journal.close()
        await journal.close()  # idempotent
        again = JournalStorage(str(path))
        assert await again.load() == [{"a": 1}, b"\x00bytes", "s", [1, 2], None]
        assert again.recovery.records == 5 and again.recovery.frames == 2
        await again.close()

    run_checked(loop, main())


def test_group_commit_is_one_write_and_one_fdatasync_per_batch(loop, tmp_path, monkeypatch):
    async def main():
        journal = JournalStorage(tmp_path / "j")
        await journal.open()
        ops = Ops(loop, monkeypatch)
        await journal.save(items({"user": i, "event": "login"} for i in range(1000)))
        assert ops.count("ring_write") == 1
        fsyncs = [call for call in ops.calls if call[0] == "ring_fsync"]
        assert len(fsyncs) == 1 and fsyncs[0][2] == {"datasync": True}
        await journal.close()

    run_checked(loop, main())


def test_sync_none_never_fsyncs(loop, tmp_path, monkeypatch):
    async def main():
        ops = Ops(loop, monkeypatch)
        journal = JournalStorage(tmp_path / "j", sync="none")
        await journal.save(items(range(10)))
        await journal.replace(items([1]))
        assert ops.count("ring_fsync") == 0
        assert await journal.load() == [1]
        await journal.close()

    run_checked(loop, main())


def test_the_directory_is_fsynced_after_create_not_after_a_plain_open(loop, tmp_path, monkeypatch):
    async def main():
        ops = Ops(loop, monkeypatch)
        journal = JournalStorage(tmp_path / "j")
        await journal.open()
        opened = [call for call in ops.calls if call[0] == "ring_open"]
        assert [os.fspath(call[1][0]) for call in opened][-1] == str(tmp_path)
        assert opened[-1][1][1] & os.O_DIRECTORY
        assert ops.count("ring_fsync") == 2  # the new file's MAGIC, then the directory
        await journal.close()
        ops.calls.clear()
        await JournalStorage(tmp_path / "j").open()
        assert ops.count("ring_fsync") == 0

    run_checked(loop, main())


def test_a_torn_tail_is_truncated_and_reported(loop, tmp_path, caplog):
    path = tmp_path / "j"

    async def write():
        journal = JournalStorage(path)
        await journal.save(items([{"a": 1}]))
        await journal.close()

    run_checked(loop, write())
    good_size = path.stat().st_size
    torn = build_frames(items([{"b": 2}, {"c": 3}]), 1)[0][0]
    with open(path, "ab") as f:
        f.write(torn[:-3])  # the process died during the write

    async def recover():
        journal = JournalStorage(path)
        with caplog.at_level(logging.WARNING, logger="ringloop.recorder"):
            scan = await journal.open()
        assert scan.torn == len(torn) - 3 and scan.end == good_size and not scan.corrupt
        assert path.stat().st_size == good_size
        assert "torn tail of %d bytes" % (len(torn) - 3) in caplog.text
        await journal.save(items([{"d": 4}]))
        assert await journal.load() == [{"a": 1}, {"d": 4}]
        await journal.close()

    run_checked(loop, recover())


def corrupt_second_frame(path, loop):
    async def write():
        journal = JournalStorage(path)
        for i in range(4):
            await journal.save(items([{"i": i}]))
        await journal.close()

    run_checked(loop, write())
    frame = len(build_frames(items([{"i": 0}]), 0)[0][0])
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + frame + frame // 2] ^= 0x40
    path.write_bytes(bytes(data))
    return bytes(data)


def test_damage_before_the_tail_is_an_error_that_changes_nothing(loop, tmp_path):
    path = tmp_path / "j"
    damaged = corrupt_second_frame(path, loop)
    before = open_fds()

    async def main():
        with pytest.raises(JournalCorrupt, match="repair=True"):
            await JournalStorage(path).open()

    run_checked(loop, main())
    assert path.read_bytes() == damaged
    assert open_fds() == before  # lock released, nothing left open


def test_repair_drops_the_damage_keeps_the_rest_and_rewrites_the_file(loop, tmp_path, monkeypatch):
    path = tmp_path / "j"
    corrupt_second_frame(path, loop)

    async def main():
        ops = Ops(loop, monkeypatch)
        journal = JournalStorage(path, repair=True)
        scan = await journal.open()
        assert scan.records_lost == 1 and len(scan.corrupt) == 1
        assert ops.directory_fsyncs(tmp_path) == 1  # after the rename
        assert await journal.load() == [{"i": 0}, {"i": 2}, {"i": 3}]
        await journal.save(items([{"i": 4}]))
        await journal.close()
        clean = JournalStorage(path)  # no repair needed any more
        assert await clean.load() == [{"i": 0}, {"i": 2}, {"i": 3}, {"i": 4}]
        assert not clean.recovery.corrupt
        await clean.close()

    run_checked(loop, main())


def test_a_foreign_file_is_refused_and_left_alone(loop, tmp_path):
    path = tmp_path / "j"
    path.write_bytes(b"not a journal at all")
    before = open_fds()

    async def main():
        with pytest.raises(NotAJournal):
            await JournalStorage(path).open()

    run_checked(loop, main())
    assert path.read_bytes() == b"not a journal at all"
    assert open_fds() == before


def test_an_empty_file_is_a_new_journal(loop, tmp_path):
    path = tmp_path / "j"
    path.write_bytes(MAGIC[:3])  # created by a process that died at once

    async def main():
        journal = JournalStorage(path)
        assert (await journal.open()).records == 0
        await journal.save(items(["x"]))
        assert await journal.load() == ["x"]
        await journal.close()

    run_checked(loop, main())
    assert path.read_bytes().startswith(MAGIC)


def test_one_writer_in_this_process(loop, tmp_path):
    async def main():
        first = JournalStorage(tmp_path / "j")
        await first.open()
        before = open_fds()
        with pytest.raises(JournalLocked, match="one writer at a time"):
            await JournalStorage(tmp_path / "j").save(items([1]))
        assert open_fds() == before
        await first.close()
        second = JournalStorage(tmp_path / "j")
        await second.open()
        await second.close()

    run_checked(loop, main())


def test_one_writer_across_processes(loop, tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, ringloop
            from ringloop.recorder import JournalStorage
            async def main():
                journal = JournalStorage({str(tmp_path / "j")!r})
                await journal.open()
                print("open", flush=True)
                sys.stdin.readline()
                await journal.close()
            ringloop.run(main())
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "open\n"

        async def refused():
            with pytest.raises(JournalLocked):
                await JournalStorage(tmp_path / "j").open()

        run_checked(loop, refused())
    finally:
        child.communicate("\n", timeout=30)
    assert child.returncode == 0

    async def allowed():
        journal = JournalStorage(tmp_path / "j")
        await journal.open()
        await journal.close()

    run_checked(loop, allowed())


def test_a_failed_fdatasync_fails_the_batch_and_breaks_the_journal_until_reopened(loop, tmp_path, monkeypatch):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        await journal.save(items(["kept"]))
        size = path.stat().st_size
        ops = Ops(loop, monkeypatch)
        ops.fail["ring_fsync"] = OSError(errno.EIO, "injected")
        with pytest.raises(StorageBroken) as caught:
            await journal.save(items(["lost"]))
        assert caught.value.__cause__.errno == errno.EIO
        assert path.stat().st_size == size  # the failed batch is not left to be read back
        writes = ops.count("ring_write")
        with pytest.raises(StorageBroken):  # never retried as if the data were safe
            await journal.save(items(["later"]))
        with pytest.raises(StorageBroken):
            await journal.replace(items(["compacted"]))
        assert ops.count("ring_write") == writes and ops.count("ring_fsync") == 1
        assert await journal.load() == ["kept"]  # reading still works
        await journal.close()
        await journal.open()
        await journal.save(items(["after reopen"]))
        assert await journal.load() == ["kept", "after reopen"]
        await journal.close()

    run_checked(loop, main())


def test_a_failed_write_is_cut_back_and_may_be_retried(loop, tmp_path, monkeypatch):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        await journal.save(items(["a"]))
        size = path.stat().st_size
        ops = Ops(loop, monkeypatch)
        ops.max_write = 5  # the first write goes through partly ...
        real_write = loop.ring_write
        calls = 0

        def write_then_fail(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == 2:  # ... the next part fails
                raise OSError(errno.ENOSPC, "injected")
            return real_write(*args, **kwargs)

        monkeypatch.setattr(loop, "ring_write", write_then_fail)
        with pytest.raises(OSError) as caught:
            await journal.save(items(["b" * 100]))
        assert caught.value.errno == errno.ENOSPC
        assert path.stat().st_size == size
        await journal.save(items(["b" * 100]))  # the retry works, with short writes still
        assert await journal.load() == ["a", "b" * 100]
        await journal.close()
        again = JournalStorage(path)
        assert await again.load() == ["a", "b" * 100] and again.recovery.torn == 0
        await again.close()

    run_checked(loop, main())


def test_replace_compacts_atomically_and_fsyncs_the_directory(loop, tmp_path, monkeypatch):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        for i in range(50):
            await journal.save(items([{"i": i, "pad": "x" * 50}]))
        big = path.stat().st_size
        ops = Ops(loop, monkeypatch)
        await journal.replace(items([{"snapshot": 1}, b"two"]))
        assert path.stat().st_size < big // 10
        assert ops.directory_fsyncs(tmp_path) == 1
        assert not (tmp_path / "j.compact").exists()
        await journal.save(items(["after"]))
        assert await journal.load() == [{"snapshot": 1}, b"two", "after"]
        await journal.close()
        again = JournalStorage(path)
        assert await again.load() == [{"snapshot": 1}, b"two", "after"]
        await again.close()

    run_checked(loop, main())


def test_a_failed_directory_fsync_after_compaction_breaks_the_journal(loop, tmp_path, monkeypatch):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        await journal.save(items(["old"]))
        ops = Ops(loop, monkeypatch)
        real_fsync = loop.ring_fsync

        def fsync(fd, *, datasync=False):
            if not datasync:  # the directory's
                raise OSError(errno.EIO, "injected")
            return real_fsync(fd, datasync=datasync)

        monkeypatch.setattr(loop, "ring_fsync", fsync)
        with pytest.raises(StorageBroken):
            await journal.replace(items(["new"]))
        with pytest.raises(StorageBroken):
            await journal.save(items(["refused"]))
        assert await journal.load() == ["new"]
        assert ops.count("ring_write") == 1  # the new file, in one write
        await journal.close()

    run_checked(loop, main())


def test_a_cancelled_save_still_finishes_its_write_and_fsync(loop, tmp_path):
    path = tmp_path / "j"

    async def main():
        journal = JournalStorage(path)
        await journal.open()
        saving = asyncio.ensure_future(journal.save(items(["cancelled caller"])))
        await asyncio.sleep(0)
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving
        await journal.save(items(["next"]))  # waits for the first, then appends after it
        assert await journal.load() == ["cancelled caller", "next"]
        await journal.close()

    run_checked(loop, main())


def test_closed_journal(loop, tmp_path):
    async def main():
        journal = JournalStorage(tmp_path / "j")
        await journal.close()  # never opened: nothing to do
        with pytest.raises(StorageClosed):
            await journal.save(items([1]))
        await journal.open()  # explicitly reopened
        await journal.save(items([1]))
        await journal.close()
        with pytest.raises(StorageClosed):
            await journal.load()

    run_checked(loop, main())


def test_bad_arguments(loop, tmp_path):
    with pytest.raises(TypeError):
        JournalStorage(b"/tmp/bytes-path")
    with pytest.raises(TypeError):
        JournalStorage(3)
    with pytest.raises(ValueError, match="sync"):
        JournalStorage(tmp_path / "j", sync="full")
    with pytest.raises(TypeError):
        JournalStorage(tmp_path / "j", repair="yes")

    async def main():
        journal = JournalStorage(tmp_path / "j")
        with pytest.raises(TypeError):
            await journal.save("not a list")
        for item in ({"not": "encoded"}, "a plain str"):  # never stored as if it were JSON
            with pytest.raises(TypeError, match="encode"):
                await journal.save([item])
        with pytest.raises(TypeError):
            await journal.load(5)
        with pytest.raises(TypeError):
            await journal.replace(("a",))
        assert await journal.load() == []
        await journal.close()

    run_checked(loop, main())


def test_needs_a_ringloop_loop(tmp_path):
    async def main():
        with pytest.raises(RuntimeError, match="ringloop loop"):
            await JournalStorage(tmp_path / "j").open()

    asyncio.run(main())


def test_no_fd_leaks(loop, tmp_path):
    before = open_fds()

    async def main():
        for _ in range(3):
            journal = JournalStorage(tmp_path / "j")
            await journal.save(items(range(5)))
            await journal.replace(items([1]))
            await journal.load()
            await journal.close()

    run_checked(loop, main())
    assert open_fds() == before
