"""Learning that the program closed a socket while ring operations still use it.

A ring operation holds its own reference to the socket's file, and close(2)
of the fd neither stops it nor releases the socket.  Left alone, a socket the
program closed under a pending ``sock_recv`` or a transport would stay open in
the kernel (its peer sees no EOF until the operation ends), and an operation
still queued would reach whatever file the kernel gives that fd number next.
The stock loop has neither problem: epoll forgets a closed fd by itself.

No kernel notice of a close exists, so the close itself is the moment to act:
``socket.socket._real_close``, through which every close of a socket object
passes (``close()``, ``with``, the last ``makefile`` reader going away, and
``ssl.SSLSocket``'s close through ``super()``), is wrapped once, on first use.
Just before the fd is closed, the loop or transport that watches that socket
cancels its operations on it: a cancelled operation still queued never
reaches the kernel, and one in the kernel lets the socket go.  Sockets nobody
watches pay one empty-dictionary test per close.
"""
from __future__ import annotations

import _socket
import socket
import threading
import weakref
from typing import Any, Callable

from .._ring.errors import logger

__all__ = ["watch", "unwatch", "on_loop_thread", "release_now"]

# Socket -> the bound methods (held weakly) to call when it is closed.
_watchers: weakref.WeakKeyDictionary[socket.socket, list[weakref.WeakMethod]] = weakref.WeakKeyDictionary()
_installed = False
_install_lock = threading.Lock()  # loops in several threads may watch their first sockets at once


def watch(sock: socket.socket, callback: Callable[[socket.socket], None]) -> None:
    """Call ``callback(sock)`` when the program closes ``sock``, before its fd is closed.

    ``callback`` is a bound method, held weakly: watching keeps neither the
    socket nor the watcher alive.  It runs in the closing thread.
    """
    if not _installed:
        _install()
    try:
        methods = _watchers.setdefault(sock, [])
    except TypeError:  # not a real socket (a test double): it cannot be closed under us
        return
    methods.append(weakref.WeakMethod(callback))


def unwatch(sock: socket.socket, callback: Callable[[socket.socket], None]) -> None:
    """Stop calling ``callback`` for ``sock`` (no-op if it was not watching)."""
    try:
        methods = _watchers.get(sock)
    except TypeError:
        return
    if methods:
        methods[:] = [method for method in methods if method() not in (None, callback)]
        if not methods:
            _watchers.pop(sock, None)


def on_loop_thread(loop: Any, callback: Callable[..., None], *args: Any) -> None:
    """Run ``callback(*args)`` now, or in ``loop``'s thread when another thread runs it.

    The ring is not thread-safe: a socket closed from a foreign thread is
    handed to the loop's own thread.
    """
    owner = loop._thread_id
    if owner is None or owner == threading.get_ident():
        callback(*args)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(callback, *args)


def release_now(ring: Any) -> None:
    """Have the kernel act on the cancels just queued, so that it lets the socket go before close(2).

    Then the close is complete when ``sock.close()`` returns, as with the stock
    loop: a peer that checks right away already sees it.  The first submit
    hands the cancels over; with DEFER_TASKRUN the kernel finishes a cancelled
    op (and drops its reference to the file) only when the ring is entered
    again, which the second one does, and only then.  The completions stay in
    the ring for the next wait.
    """
    if ring.closed:
        return
    try:
        ring.submit()
        ring.submit()
    except OSError:  # a SINGLE_ISSUER ring entered from another thread: the next wait takes them
        pass


def _closing(sock: socket.socket) -> None:
    methods = _watchers.pop(sock, None)
    for method in methods or ():
        callback = method()
        if callback is None:
            continue
        try:
            callback(sock)
        except Exception:  # the close itself must go on
            logger.exception("error while cancelling the ring operations of closed socket %r", sock)


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            _wrap_real_close()
            _installed = True


def _wrap_real_close() -> None:
    original = socket.socket._real_close

    def _real_close(self: socket.socket, _ss: Any = _socket.socket) -> None:
        try:
            if _watchers:
                _closing(self)
        finally:
            original(self, _ss)

    socket.socket._real_close = _real_close  # type: ignore[method-assign]
