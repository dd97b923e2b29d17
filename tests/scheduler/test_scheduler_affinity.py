"""Pinning a thread and reading back where threads may run and ran; SO_REUSEPORT sockets."""
import os
import socket
import threading

import pytest
from helpers import open_fds

from ringloop.scheduler import pin_this_thread, reuseport_socket, thread_placements

CPUS = sorted(os.sched_getaffinity(0))


def test_a_pinned_thread_shows_its_cpu_and_pins_the_threads_it_starts():
    seen = {}
    done = threading.Event()

    def pinned():
        pin_this_thread([CPUS[-1]])
        child = threading.Thread(target=lambda: seen.setdefault("child", threading.get_native_id()))
        child.start()
        child.join()
        seen["self"] = threading.get_native_id()
        seen["placements"] = {t.tid: t for t in thread_placements()}
        done.set()

    thread = threading.Thread(target=pinned)
    thread.start()
    thread.join()
    assert done.is_set()
    me = seen["placements"][seen["self"]]
    assert (me.allowed, me.cpu) == (frozenset({CPUS[-1]}), CPUS[-1])
    assert seen["placements"][threading.get_native_id()].allowed == frozenset(CPUS)  # only that thread
    assert os.sched_getaffinity(0) == set(CPUS)


def test_thread_placements_reads_another_process_and_refuses_a_missing_one():
    (main,) = [t for t in thread_placements(1) if t.tid == 1]
    assert main.name and main.allowed
    with pytest.raises(ProcessLookupError):
        thread_placements(2 ** 22 + 1)  # above pid_max's ceiling: never a process
    with pytest.raises(TypeError, match="pid must be an int or None, not str"):
        thread_placements("1")


@pytest.mark.parametrize("cpus, error", [([], ValueError), ("0", TypeError), ([-1], ValueError)])
def test_pin_this_thread_rejects_bad_cpus(cpus, error):
    with pytest.raises(error, match="cpus"):
        pin_this_thread(cpus)


def test_reuseport_sockets_share_a_port_and_a_reservation_takes_no_connection():
    fds = open_fds()
    reservation = reuseport_socket("127.0.0.1", 0, backlog=None)
    port = reservation.getsockname()[1]
    first, second = reuseport_socket("127.0.0.1", port), reuseport_socket("127.0.0.1", port, backlog=64)
    assert not first.getblocking() and first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    accepted = 0
    for listener in (first, second):
        listener.setblocking(True)
        listener.settimeout(0)
        while True:
            try:
                listener.accept()[0].close()
            except (BlockingIOError, socket.timeout):
                break
            accepted += 1
    assert accepted == 32  # all of them, none stuck at the reservation
    for sock in (*clients, first, second, reservation):
        sock.close()
    assert open_fds() == fds


def test_reuseport_socket_closes_its_socket_when_the_bind_fails():
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    fds = open_fds()
    with pytest.raises(OSError):
        reuseport_socket("127.0.0.1", plain.getsockname()[1])
    assert open_fds() == fds
    plain.close()


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((b"127.0.0.1", 0), {}, TypeError, "host must be a str, not bytes"),
    (("127.0.0.1", "80"), {}, TypeError, "port must be an int, not str"),
    (("127.0.0.1", 70000), {}, ValueError, "port must be in 0..65535, got 70000"),
    (("127.0.0.1", -1), {}, ValueError, "port must be at least 0, got -1"),
    (("127.0.0.1", 0), {"backlog": 0}, ValueError, "backlog must be at least 1, got 0"),
])
def test_reuseport_socket_rejects_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        reuseport_socket(*args, **kwargs)
