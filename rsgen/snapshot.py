"""The snapshot: enrichment data committed beside the member files.

One sorted JSON file per member and source, so a pull request diff shows exactly which
prefixes, origins or max-prefix values changed:

    snapshot/meta.json               format version; "example": true for made-up data
    snapshot/peeringdb/AS<asn>.json  the PeeringDB net fields rsgen uses
    snapshot/irr/AS<asn>.json        objects expanded, origin ASNs, IPv4/IPv6 prefix ranges

The data came from PeeringDB and IRR, which anyone can edit, so reading re-validates it.

A refresh changes many files; they land together through a SnapshotTransaction (a hard-linked
clone of snapshot/, exchanged with it in one step: rsgen.atomic.DirectorySwap), so a run
killed at any instant leaves the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rsgen.atomic import DirectorySwap, write_if_changed
from rsgen.errors import NoSnapshot
from rsgen.model import IrrData, PeeringDbNet, Snapshot
from rsgen.values import MAX_ASN, PrefixRange, parse_as_set

SNAPSHOT_DIR = "snapshot"
FORMAT = 1
_FILE_RE = re.compile(r"^AS([1-9][0-9]{0,9})\.json$")


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


def irr_to_json(asn: int, data: IrrData) -> dict[str, Any]:
    return {
        "asn": asn,
        "objects": [str(o) for o in data.objects],  # in the order they are expanded
        "origins": sorted(set(data.origins)),
        "ipv4": [p.bird() for p in sorted(set(data.ipv4))],
        "ipv6": [p.bird() for p in sorted(set(data.ipv6))],
    }


def write_member(directory: Path, asn: int, *, peeringdb: PeeringDbNet | bool | None = False,
                 irr: IrrData | None = None) -> list[Path]:
    """Write one member's files straight into snapshot/; `peeringdb=False` leaves its PeeringDB
    file alone. Returns the files whose content changed.

    For seeding and tests: each file is atomic, but several calls are not (refresh uses
    SnapshotTransaction).
    """
    return _write_member(directory / SNAPSHOT_DIR, asn, peeringdb, irr)


def write_meta(directory: Path, meta: SnapshotMeta) -> bool:
    """Write snapshot/meta.json straight into snapshot/; True if it changed."""
    return _write_meta(directory / SNAPSHOT_DIR, meta)


def _write_member(root: Path, asn: int, peeringdb: PeeringDbNet | bool | None,
                  irr: IrrData | None) -> list[Path]:
    changed = []
    if peeringdb is not False:
        net = peeringdb if isinstance(peeringdb, PeeringDbNet) else None
        path = root / "peeringdb" / f"AS{asn}.json"
        if write_if_changed(path, dump_json(peeringdb_to_json(net, asn))):
            changed.append(path)
    if irr is not None:
        path = root / "irr" / f"AS{asn}.json"
        if write_if_changed(path, dump_json(irr_to_json(asn, irr))):
            changed.append(path)
    return changed


def _write_meta(root: Path, meta: SnapshotMeta) -> bool:
    data: dict[str, Any] = {"format": FORMAT, "example": meta.example}
    if meta.note:
        data["note"] = meta.note
    return write_if_changed(root / "meta.json", dump_json(data))


class SnapshotTransaction:
    """All of one refresh's snapshot changes, landing at once or not at all.

        with SnapshotTransaction(directory) as tx:
            tx.write_member(asn, irr=data)
            tx.write_meta(meta)
        # here every change is in snapshot/; an exception in the block discards them all

    Writes go to a staging clone of snapshot/; without any change nothing is swapped, so the
    snapshot keeps every byte and mtime. Use it holding the exchange lock (rsgen.lock).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.changed: list[Path] = []  # snapshot/... paths whose content changed
        self._swap = _swap(directory)
        self._staging: Path | None = None

    def __enter__(self) -> SnapshotTransaction:
        self._staging = self._swap.begin()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
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

    def write_member(self, asn: int, *, peeringdb: PeeringDbNet | bool | None = False,
                     irr: IrrData | None = None) -> list[Path]:
        """As write_member(); returns the snapshot/ paths that will change on commit."""
        return self._final(_write_member(self._root(), asn, peeringdb, irr))

    def write_meta(self, meta: SnapshotMeta) -> bool:
        changed = _write_meta(self._root(), meta)
        if changed:
            self._final([self._root() / "meta.json"])
        return changed


def _swap(directory: Path) -> DirectorySwap:
    return DirectorySwap(directory / SNAPSHOT_DIR)


def recover_snapshot(directory: Path) -> bool:
    """Clean up, or complete, what a refresh killed mid-way left beside snapshot/.

    Call it holding the exchange lock. True if there was something to do.
    """
    return _swap(directory).recover()


def read_meta(directory: Path) -> SnapshotMeta | None:
    """The snapshot's meta.json, or None when there is no snapshot."""
    with _pinned(directory) as pinned:
        return None if pinned is None else _read_meta(*pinned)


def read_snapshot(directory: Path) -> Snapshot:
    """Read the whole snapshot; raise NoSnapshot when it is missing or damaged.

    Needs no lock: snapshot/ is opened once and every file is read relative to that directory,
    so a refresh swapping in a new snapshot meanwhile cannot hand this reader a mix.
    """
    with _pinned(directory) as pinned:
        meta = None if pinned is None else _read_meta(*pinned)
        if pinned is None or meta is None:
            raise NoSnapshot(f"no snapshot in {directory / SNAPSHOT_DIR}",
                             hint="run rsgen refresh (needs network), or build without "
                                  "--offline")
        peeringdb: dict[int, PeeringDbNet] = {}
        for asn, data, path in _member_files(*pinned, "peeringdb"):
            net = _peeringdb_from_json(asn, data, path)
            if net is not None:
                peeringdb[asn] = net
        irr = {asn: _irr_from_json(asn, data, path)
               for asn, data, path in _member_files(*pinned, "irr")}
    return Snapshot(meta.example, peeringdb, irr)


@contextlib.contextmanager
def _pinned(directory: Path) -> Iterator[tuple[int, Path] | None]:
    """The snapshot directory opened (a descriptor and its path for messages), or None."""
    root = _swap(directory).readable()
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    except OSError as exc:
        raise NoSnapshot(f"{root}: unreadable snapshot ({exc.strerror})",
                         hint="check its permissions") from exc
    try:
        yield fd, root
    finally:
        os.close(fd)


def _read_meta(root_fd: int, root: Path) -> SnapshotMeta | None:
    path = root / "meta.json"
    try:
        data = _read_json(root_fd, "meta.json", path)
    except NoSnapshot as exc:
        if isinstance(exc.__cause__, FileNotFoundError | IsADirectoryError):
            return None
        raise
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NoSnapshot(f"{path}: unknown snapshot format", hint="run rsgen refresh")
    return SnapshotMeta(bool(data.get("example", False)), str(data.get("note", "")))


def _member_files(root_fd: int, root: Path, source: str) -> list[tuple[int, Any, Path]]:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root_fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        with os.scandir(fd) as entries:
            names = sorted(entry.name for entry in entries)
    finally:
        os.close(fd)
    found = []
    for name in names:
        match = _FILE_RE.match(name)
        if match:
            relative = f"{source}/{name}"
            found.append((int(match.group(1)), _read_json(root_fd, relative, root / relative),
                          root / relative))
    return found


def _read_json(root_fd: int, relative: str, path: Path) -> Any:
    """Parse the file `relative` to the open directory root_fd (`path` is for messages)."""
    try:
        fd = os.open(relative, os.O_RDONLY, dir_fd=root_fd)
        with os.fdopen(fd, encoding="utf-8") as handle:
            return json.loads(handle.read())
    # ValueError covers JSON syntax, bad UTF-8 and integers too long to convert;
    # RecursionError, nesting deeper than the decoder can follow.
    except (OSError, ValueError, RecursionError) as exc:
        raise NoSnapshot(f"{path}: unreadable snapshot file ({str(exc)[:200]})",
                         hint="restore it from git or run rsgen refresh") from exc


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


def _irr_from_json(asn: int, data: Any, path: Path) -> IrrData:
    if not isinstance(data, dict) or data.get("asn") != asn:
        raise _damaged(path, "asn does not match the file name")
    try:
        objects = tuple(parse_as_set(o) for o in data["objects"])
        origins = data["origins"]
        if not all(type(o) is int and 0 < o <= MAX_ASN for o in origins):
            raise _damaged(path, "origins must be ASNs")
        ipv4 = tuple(PrefixRange.parse(p) for p in data["ipv4"])
        ipv6 = tuple(PrefixRange.parse(p) for p in data["ipv6"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, str(exc)) from exc
    if any(p.version != 4 for p in ipv4) or any(p.version != 6 for p in ipv6):
        raise _damaged(path, "prefix in the wrong address family")
    return IrrData(objects, tuple(sorted(set(origins))), tuple(sorted(set(ipv4))),
                   tuple(sorted(set(ipv6))))
