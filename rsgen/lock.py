"""One rsgen run at a time per exchange directory: an flock() on DIR/.rsgen.lock.

The kernel drops the lock when the holder's file is closed, which includes every way a process
can die (SIGKILL too), so a stale lock cannot block the next run; the file itself stays (never
delete a lock file others may have open: they would lock an orphan). The holder writes its pid
and operation into the file (mode 0600), so a refused run can say who is in the way; never its
command line, whose options may carry credentials (--peeringdb-url https://user:pass@host).

The lock is not re-entrant: each command (rsgen.builder.build, rsgen.refresher.refresh,
rsgen.verification.run.verify) takes it once, and the stages it runs under it (a build's
refresh of missing members) take values and never lock. Taking it again while holding it is a
bug in rsgen, so it raises RuntimeError at once; a context variable remembers what is held,
since a second descriptor would otherwise only conflict with the first (flock locks belong to
open files, not processes) and be reported as another run, naming this very process.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from rsgen.errors import Locked

log = logging.getLogger(__name__)

LOCK_FILE = ".rsgen.lock"

# (st_dev, st_ino) of the exchange directories this thread of control holds, and for which
# operation. Per context, not a module-level registry: another thread taking the same lock is
# refused (Locked) like any other run.
_held: contextvars.ContextVar[Mapping[tuple[int, int], str]] = contextvars.ContextVar(
    "rsgen_locks_held", default=MappingProxyType({}))

# The directory cannot hold a lock file (read-only checkout, another user's files): then no
# run can write the snapshot or out/ there either, so running unlocked is safe.
_CANNOT_CREATE = {errno.EROFS, errno.EACCES, errno.EPERM}


# A holder that died while forking a child (bgpq4, bird) leaves that child sharing the lock
# until it execs and close-on-exec drops it: milliseconds, but a run started right after the
# kill would be refused by a dead process. Such a lock is waited for, this long at most.
_ORPHAN_WAIT_SECONDS = 2.0


def _holder(fd: int) -> tuple[int | None, str]:
    """Who holds the lock, from what it wrote into the file: (pid, description)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        pid = int(data["pid"])
        return pid, f"pid {pid}: {data['command']}"
    return None, "a run that is just starting or has not said who it is"


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie has closed its files already: not alive here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_or_raise(fd: int, directory: Path, operation: str) -> None:
    if _try_lock(fd):
        return
    pid, holder = _holder(fd)
    if pid is not None and not _alive(pid):
        deadline = time.monotonic() + _ORPHAN_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.01)
            if _try_lock(fd):
                return
        holder += ", which has ended; a process it started still holds the lock"
    raise Locked(f"another rsgen run is using {directory} ({holder})",
                 hint=f"wait for it to finish and run rsgen {operation} again; the lock in "
                      f"{directory / LOCK_FILE} ends with that process, even if it is killed")


@contextlib.contextmanager
def exchange_lock(directory: Path, operation: str) -> Iterator[None]:
    """Hold the exchange directory's lock for `operation` ("build", "refresh"), or raise Locked.

    Does not wait for a live holder: a second run on the same directory fails at once (exit
    code 8), naming the holder. Not re-entrant: RuntimeError when this thread of control
    holds it already (a stage must not lock what its command has locked).
    """
    status = directory.stat()
    key = (status.st_dev, status.st_ino)
    held = _held.get()
    if key in held:
        raise RuntimeError(f"rsgen {operation} tried to take the lock on {directory}, which "
                           f"this run holds already for rsgen {held[key]} (the lock is not "
                           "re-entrant: stages under a command must not lock)")
    path = directory / LOCK_FILE
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        _lock_or_raise(fd, directory, operation)
        # The operation only, no option values: argv may hold a URL with a password in it.
        record = json.dumps({"pid": os.getpid(), "operation": operation,
                             "command": f"rsgen {operation}"})
        with contextlib.suppress(OSError):  # opened read-only: lock without the name
            os.ftruncate(fd, 0)
            os.pwrite(fd, (record + "\n").encode("utf-8"), 0)
        token = _held.set(MappingProxyType({**held, key: operation}))
        try:
            yield
        finally:
            _held.reset(token)
            with contextlib.suppress(OSError):  # still holding it: no stale name left behind
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _open(path: Path) -> int | None:
    """The lock file, opened for writing if possible; None when it cannot even be created."""
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Locked(f"{path} is a symbolic link; rsgen will not write through it",
                         hint=f"remove {path}") from exc
        if exc.errno not in _CANNOT_CREATE:
            raise
        error = exc
    else:
        # A lock file left by an older rsgen (0644) is made private too; one owned by another
        # user stays as it is (EPERM), it is only locked.
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        return fd
    try:  # another user's lock file: flock() works on a read-only descriptor too
        return os.open(path, os.O_RDONLY | flags)
    except OSError:
        log.warning("cannot create %s (%s): running without the lock", path, error.strerror)
        return None


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Lock a directory rsgen writes into but does not own (build -o), without adding a file:
    flock() on the directory itself. Two exchanges may share one output directory."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"another rsgen run is writing configs into {directory}",
                         hint="wait for it to finish and build again") from None
        yield
    finally:
        os.close(fd)
