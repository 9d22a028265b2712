"""Atomic replacement of files, of whole directories, and of a set of files.

A reader, or a run that starts after rsgen was killed (SIGKILL included) at any instant, sees
the old state or the new one, never a mix:

- write_atomic: one file, through a temporary file and a rename.
- DirectorySwap: a directory rsgen owns (snapshot/, the default out/) is cloned beside itself
  (hard links), changed there, and exchanged with the original in one renameat2() call.
- StagedFiles: configs in a directory rsgen does not own (`-o /etc/bird`) are all written and
  synced first, then renamed into place one after the other (see its docstring for the window).

What a killed run leaves behind is recovered, under the exchange lock, by the next run.

The directories rsgen swaps live in the exchange repository, which a pull request controls:
no symbolic link there is ever followed. A symlinked target is refused, and a leftover
(staging, ready, trash) that is a link or not a directory is removed as what it is, never
followed, read through or renamed into place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from rsgen.errors import InvalidInput, RsgenError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # from <linux/fs.h>
# renameat2 answers these when the kernel or the filesystem cannot exchange (NFS, CIFS, old
# kernels): then two renames and the recovery rule below do the job.
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}

STAGING = ".rsgen-staging"  # being written: never complete, always removed by recovery
READY = ".rsgen-ready"  # complete (renamed from STAGING after every byte was synced)
TRASH = ".rsgen-trash-"  # on its way out: renamed first, so a half-deleted tree has this name


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def _open_regular(path: Path) -> int | None:
    """A read descriptor on `path` when it is a regular file (never through a symbolic link,
    never blocking on a FIFO); None when it is missing or anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


_COMPARE_CHUNK = 1 << 20


def _holds(fd: int, text: str) -> bool:
    """Whether the open file holds exactly `text` (reads at most one byte more than it)."""
    wanted = memoryview(text.encode("utf-8"))
    # Compared a chunk at a time: a 30 MB config is not held twice over.
    at = 0
    while at <= len(wanted):
        chunk = os.read(fd, min(_COMPARE_CHUNK, len(wanted) + 1 - at))
        if not chunk:
            break
        if wanted[at:at + len(chunk)] != chunk:
            return False
        at += len(chunk)
    return at == len(wanted)


def keep_if_same(path: Path, text: str, mode: int) -> bool:
    """True when `path` is a regular file holding exactly `text`; then it gets `mode` (with
    fchmod on that very file, so a mode loosened by hand is tightened on the next run even
    when the content did not change). False when it must be (re)written."""
    fd = _open_regular(path)
    if fd is None:
        return False
    try:
        if not _holds(fd, text):
            return False
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            try:
                os.fchmod(fd, mode)
            except PermissionError:
                return False  # another user's file: write our own copy, with our mode
        return True
    finally:
        os.close(fd)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Like write_atomic, but leave an identical file's content untouched (keeps mtimes for
    make/rsync); its mode is still set. A symbolic link at `path` is replaced, not followed."""
    if keep_if_same(path, text, mode):
        return False
    write_atomic(path, text, mode)
    return True


def fsync_directory(path: Path) -> None:
    """Make the names in `path` (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step; False when this system cannot (then nothing moved)."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in _NO_EXCHANGE:
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


def _trash_name(path: Path, stem: str) -> Path:
    return path.with_name(f"{stem}{TRASH}{os.getpid()}-{os.urandom(4).hex()}")


def _kind(path: Path) -> str | None:
    """What is at `path` without following a link: "dir", "file", "link", "other" or None."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _remove(path: Path) -> None:
    """Delete a leftover tree, renaming it to a TRASH name first (see TRASH)."""
    if TRASH not in path.name:
        # ".snapshot.rsgen-ready" -> ".snapshot.rsgen-trash-PID-RANDOM"
        trash = _trash_name(path, path.name.replace(STAGING, "").replace(READY, ""))
        try:
            path.rename(trash)
        except FileNotFoundError:
            return
        path = trash
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _clone_tree(source: Path, destination: Path) -> None:
    """Mirror `source` into the empty directory `destination` with hard links.

    Links cost neither time nor space, and are safe because rsgen never writes a file in place:
    write_atomic replaces the staged name with a new inode and leaves the original alone.
    Where links are impossible (another filesystem below, no link support) files are copied.
    """
    for entry in os.scandir(source):
        target = destination / entry.name
        if entry.is_dir(follow_symlinks=False):
            target.mkdir()
            _clone_tree(Path(entry.path), target)
            _copy_directory_metadata(Path(entry.path), target)
            continue
        try:
            os.link(entry.path, target, follow_symlinks=False)
        except OSError:
            shutil.copy2(entry.path, target, follow_symlinks=False)


def _copy_directory_metadata(source: Path, destination: Path) -> None:
    shutil.copystat(source, destination, follow_symlinks=False)
    if os.geteuid() == 0:  # root building a user's checkout must not leave root-owned dirs
        status = source.stat()
        with contextlib.suppress(OSError):
            os.chown(destination, status.st_uid, status.st_gid)


def _fsync_tree(root: Path) -> None:
    """Sync every directory under root (the files were synced when written, or are old)."""
    for path, _, _ in os.walk(root):
        fsync_directory(Path(path))


class DirectorySwap:
    """Replace the directory `target` (which rsgen owns) with a changed copy, in one step.

        swap = DirectorySwap(directory / "snapshot")
        staging = swap.begin()      # a hard-linked clone: .snapshot.rsgen-staging
        ... write into staging ...
        swap.commit()               # or swap.abort()

    commit renames the clone to .snapshot.rsgen-ready (it is complete from then on) and
    exchanges it with `target` (renameat2 RENAME_EXCHANGE). Without exchange support it
    renames `target` away and the ready copy in: between those two renames `target` is
    missing, so readers use readable() and recover() finishes the job after a kill.
    Call every method holding the exchange lock, except readable().

    `target` must be a real directory (or missing): a symbolic link there would make rsgen
    clone, swap and delete whatever it points to, so every method but readable() raises
    `error` (an RsgenError class: NoSnapshot for snapshot/, InvalidInput for out/) instead.
    """

    def __init__(self, target: Path, *, error: type[RsgenError] = InvalidInput) -> None:
        self.target = target
        self._error = error

    def _real(self) -> Path:
        """`target`, after checking it is a directory or missing, and no symbolic link."""
        kind = _kind(self.target)
        if kind == "link":
            raise self._error(f"{self.target}: is a symbolic link; rsgen replaces this "
                              "directory whole and never follows a link there",
                              hint=f"replace the link by a real directory (or remove it: "
                                   f"rsgen writes {self.target.name}/ anew)")
        if kind not in (None, "dir"):
            raise self._error(f"{self.target}: not a directory",
                              hint=f"remove it: rsgen writes {self.target.name}/ anew")
        return self.target

    def _sibling(self, state: str) -> Path:
        return self.target.with_name(f".{self.target.name}{state}")

    @property
    def staging(self) -> Path:
        return self._sibling(STAGING)

    @property
    def ready(self) -> Path:
        return self._sibling(READY)

    def readable(self) -> Path:
        """Where a reader finds the current state: `target`, or the complete copy that a
        two-rename swap (or a kill in its middle) left in READY while `target` is missing.
        A READY that is a symbolic link is never offered (nor is a symlinked target followed
        here: readers open what this returns with O_NOFOLLOW)."""
        if _kind(self.target) is None and _kind(self.ready) == "dir":
            return self.ready
        return self.target

    def recover(self) -> bool:
        """Finish or undo what a killed run left beside `target`; True if anything was there.

        Only a real READY directory is renamed into place; a leftover that is a symbolic link
        or a file is removed as such (a link as a link, never what it points to)."""
        real, ready = self._real(), self.ready
        found = False
        if _kind(ready) == "dir" and _kind(real) is None:
            ready.rename(real)  # killed between the two renames: the complete new copy wins
            found = True
        leftovers = [self.staging, ready, *real.parent.glob(f".{real.name}{TRASH}*")]
        for leftover in leftovers:
            if _kind(leftover) is not None:
                _remove(leftover)
                found = True
        if found:
            fsync_directory(real.parent)
        return found

    def begin(self) -> Path:
        """Recover, then make the staging clone of `target` (empty if there is none)."""
        self.recover()
        real, staging = self._real(), self.staging
        real.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        if _kind(real) == "dir":
            _clone_tree(real, staging)
            _copy_directory_metadata(real, staging)
        return staging

    def commit(self) -> None:
        real, staging, ready = self._real(), self.staging, self.ready
        _fsync_tree(staging)
        staging.rename(ready)
        fsync_directory(real.parent)
        if _kind(real) is not None and exchange(ready, real):
            fsync_directory(real.parent)
            _remove(ready)  # it holds the old state now
            return
        old = None
        if _kind(real) is not None:
            old = _trash_name(real, f".{real.name}")
            real.rename(old)
        # Only without RENAME_EXCHANGE: `target` is missing until the next rename. readable()
        # sends readers to READY meanwhile, and recover() completes the swap after a kill.
        ready.rename(real)
        fsync_directory(real.parent)
        if old is not None:
            _remove(old)

    def abort(self) -> None:
        """Throw the staged changes away (what recovery does with them after a kill)."""
        self.recover()


class StagedFiles:
    """Replace several files in a directory rsgen does not own, together.

    Such a directory (`-o /etc/bird`) may hold other files, be a mount point, be watched, or
    have a parent rsgen cannot write: it is never swapped. Changed files are written and synced
    into DIR/.rsgen-staging/, which is renamed to DIR/.rsgen-ready/ when complete; then each
    file is renamed into DIR. The renames take microseconds, but a kill between two of them
    leaves some files new and some old; the rest waits complete in .rsgen-ready/, and the next
    build into this directory moves it in first (recover), so the mix lasts only until then.
    Call the methods holding a lock on the directory (rsgen.lock.directory_lock).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staging = directory / STAGING
        self.ready = directory / READY
        self.names: list[str] = []

    def recover(self) -> bool:
        """Finish the renames of a run killed in the middle of them; drop unfinished staging.

        Only a real READY directory is moved in, and only the regular files in it; a READY
        (or staging, or trash) that is a symbolic link or a file is removed as such."""
        found = False
        ready = _kind(self.ready)
        if ready == "dir":
            self._move_in(sorted(p.name for p in self.ready.iterdir()))
            found = True
        elif ready is not None:
            _remove(self.ready)
            found = True
        for leftover in (self.staging, *self.directory.glob(f"{TRASH}*")):
            if _kind(leftover) is not None:
                _remove(leftover)
                found = True
        return found

    def begin(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.staging.mkdir()

    def write(self, name: str, text: str, mode: int = 0o644) -> bool:
        """Stage `name` unless the directory already holds exactly this text (as a regular
        file, which then gets `mode`); True if staged."""
        if keep_if_same(self.directory / name, text, mode):
            return False
        write_atomic(self.staging / name, text, mode)
        self.names.append(name)
        return True

    def commit(self) -> None:
        if not self.names:
            _remove(self.staging)
            return
        fsync_directory(self.staging)
        self.staging.rename(self.ready)
        fsync_directory(self.directory)
        self._move_in(self.names)

    def abort(self) -> None:
        _remove(self.staging)

    def _move_in(self, names: list[str]) -> None:
        for name in names:
            source = self.ready / name
            kind = _kind(source)
            if kind is None:
                continue  # moved before a kill
            if kind != "file":
                _remove(source)  # rsgen stages regular files only: never move anything else
                continue
            source.replace(self.directory / name)
        fsync_directory(self.directory)
        self.ready.rmdir()
        fsync_directory(self.directory)


def create_files(files: list[tuple[Path, str]], mode: int = 0o644) -> None:
    """Create all of these files, none of which may exist, or none of them.

    Each is written and synced under a temporary name first, then linked to its name: link()
    never replaces a file, so one that appeared meanwhile (another editor, a second run) is
    kept and FileExistsError raised. On any failure the files this call created are removed
    again. Only a kill between two links can leave some of them, each complete.
    """
    temps: list[Path] = []
    created: list[Path] = []
    try:
        for path, text in files:
            fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
            temps.append(Path(temp_name))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for (path, _), temp in zip(files, temps, strict=True):
            os.link(temp, path)
            created.append(path)
    except BaseException:
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    for directory in sorted({path.parent for path, _ in files}):
        fsync_directory(directory)
