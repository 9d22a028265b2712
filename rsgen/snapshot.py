"""The snapshot: enrichment data committed beside the member files.

One sorted JSON file per member and source, so a pull request diff shows exactly which
prefixes, origins or max-prefix values changed:

    snapshot/meta.json               format version; "example": true for made-up data
    snapshot/peeringdb/AS<asn>.json  the PeeringDB net fields rsgen uses
    snapshot/irr/AS<asn>.json        objects expanded, origin ASNs, IPv4/IPv6 prefix ranges

The data came from PeeringDB and IRR, which anyone can edit, so reading re-validates it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsgen.atomic import write_if_changed
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
    """Write one member's files; `peeringdb=False` leaves its PeeringDB file alone.

    Returns the files whose content changed.
    """
    changed = []
    root = directory / SNAPSHOT_DIR
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


def write_meta(directory: Path, meta: SnapshotMeta) -> None:
    data: dict[str, Any] = {"format": FORMAT, "example": meta.example}
    if meta.note:
        data["note"] = meta.note
    write_if_changed(directory / SNAPSHOT_DIR / "meta.json", dump_json(data))


def read_meta(directory: Path) -> SnapshotMeta | None:
    path = directory / SNAPSHOT_DIR / "meta.json"
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NoSnapshot(f"{path}: unknown snapshot format", hint="run rsgen refresh")
    return SnapshotMeta(bool(data.get("example", False)), str(data.get("note", "")))


def read_snapshot(directory: Path) -> Snapshot:
    """Read the whole snapshot; raise NoSnapshot when it is missing or damaged."""
    meta = read_meta(directory)
    if meta is None:
        raise NoSnapshot(f"no snapshot in {directory / SNAPSHOT_DIR}",
                         hint="run rsgen refresh (needs network), or build without --offline")
    root = directory / SNAPSHOT_DIR
    peeringdb: dict[int, PeeringDbNet] = {}
    in_peeringdb_files: set[int] = set()
    for asn, data, path in _member_files(root / "peeringdb"):
        in_peeringdb_files.add(asn)
        net = _peeringdb_from_json(asn, data, path)
        if net is not None:
            peeringdb[asn] = net
    irr = {asn: _irr_from_json(asn, data, path) for asn, data, path in _member_files(root / "irr")}
    return Snapshot(meta.example, peeringdb, irr, frozenset(in_peeringdb_files))


def _member_files(directory: Path) -> list[tuple[int, Any, Path]]:
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        match = _FILE_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), _read_json(path), path))
    return found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoSnapshot(f"{path}: unreadable snapshot file ({exc})",
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
