"""The snapshot: enrichment data committed beside the member files.

One sorted JSON file per member and source, so a pull request diff shows exactly which
prefixes, origins or max-prefix values changed:

    snapshot/meta.json               format version; "example": true for made-up data
    snapshot/peeringdb/AS<asn>.json  the PeeringDB net fields rsgen uses
    snapshot/irr/AS<asn>.json        objects expanded, origin ASNs, IPv4/IPv6 prefix ranges
    snapshot/provenance.json         content hashes of the files refresh wrote (rsgen.provenance)

The data came from PeeringDB and IRR, which anyone can edit, and the files from a pull request,
which anyone can open: reading re-validates the data, refuses anything else in snapshot/ (other
names, symbolic links, devices, files over MAX_FILE_BYTES) and, for a build, refuses data
outside rsgen.plausible's bounds and files provenance does not vouch for.

A refresh changes many files; they land together through a SnapshotTransaction (a hard-linked
clone of snapshot/, exchanged with it in one step: rsgen.atomic.DirectorySwap), so a run
killed at any instant leaves the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rsgen import forked, plausible, prefixtext, provenance
from rsgen.atomic import DirectorySwap, write_if_changed
from rsgen.errors import NoSnapshot
from rsgen.model import IrrData, PeeringDbNet, PolicySettings, Snapshot
from rsgen.provenance import PROVENANCE_FILE, Manifest
from rsgen.values import MAX_ASN, PrefixList, PrefixRange, Secret, parse_as_set

SNAPSHOT_DIR = "snapshot"
FORMAT = 1
SOURCES = ("irr", "peeringdb")  # the subdirectories, one file per member each
META_FILE = "meta.json"
# PeeringDB's networks that are never via route servers: exchange-wide, one file.
NEVER_VIA_FILE = "never_via_route_servers.json"
# Nothing else may be at the top of snapshot/ (name -> a directory?).
_TOP_LEVEL = {META_FILE: False, PROVENANCE_FILE: False, NEVER_VIA_FILE: False, "irr": True,
              "peeringdb": True}
# More than PeeringDB holds networks with the flag (a few hundred in 2025) by far: a file
# listing more is not refresh's.
MAX_NEVER_VIA = 100_000
# A member file: exactly AS<asn>.json, the ASN without leading zeros (used with fullmatch: with
# match, "$" would accept "AS17557.json\n", a second file for the same member).
_FILE_RE = re.compile(r"AS([1-9][0-9]{0,9})\.json")
# No snapshot file is read beyond this: the biggest real prefix lists are a few MiB.
MAX_FILE_BYTES = 128 * 1024 * 1024
_HINT = "restore it from git or run rsgen refresh"


def member_file_asn(name: str) -> int | None:
    """The ASN a snapshot member file name stands for, or None when it is not one.

    >>> member_file_asn("AS17557.json"), member_file_asn("AS17557.json\\n")
    (17557, None)
    >>> member_file_asn("AS017557.json"), member_file_asn("AS4294967296.json")
    (None, None)
    """
    match = _FILE_RE.fullmatch(name)
    if match is None or int(match.group(1)) > MAX_ASN:
        return None
    return int(match.group(1))


def is_data_path(relative: str) -> bool:
    """Whether `relative` (to snapshot/) names a data file: meta.json, the never-via list or
    SOURCE/AS<asn>.json."""
    if relative in (META_FILE, NEVER_VIA_FILE):
        return True
    source, _, name = relative.partition("/")
    return source in SOURCES and member_file_asn(name) is not None


@dataclass(frozen=True)
class SnapshotMeta:
    example: bool = False
    note: str = ""


def dump_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, one list item per line, trailing newline."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def peeringdb_to_json(net: PeeringDbNet | None, asn: int) -> dict[str, Any]:
    if net is None:
        return {"asn": asn, "in_peeringdb": False}
    return {
        "asn": net.asn,
        "in_peeringdb": True,
        "name": net.name,
        "irr_as_set": net.irr_as_set,
        "info_prefixes4": net.info_prefixes4,
        "info_prefixes6": net.info_prefixes6,
        "info_never_via_route_servers": net.never_via_route_servers,
    }


def never_via_to_json(asns: frozenset[int]) -> dict[str, Any]:
    return {"source": "PeeringDB net?info_never_via_route_servers=1", "asns": sorted(asns)}


def irr_to_json(asn: int, data: IrrData) -> dict[str, Any]:
    return {
        "asn": asn,
        "objects": [str(o) for o in data.objects],  # in the order they are expanded
        "origins": sorted(set(data.origins)),
        "ipv4": data.ipv4.sorted_unique().texts(),
        "ipv6": data.ipv6.sorted_unique().texts(),
        # Only when pending: every other member's file keeps its bytes.
        **({"pending": data.pending} if data.pending else {}),
    }


def write_member(directory: Path, asn: int, *, peeringdb: PeeringDbNet | bool | None = False,
                 irr: IrrData | None = None) -> list[Path]:
    """Write one member's files straight into snapshot/; `peeringdb=False` leaves its PeeringDB
    file alone. Returns the files whose content changed.

    For seeding and tests: each file is atomic, but several calls are not (refresh uses
    SnapshotTransaction), and nothing is recorded in provenance.json (so a build reports the
    file as unrecorded, or, where provenance.json has an entry for it, refuses it as modified).
    """
    return _write_member(directory / SNAPSHOT_DIR, asn, peeringdb, irr)


def write_meta(directory: Path, meta: SnapshotMeta) -> bool:
    """Write snapshot/meta.json straight into snapshot/; True if it changed."""
    return _write_meta(directory / SNAPSHOT_DIR, meta)


def _member_texts(asn: int, peeringdb: PeeringDbNet | bool | None,
                  irr: IrrData | None) -> dict[str, str]:
    """{path relative to snapshot/: content} of one member's files."""
    texts = {}
    if peeringdb is not False:
        net = peeringdb if isinstance(peeringdb, PeeringDbNet) else None
        texts[f"peeringdb/AS{asn}.json"] = dump_json(peeringdb_to_json(net, asn))
    if irr is not None:
        texts[f"irr/AS{asn}.json"] = dump_json(irr_to_json(asn, irr))
    return texts


def _meta_text(meta: SnapshotMeta) -> str:
    data: dict[str, Any] = {"format": FORMAT, "example": meta.example}
    if meta.note:
        data["note"] = meta.note
    return dump_json(data)


def _write_texts(root: Path, texts: Mapping[str, str]) -> list[Path]:
    """Write each text unless its file already holds it; the paths that changed."""
    return [root / relative for relative, text in texts.items()
            if write_if_changed(root / relative, text)]


def _write_member(root: Path, asn: int, peeringdb: PeeringDbNet | bool | None,
                  irr: IrrData | None) -> list[Path]:
    return _write_texts(root, _member_texts(asn, peeringdb, irr))


def _write_meta(root: Path, meta: SnapshotMeta) -> bool:
    return bool(_write_texts(root, {META_FILE: _meta_text(meta)}))


class SnapshotTransaction:
    """All of one refresh's snapshot changes, landing at once or not at all.

        with SnapshotTransaction(directory) as tx:
            tx.write_member(asn, irr=data)
            tx.write_meta(meta)
        # here every change is in snapshot/; an exception in the block discards them all

    Writes go to a staging clone of snapshot/; without any change nothing is swapped, so the
    snapshot keeps every byte and mtime. Every file written (changed or confirmed unchanged)
    is recorded in provenance.json on the way out, signed with `key` when there is one
    (rsgen.provenance). A snapshot/ holding anything rsgen would not write (a symbolic link,
    another name) is refused with NoSnapshot before anything is written.
    Use it holding the exchange lock (rsgen.lock).
    """

    def __init__(self, directory: Path, *, key: Secret | None = None) -> None:
        self.directory = directory
        self.changed: list[Path] = []  # snapshot/... paths whose content changed
        self.written: dict[str, str] = {}  # relative path -> sha256, changed or confirmed
        self._key = key
        self._swap = _swap(directory)
        self._staging: Path | None = None
        self._removed = False

    def __enter__(self) -> SnapshotTransaction:
        staging = self._swap.begin()
        try:
            # The clone is what gets written into: a symbolic link in it (snapshot/irr ->
            # elsewhere) would take the writes outside the exchange directory.
            _check_tree(staging, self.directory / SNAPSHOT_DIR)
        except BaseException:
            self._swap.abort()
            raise
        self._staging = staging
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None and (self.written or self._removed):
            try:
                self._write_provenance()
            except BaseException:
                self._staging = None
                self._swap.abort()
                raise
        self._staging = None
        if kind is None and self.changed:
            try:
                self._swap.commit()
            except BaseException:
                self._swap.abort()  # old or new, whichever the failed commit had reached
                raise
        else:
            self._swap.abort()

    def _root(self) -> Path:
        if self._staging is None:
            raise RuntimeError("SnapshotTransaction used outside its with block")
        return self._staging

    def _final(self, paths: list[Path]) -> list[Path]:
        root = self.directory / SNAPSHOT_DIR
        final = [root / p.relative_to(self._root()) for p in paths]
        self.changed += final
        return final

    def _write(self, texts: Mapping[str, str]) -> list[Path]:
        for relative, text in texts.items():
            self.written[relative] = provenance.sha256_hex(text.encode("utf-8"))
        return self._final(_write_texts(self._root(), texts))

    def write_member(self, asn: int, *, peeringdb: PeeringDbNet | bool | None = False,
                     irr: IrrData | None = None) -> list[Path]:
        """As write_member(); returns the snapshot/ paths that will change on commit."""
        return self._write(_member_texts(asn, peeringdb, irr))

    def write_meta(self, meta: SnapshotMeta) -> bool:
        return bool(self._write({META_FILE: _meta_text(meta)}))

    def remove_member(self, asn: int) -> list[Path]:
        """Delete a member's files (every source); the snapshot/ paths that go on commit.
        Their provenance entries go with them."""
        removed = []
        for source in SOURCES:
            path = self._root() / source / f"AS{asn}.json"
            if path.is_file():  # the staging tree was checked: no symbolic links in it
                path.unlink()
                removed.append(path)
        self._removed = self._removed or bool(removed)
        return self._final(removed)

    def write_never_via(self, asns: frozenset[int]) -> bool:
        return bool(self._write({NEVER_VIA_FILE: dump_json(never_via_to_json(asns))}))

    def _write_provenance(self) -> None:
        root = self._root()
        shown = self.directory / SNAPSHOT_DIR
        fd = _open_directory(root, shown)
        try:
            present = _data_files(fd, shown)
            old = _read_manifest(fd, shown)
        finally:
            os.close(fd)
        manifest = provenance.updated(old, self.written, present, self._key)
        if write_if_changed(root / PROVENANCE_FILE, provenance.dump_manifest(manifest)):
            self._final([root / PROVENANCE_FILE])


def _swap(directory: Path) -> DirectorySwap:
    return DirectorySwap(directory / SNAPSHOT_DIR, error=NoSnapshot)


def recover_snapshot(directory: Path) -> bool:
    """Clean up, or complete, what a refresh killed mid-way left beside snapshot/.

    Call it holding the exchange lock. True if there was something to do.
    """
    return _swap(directory).recover()


def read_meta(directory: Path) -> SnapshotMeta | None:
    """The snapshot's meta.json, or None when there is no snapshot."""
    with _pinned(directory) as pinned:
        return None if pinned is None else _read_meta(*pinned)


@dataclass(frozen=True)
class SnapshotFiles:
    """A snapshot as read, with what rsgen.provenance needs to judge its files."""

    snapshot: Snapshot
    root: Path  # the directory read (for messages)
    digests: Mapping[str, str]  # path relative to root -> sha256 of the bytes parsed
    manifest: Manifest | None  # provenance.json, None when there is none

    def statuses(self, key: Secret | None) -> dict[str, provenance.Status]:
        return provenance.assess(self.manifest, self.digests, key)


def read_snapshot(directory: Path, *, policy: PolicySettings | None = None) -> Snapshot:
    """Read the whole snapshot; raise NoSnapshot when it is missing or damaged.

    With `policy`, IRR data outside its prefix lengths is refused too (rsgen.plausible);
    the size bounds apply always. Needs no lock: snapshot/ is opened once and every file is
    read relative to that directory, so a refresh swapping in a new snapshot meanwhile cannot
    hand this reader a mix.
    """
    return read_snapshot_files(directory, policy=policy).snapshot


def read_snapshot_files(directory: Path, *, policy: PolicySettings | None = None,
                        only_members: Collection[int] | None = None) -> SnapshotFiles:
    """As read_snapshot, also returning each file's hash and the provenance manifest.

    With `only_members`, every file is still read and hashed (provenance judges them all)
    but only those members' data is parsed and checked, for an incremental build
    (rsgen.incremental) whose record vouches for the other members' files, byte for byte."""
    with _pinned(directory) as pinned:
        meta = None if pinned is None else _read_meta(*pinned)
        if pinned is None or meta is None:
            raise NoSnapshot(f"no snapshot in {directory / SNAPSHOT_DIR}",
                             hint="run rsgen refresh (needs network), or build without "
                                  "--offline")
        root_fd, root = pinned
        relatives = _data_files(root_fd, root)  # refuses anything else in snapshot/
        digests: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        for relative in relatives:
            content = _read_bytes(root_fd, relative, root / relative)
            digests[relative] = provenance.sha256_hex(content)
            if only_members is not None and relative.startswith(("irr/", "peeringdb/")) \
                    and member_file_asn(relative.partition("/")[2]) not in only_members:
                continue
            parsed[relative] = _parse_json(content, root / relative)
        manifest = _read_manifest(root_fd, root)
    meta = _meta_from_json(parsed.get(META_FILE), root / META_FILE)
    peeringdb: dict[int, PeeringDbNet] = {}
    irr: dict[int, IrrData] = {}
    never_via: frozenset[int] = frozenset()
    # The IRR files' checks are most of a large snapshot's read: a forked child (rsgen.forked)
    # checks the second half of them meanwhile. Its answer is used only when it checked all of
    # its half without a fault; otherwise this process checks them, in order, as always, and
    # raises for the first fault in file order.
    irr_files = [relative for relative in parsed if relative.startswith("irr/")]
    theirs = irr_files[len(irr_files) // 2:] if len(irr_files) >= _FORK_FROM_IRR_FILES else []
    child = forked.start(lambda: {relative: _irr_from_json(
        member_file_asn(relative[4:]) or 0, parsed[relative], root / relative, policy)
        for relative in theirs}) if theirs else None
    try:
        checked = _checked_items(parsed, theirs, child, root, policy, peeringdb, irr)
    except BaseException:
        if child is not None:
            child.abandon()
        raise
    never_via = checked if checked is not None else never_via
    return SnapshotFiles(Snapshot(meta.example, peeringdb, irr, never_via), root, digests,
                         manifest)


# Fewer IRR files than this are checked here alone: a fork costs more than it saves.
_FORK_FROM_IRR_FILES = 200


def _checked_items(parsed: Mapping[str, Any], theirs: Sequence[str],
                   child: forked.Child[dict[str, IrrData]] | None, root: Path,
                   policy: PolicySettings | None, peeringdb: dict[int, PeeringDbNet],
                   irr: dict[int, IrrData]) -> frozenset[int] | None:
    """Check every parsed file in order into `peeringdb` and `irr`, taking the child's
    answers for `theirs`; the never-via list when there is one."""
    never_via = None
    from_child: dict[str, IrrData] | None = None
    first_theirs = theirs[0] if theirs else None
    for relative, data in parsed.items():
        if relative == first_theirs and child is not None:
            from_child = child.result()
        if relative == NEVER_VIA_FILE:
            never_via = _never_via_from_json(data, root / relative)
            continue
        source, _, name = relative.partition("/")
        asn = member_file_asn(name)
        if asn is None:
            continue  # meta.json
        if source == "peeringdb":
            net = _peeringdb_from_json(asn, data, root / relative)
            if net is not None:
                peeringdb[asn] = net
        elif from_child is not None and relative in from_child:
            irr[asn] = from_child[relative]
        else:
            irr[asn] = _irr_from_json(asn, data, root / relative, policy)
    return never_via


def read_checked_snapshot(directory: Path, policy: PolicySettings,
                          key: Secret | None) -> tuple[Snapshot, list[str]]:
    """The snapshot as a build may use it: plausible for `policy`, and vouched for by
    provenance (every file recorded, and signed with `key` when there is one; see
    rsgen.provenance.enforce). NoSnapshot otherwise; returns the warnings to show."""
    files = read_snapshot_files(directory, policy=policy)
    return files.snapshot, provenance.enforce(files.statuses(key), files.root, key)


@contextlib.contextmanager
def _pinned(directory: Path) -> Iterator[tuple[int, Path] | None]:
    """The snapshot directory opened (a descriptor and its path for messages), or None."""
    root = _swap(directory).readable()
    try:
        fd = _open_directory(root, root)
    except NoSnapshot as exc:
        if not isinstance(exc.__cause__, FileNotFoundError):
            raise
        fd = None
    if fd is None:
        yield None
        return
    try:
        yield fd, root
    finally:
        os.close(fd)


def _open_directory(path: Path, shown: Path, dir_fd: int | None = None) -> int:
    """Open a snapshot directory, never through a symbolic link (NoSnapshot otherwise)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR
            with contextlib.suppress(OSError):
                if stat.S_ISLNK(os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    exc = OSError(errno.ELOOP, "symbolic link")
        raise _refused(shown, exc) from exc


def _refused(path: Path, exc: OSError) -> NoSnapshot:
    if exc.errno == errno.ELOOP:
        return NoSnapshot(f"{_show(path)}: is a symbolic link; rsgen never follows links in "
                          "the snapshot", hint="replace it by the real directory or file, "
                                               "as rsgen refresh writes it")
    if exc.errno == errno.ENOTDIR:
        return NoSnapshot(f"{_show(path)}: not a directory", hint=_HINT)
    if exc.errno == errno.ENOENT:
        return NoSnapshot(f"{_show(path)}: missing", hint=_HINT)
    return NoSnapshot(f"{_show(path)}: unreadable snapshot ({exc.strerror})",
                      hint="check its permissions")


def _show(path: Path) -> str:
    """A path for a message; names with control or non-ASCII characters are quoted."""
    text = str(path)
    return text if text.isascii() and text.isprintable() else ascii(text)


def _unexpected(path: Path, what: str) -> NoSnapshot:
    return NoSnapshot(f"{_show(path)}: {what}; a snapshot holds only meta.json, "
                      f"{PROVENANCE_FILE}, irr/AS<asn>.json and peeringdb/AS<asn>.json",
                      hint="remove it (rsgen refresh writes every file the snapshot needs)")


def _data_files(root_fd: int, root: Path) -> list[str]:
    """The data files in the open snapshot directory, relative to it (meta.json first, then
    SOURCE/AS<asn>.json sorted); NoSnapshot for any entry rsgen would not have written."""
    found: list[str] = []
    with os.scandir(root_fd) as entries:
        top = sorted(entries, key=lambda entry: entry.name)
    for entry in top:
        path = root / entry.name
        if entry.name not in _TOP_LEVEL:
            raise _unexpected(path, "unexpected entry")
        if entry.is_symlink():
            raise _refused(path, OSError(errno.ELOOP, "symbolic link"))
        wants_directory = _TOP_LEVEL[entry.name]
        if wants_directory and not entry.is_dir(follow_symlinks=False):
            raise _unexpected(path, "not a directory")
        if not wants_directory and not entry.is_file(follow_symlinks=False):
            raise _unexpected(path, "not a regular file")
        if entry.name == META_FILE:
            found.insert(0, META_FILE)
        elif entry.name == NEVER_VIA_FILE:
            found.append(NEVER_VIA_FILE)
    for source in SOURCES:
        if not any(entry.name == source for entry in top):
            continue
        fd = _open_directory(Path(source), root / source, dir_fd=root_fd)
        try:
            with os.scandir(fd) as entries:
                members = sorted(entries, key=lambda entry: entry.name)
        finally:
            os.close(fd)
        for entry in members:
            path = root / source / entry.name
            if member_file_asn(entry.name) is None:
                raise _unexpected(path, "not a snapshot file name (want AS<asn>.json, the "
                                        "ASN without leading zeros)")
            if entry.is_symlink():
                raise _refused(path, OSError(errno.ELOOP, "symbolic link"))
            if not entry.is_file(follow_symlinks=False):
                raise _unexpected(path, "not a regular file")
            found.append(f"{source}/{entry.name}")
    return found


def _check_tree(root: Path, shown: Path) -> None:
    """NoSnapshot when the directory `root` (named `shown` in messages) holds anything a
    snapshot may not."""
    fd = _open_directory(root, shown)
    try:
        _data_files(fd, shown)
    finally:
        os.close(fd)


def _read_bytes(root_fd: int, relative: str, path: Path) -> bytes:
    """The bytes of the regular file `relative` to the open directory root_fd, at most
    MAX_FILE_BYTES; never through a symbolic link, never from a device or FIFO."""
    try:
        fd = os.open(relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=root_fd)
    except OSError as exc:
        raise _refused(path, exc) from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise _unexpected(path, "not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise NoSnapshot(f"{_show(path)}: {status.st_size} bytes, more than the "
                             f"{MAX_FILE_BYTES} a snapshot file may have", hint=_HINT)
        chunks = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:  # grew while being read
            raise NoSnapshot(f"{_show(path)}: more than the {MAX_FILE_BYTES} bytes a snapshot "
                             "file may have", hint=_HINT)
        return b"".join(chunks)
    except OSError as exc:
        raise _refused(path, exc) from exc
    finally:
        os.close(fd)


def _parse_json(content: bytes, path: Path) -> Any:
    try:
        return json.loads(content.decode("utf-8"))
    # ValueError covers JSON syntax, bad UTF-8 and integers too long to convert;
    # RecursionError, nesting deeper than the decoder can follow.
    except (ValueError, RecursionError) as exc:
        raise NoSnapshot(f"{_show(path)}: unreadable snapshot file ({str(exc)[:200]})",
                         hint=_HINT) from exc


def _read_json(root_fd: int, relative: str, path: Path) -> Any:
    """Parse the file `relative` to the open directory root_fd (`path` is for messages)."""
    return _parse_json(_read_bytes(root_fd, relative, path), path)


def _read_optional_json(root_fd: int, name: str, path: Path) -> tuple[bool, Any]:
    """(False, None) when the file `name` is absent, else (True, its parsed JSON)."""
    try:
        return True, _read_json(root_fd, name, path)
    except NoSnapshot as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            return False, None
        raise


def _read_meta(root_fd: int, root: Path) -> SnapshotMeta | None:
    path = root / META_FILE
    present, data = _read_optional_json(root_fd, META_FILE, path)
    return _meta_from_json(data, path) if present else None


def _meta_from_json(data: Any, path: Path) -> SnapshotMeta:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NoSnapshot(f"{path}: unknown snapshot format", hint="run rsgen refresh")
    return SnapshotMeta(bool(data.get("example", False)), str(data.get("note", "")))


def _read_manifest(root_fd: int, root: Path) -> Manifest | None:
    path = root / PROVENANCE_FILE
    present, data = _read_optional_json(root_fd, PROVENANCE_FILE, path)
    return provenance.parse_manifest(data, path, is_data_path) if present else None


def _damaged(path: Path, what: str) -> NoSnapshot:
    return NoSnapshot(f"{path}: damaged snapshot file: {what}",
                      hint="restore it from git or run rsgen refresh")


def _peeringdb_from_json(asn: int, data: Any, path: Path) -> PeeringDbNet | None:
    if not isinstance(data, dict) or data.get("asn") != asn:
        raise _damaged(path, "asn does not match the file name")
    if data.get("in_peeringdb") is False:
        return None
    try:
        limits = [data["info_prefixes4"], data["info_prefixes6"]]
        if not all(v is None or (type(v) is int and v >= 0) for v in limits):
            raise _damaged(path, "info_prefixes4/6 must be counts")
        name, as_set = data["name"], data["irr_as_set"]
        never = data["info_never_via_route_servers"]
        if not isinstance(name, str) or not isinstance(as_set, str) or type(never) is not bool:
            raise _damaged(path, "wrong value types")
    except KeyError as exc:
        raise _damaged(path, f"missing {exc}") from exc
    return PeeringDbNet(asn, name, as_set, limits[0], limits[1], never)


def _never_via_from_json(data: Any, path: Path) -> frozenset[int]:
    asns = data.get("asns") if isinstance(data, dict) else None
    if not isinstance(asns, list) or not all(type(a) is int and 0 < a <= MAX_ASN for a in asns):
        raise _damaged(path, '"asns" must be a list of ASNs')
    if len(asns) > MAX_NEVER_VIA:
        raise _damaged(path, f"{len(asns)} ASNs, more than the {MAX_NEVER_VIA} rsgen accepts")
    return frozenset(asns)


# A pending reason is rsgen's own sentence about the IRR's answer (rsgen.sources.irr).
MAX_PENDING_REASON = 500


def _irr_from_json(asn: int, data: Any, path: Path,
                   bounds: PolicySettings | None = None) -> IrrData:
    if not isinstance(data, dict) or data.get("asn") != asn:
        raise _damaged(path, "asn does not match the file name")
    try:
        objects = tuple(parse_as_set(o) for o in data["objects"])
        origins = data["origins"]
        if not all(type(o) is int and 0 < o <= MAX_ASN for o in origins):
            raise _damaged(path, "origins must be ASNs")
        ipv4 = _prefix_list(data["ipv4"], 4)
        ipv6 = _prefix_list(data["ipv6"], 6)
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, str(exc)) from exc
    if not ipv4.all_of_version(4) or not ipv6.all_of_version(6):
        raise _damaged(path, "prefix in the wrong address family")
    pending = data.get("pending", "")
    if not isinstance(pending, str) or len(pending) > MAX_PENDING_REASON or (
            "pending" in data and not pending):
        raise _damaged(path, f"pending must be a reason of 1-{MAX_PENDING_REASON} characters")
    if pending and (origins or ipv4 or ipv6):
        raise _damaged(path, "a pending member has no origins or prefixes")
    irr = IrrData(objects, tuple(sorted(set(origins))), ipv4, ipv6, pending=pending)
    why = plausible.first_problem(irr, bounds)
    if why is not None:
        raise NoSnapshot(f"{path}: implausible IRR data: {why}",
                         hint="no IRR answer looks like this (rsgen refresh never writes it): "
                              "restore the file from git or run rsgen refresh")
    return irr


def _prefix_list(items: Any, version: int) -> PrefixList:
    """A file's prefix list: as its text when it is what rsgen writes (canonical, sorted,
    unique: rsgen.prefixtext proves it in bulk), else parsed entry by entry, sorted and
    deduplicated (a hand edit), raising ValueError (or TypeError) for the first bad entry.
    Entries of the other family pass here; the caller refuses them."""
    checked = prefixtext.check(items, version)
    if checked is not None:
        return checked
    return PrefixList.sorted_from(PrefixRange.parse(p) for p in items)
