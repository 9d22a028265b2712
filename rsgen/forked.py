"""Work done in a forked copy of this process, on the second core, with nothing to lose.

A build's two expensive steps per route server, rendering and `bird -p`, are independent
between route servers; Python runs one thread at a time, so the second route server is
rendered and checked in a child made by fork() (it shares the plan without copying it) while
this process does the first. The child's answer comes back pickled through a pipe. Anything
unusual (other threads in this process, where fork() is unsafe; the child failing, raising,
being killed, or sending something unreadable) gives None, and the caller does the work
itself: every error a user sees is raised, and worded, in this process, as without a child.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Child(Generic[T]):
    """A forked child computing one value."""

    def __init__(self, pid: int, read_fd: int) -> None:
        self._pid = pid
        self._read_fd: int | None = read_fd

    def result(self) -> T | None:
        """The child's value, or None when it has none to give (then do the work here)."""
        if self._read_fd is None:
            return None
        chunks = []
        try:
            while chunk := os.read(self._read_fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            self._close()
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(self._pid, 0)
            if status != 0:
                return None
        try:
            outcome = pickle.loads(b"".join(chunks))  # noqa: S301 (our own child's bytes)
        except Exception:  # a truncated or odd answer: do the work here
            return None
        if type(outcome) is not tuple or len(outcome) != 2 or outcome[0] != "ok":
            return None
        value: T = outcome[1]
        return value

    def abandon(self) -> None:
        """Stop the child (this process is failing or interrupted) and reap it."""
        if self._read_fd is None:
            return
        self._close()
        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)

    def _close(self) -> None:
        if self._read_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
            self._read_fd = None


def start(work: Callable[[], T]) -> Child[T] | None:
    """Run `work` in a forked child; None when this process should not fork (it has other
    threads, or fork() failed): then the caller runs `work` itself."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return None
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the child: never returns, never runs this process's cleanup (the lock)
        status = 1
        try:
            os.close(read_fd)
            try:
                outcome: tuple[str, object] = ("ok", work())
            except BaseException:  # the parent does it again, and reports it
                outcome = ("failed", None)
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return Child(pid, read_fd)
