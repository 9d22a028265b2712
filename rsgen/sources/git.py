"""An exchange directory as it was at a git revision: the base of `rsgen diff --base REV`.

Read from git's objects (ls-tree, cat-file), never checked out: nothing runs a checkout's
filters or hooks, the files arrive byte for byte as committed (no attributes, no line-ending
conversion), and the repository's work tree, index and worktree list stay untouched. The
revision is untrusted text (a CI job passes a pull request's base ref): it may not start with
'-', goes after --end-of-options, and must name a commit; everything after that uses the
commit id. The files are as untrusted as a pull request's: they are written into a fresh
directory for the same checked loaders as a build uses, and links are refused here (those
loaders refuse them too, and a link's target is never needed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rsgen.errors import BadRevision, InvalidInput, NoSnapshot, Problem
from rsgen.sources.proc import run, run_bytes
from rsgen.values import printable

GIT_TIMEOUT = 120.0
# What a plan is made from; the rest of the repository (templates, CI files) is not read.
_EXCHANGE_FILE = b"exchange.yml"
_WANTED_DIRS = (b"members/", b"snapshot/")
_MAX_FILE = 128 * 1024 * 1024  # the snapshot's own per-file limit: no loader reads more
_MAX_TOTAL = 1024 * 1024 * 1024
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REGULAR = (b"100644", b"100755")


def check_revision(rev: str) -> None:
    """Refuse a revision that git could read as an option, or that is not one line of text."""
    if not rev or rev.startswith("-") or not rev.isprintable() or rev != rev.strip():
        raise BadRevision(f"{printable(rev)!r} is not a revision",
                          hint="name a branch, tag or commit, e.g. --base origin/main")


def export_exchange(directory: Path, rev: str, destination: Path, *, git: str = "git") -> str:
    """Write exchange.yml, members/ and snapshot/ of the exchange in `directory` as they are
    at `rev` into the empty directory `destination`; return the commit id.

    BadRevision when `directory` is not in a git work tree or `rev` names no commit; an
    exchange directory that did not exist at `rev` gives an empty `destination` (the loaders
    then say what is missing). A link or a submodule there is InvalidInput (NoSnapshot under
    snapshot/), as the loaders would say of it on disk.
    """
    check_revision(rev)
    prefix = _git(git, directory, "rev-parse", "--show-prefix").strip("\n")
    found = _git(git, directory, "rev-parse", "--verify", "--quiet", "--end-of-options",
                 f"{rev}^{{commit}}", failure=f"{printable(rev)!r} names no commit here").strip()
    if not _COMMIT_RE.fullmatch(found):
        raise BadRevision(f"{printable(rev)!r} names no single commit")
    # Made of git's own answers (a commit id, the directory's path in the repository).
    tree = f"{found}:{prefix.rstrip('/')}" if prefix else f"{found}^{{tree}}"
    kind = run([git, "-C", str(directory), "cat-file", "-t", tree], timeout=GIT_TIMEOUT)
    if kind.returncode != 0 or kind.stdout.strip() != "tree":
        return found  # the exchange directory is new since rev
    listing = run_bytes([git, "-C", str(directory), "ls-tree", "-r", "-z", "-l",
                         "--full-tree", "--end-of-options", tree], timeout=GIT_TIMEOUT)
    _check(listing.returncode, listing.stderr, "git ls-tree")
    entries = _wanted_entries(listing.stdout)
    blobs = _read_blobs(git, directory, [oid for _path, oid in entries])
    for (path, _oid), content in zip(entries, blobs, strict=True):
        _write(destination, path, content)
    return found


def _git(git: str, directory: Path, *args: str, failure: str | None = None) -> str:
    done = run([git, "-C", str(directory), *args], timeout=GIT_TIMEOUT)
    if done.returncode != 0:
        if failure is not None:
            raise BadRevision(failure, hint="fetch it first (CI checkouts are often shallow: "
                                            "fetch-depth: 0), or give --base-dir DIR")
        if "dubious ownership" in done.stderr:
            # git's own advice (a global safe.directory) cannot help: tools get no HOME.
            raise BadRevision(f"{directory}: git refuses the repository: it belongs to "
                              "another user", hint="run rsgen as the owner of the checkout, "
                                                   "or give the base as --base-dir DIR")
        raise BadRevision(f"{directory}: git {args[0]} failed: "
                          f"{printable(done.stderr.strip()) or done.returncode}",
                          hint="--base needs the exchange directory inside a git work tree; "
                               "or give the base as --base-dir DIR")
    return done.stdout


def _check(returncode: int, stderr: str, what: str) -> None:
    if returncode != 0:
        raise BadRevision(f"{what} failed: {printable(stderr.strip()) or returncode}",
                          hint=_OBJECTS_HINT)


# A revision that resolves but whose files cannot be read: objects missing here.
_OBJECTS_HINT = "fetch the revision's objects (a partial or shallow clone lacks them)"


def _wanted_entries(listing: bytes) -> list[tuple[bytes, str]]:
    """(path, object id) of each regular file the plan needs, from `ls-tree -r -z -l`."""
    entries = []
    total = 0
    for record in listing.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        fields = head.split()
        if len(fields) != 4 or not _wanted(path):
            continue
        mode, kind, oid, size = fields
        shown = printable(path.decode("utf-8", errors="replace"))
        error = NoSnapshot if path.startswith(b"snapshot/") else InvalidInput
        if mode not in _REGULAR or kind != b"blob":
            raise error(f"{shown} at the base revision is a link or a submodule, not a file",
                        problems=(Problem("rsgen reads no links in an exchange directory",
                                          shown),))
        if any(part in (b"", b".", b"..") for part in path.split(b"/")):
            raise error(f"{shown} at the base revision is not a plain path")
        total += int(size)
        if int(size) > _MAX_FILE or total > _MAX_TOTAL:
            raise error(f"{shown} at the base revision is too large to read")
        entries.append((path, oid.decode("ascii")))
    return entries


def _wanted(path: bytes) -> bool:
    """exchange.yml and what is under members/ and snapshot/ (or those names themselves, as
    links, which are then refused)."""
    return path == _EXCHANGE_FILE or path.startswith(_WANTED_DIRS) or \
        path + b"/" in _WANTED_DIRS


def _read_blobs(git: str, directory: Path, oids: list[str]) -> list[bytes]:
    """The contents of these blobs, in order, from one `git cat-file --batch`."""
    if not oids:
        return []
    done = run_bytes([git, "-C", str(directory), "cat-file", "--batch"], timeout=GIT_TIMEOUT,
                     input_bytes="".join(f"{oid}\n" for oid in oids).encode("ascii"))
    _check(done.returncode, done.stderr, "git cat-file")
    out = done.stdout
    contents = []
    at = 0
    for oid in oids:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3 or header[0].decode("ascii", errors="replace") != oid or \
                header[1] != b"blob":
            raise BadRevision(f"git cat-file answered {printable(repr(out[at:end]))} for "
                              f"{oid}", hint=_OBJECTS_HINT)
        size = int(header[2])
        contents.append(out[end + 1:end + 1 + size])
        at = end + 1 + size + 1  # the content, then a newline
    return contents


def _write(root: Path, path: bytes, content: bytes) -> None:
    """Create root/path, making its directories; never through a link (there are none, as
    the listing has no links, but a file is never opened through one either)."""
    target = root / os.fsdecode(path)  # surrogate escapes keep any byte of the name
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
