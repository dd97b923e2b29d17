"""Signal handlers and Ctrl+C on ringloop."""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import ringloop


def test_handler_runs_in_the_loop_with_args(loop):
    seen = []
    done = loop.create_future()

    def handler(*args):
        seen.append((args, threading.get_ident(), loop.is_running()))
        done.set_result(None)

    loop.add_signal_handler(signal.SIGUSR1, handler, 1, 2)
    try:
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        assert loop.remove_signal_handler(signal.SIGUSR1)
    assert seen == [((1, 2), threading.get_ident(), True)]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_wakes_a_sleeping_loop(loop):
    """No timer and no other event: only the signal's wake-up read can end the wait."""
    done = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR2, done.set_result, "woken")
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR2)).start()
        assert loop.run_until_complete(done) == "woken"
    finally:
        loop.remove_signal_handler(signal.SIGUSR2)


def test_many_signals_each_handled(loop):
    count = 0
    done = loop.create_future()

    def handler():
        nonlocal count
        count += 1
        if count < 50:
            os.kill(os.getpid(), signal.SIGUSR1)
        else:
            done.set_result(None)

    loop.add_signal_handler(signal.SIGUSR1, handler)
    try:
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert count == 50


def test_invalid_signals(loop):
    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGINT", print)
    with pytest.raises(ValueError):
        loop.add_signal_handler(0, print)
    with pytest.raises(ValueError):
        loop.remove_signal_handler(signal.NSIG + 1)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGKILL, print)
    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, asyncio.sleep)
    assert not loop.remove_signal_handler(signal.SIGUSR1)


def test_not_from_another_thread():
    errors = []

    def other():
        loop = ringloop.new_event_loop()
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            loop.close()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_sigint_default_restored_on_remove_and_on_close():
    loop = ringloop.new_event_loop()
    loop.add_signal_handler(signal.SIGINT, print)
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert loop.remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    loop.add_signal_handler(signal.SIGINT, print)
    loop.add_signal_handler(signal.SIGTERM, print)
    loop.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


CTRL_C_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import ringloop

    async def main():
        print("ready", flush=True)
        try:
            await asyncio.get_running_loop().create_future()  # no timer: only the signal can wake us
        except asyncio.CancelledError:
            print("main cancelled", flush=True)
            raise

    try:
        ringloop.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(42)
    """
)


def _sigint_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_run_raises_keyboard_interrupt():
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,  # a shell's background job starts with SIGINT ignored
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 42, err
    assert out == "main cancelled\nKeyboardInterrupt\n"


def test_a_wakeup_read_still_queued_at_close_never_reads_a_reused_fd(monkeypatch):
    """The loop closes before its first run: the wake-up pipe's read never reached the kernel.

    Closing the pipe frees its number, which another thread may be given at
    once (here: a pipe opened inside the close).  The read must be cancelled
    first, not submitted by the ring's final drain against that new pipe.
    """
    loop = ringloop.new_event_loop()
    loop.add_signal_handler(signal.SIGUSR1, print)
    number = loop._sig_rfd
    theirs = []
    real_close = os.close

    def close_then_reuse(fd):
        real_close(fd)
        if fd == number:
            r, w = os.pipe()
            assert r == number, "the kernel did not reuse the fd number"
            os.write(w, b"theirs")
            theirs.extend((r, w))

    monkeypatch.setattr(os, "close", close_then_reuse)
    loop.close()
    monkeypatch.undo()
    r, w = theirs
    os.set_blocking(r, False)
    try:
        assert os.read(r, 100) == b"theirs"
    finally:
        os.close(r)
        os.close(w)
