"""The build record: lets a build with nothing changed skip render and `bird -p`, soundly.

After a build has written and checked its configs, it records beside the exchange's lock
(`DIR/.rsgen.build.json`; the output directory holds configs only) one hash of every input
(exchange.yml, members/, snapshot/, the templates, rsgen's own code, `bird --version`, the BGP
passwords and the snapshot key), the output directory, and for each config its sha256 and the
identity of the very file written (device, inode, change time in nanoseconds). The next build
skips only when all of these match again.

Trust: a pull request can commit any file, `.rsgen.build.json` and forged configs in `out/`
included. It cannot choose the inode or the nanosecond ctime that a checkout gives the files it
creates (the kernel sets ctime; no system call sets it), so a planted record never matches and
the build runs in full. A stale record (inputs changed, an output edited, deleted or re-created)
fails the same comparison. Anything unreadable or unexpected (a link, a non-regular file, bad
JSON) means "no record": the worst a record can cause is a full build.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rsgen
from rsgen.atomic import write_atomic
from rsgen.errors import RsgenError
from rsgen.provenance import key_id
from rsgen.settings import Settings
from rsgen.sources.proc import run

RECORD_NAME = ".rsgen.build.json"  # in the exchange directory, as the lock (.rsgen.lock)
RECORD_VERSION = 2
# A 3,000-member exchange's layout (two blocks per member and route server) is about 1 MB.
_RECORD_MAX_BYTES = 16 << 20
_CHUNK = 1 << 20
# A member's own inputs: its member file and its snapshot files (everything else is shared).
_MEMBER_FILE = re.compile(r"AS([1-9][0-9]{0,9})\.yml")
_SNAPSHOT_MEMBER_FILE = re.compile(r"(?:irr|peeringdb)/AS([1-9][0-9]{0,9})\.json")
_PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class OutputIdentity:
    """One config as written: its bytes' hash and the file that holds them."""

    sha256: str
    device: int
    inode: int
    ctime_ns: int
    size: int


@dataclass(frozen=True)
class InputHashes:
    """What a build read, hashed: as one digest, and split into the members' own inputs and
    everything they share, so an incremental build (rsgen.incremental) can tell which
    members changed."""

    digest: str  # everything: equal means nothing changed
    shared: str  # all but the members' own files and provenance.json
    members: Mapping[int, str]  # ASN -> hash of members/AS<asn>.yml and its snapshot files


@dataclass(frozen=True)
class ConfigLayout:
    """Where each member's block sits in one written config, and the import functions the
    blocks call (rsgen.render.RenderedConfig), so the next build can reuse them."""

    blocks: tuple[tuple[int, int, int, tuple[str, ...]], ...]  # (ASN, start, end, functions)
    functions: Mapping[str, tuple[int, str, str]]  # name -> (IP version, signature, body)


# A member's warnings of a build: (its max-prefix warnings, its pending warning or none).
MemberWarnings = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class BuildRecord:
    inputs: str  # InputHashes.digest of the build that wrote the outputs
    output: str  # the output directory, resolved
    configs: tuple[str, ...]  # the config file names, in route-server order
    outputs: Mapping[str, OutputIdentity]  # config file name -> identity
    warnings: tuple[str, ...]  # what that build warned about, said again when skipping
    example_data: bool
    shared: str = ""  # InputHashes.shared
    members: Mapping[int, str] = field(default_factory=dict)  # InputHashes.members
    # Per config, its layout; a config without one (or a record without shared) is never
    # reused in part.
    layouts: Mapping[str, ConfigLayout] = field(default_factory=dict)
    # Each member's warnings, (max-prefix ones, pending ones); the rest of `warnings`
    # (provenance) is worked out again by an incremental build.
    member_warnings: Mapping[int, MemberWarnings] = field(default_factory=dict)


class _Unhashable(Exception):
    """An input cannot be hashed as a plain file tree: no skip (the full build says why)."""


def _open_regular(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _Unhashable(str(path)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _Unhashable(str(path))
    return fd


def _hash_file(path: Path, into: hashlib._Hash | None = None) -> tuple[str, os.stat_result]:
    """sha256 of a regular file (never through a link), and its fstat."""
    digest = into or hashlib.sha256()
    fd = _open_regular(path)
    try:
        info = os.fstat(fd)
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), info


def _tree(root: Path, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every file under `root`, sorted; links and other kinds raise."""
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError as exc:
        raise _Unhashable(str(root)) from exc
    for entry in entries:
        name = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _tree(Path(entry.path), f"{name}/")
        elif entry.is_file(follow_symlinks=False):
            yield name, Path(entry.path)
        else:
            raise _Unhashable(entry.path)


def _feed(digest: hashlib._Hash, label: str, data: bytes) -> None:
    """Length-prefixed, so no two different input sets hash alike by shifting bytes."""
    encoded = label.encode("utf-8", "surrogateescape")
    digest.update(b"%d:" % len(encoded) + encoded + b"%d:" % len(data) + data)


def _feed_tree(digest: hashlib._Hash, label: str, root: Path,
               keep: Iterable[str] | None = None) -> None:
    wanted = None if keep is None else tuple(keep)
    if not root.exists() and not root.is_symlink():
        _feed(digest, f"{label} (none)", b"")
        return
    for name, path in _tree(root):
        if wanted is not None and not name.endswith(wanted):
            continue
        _feed(digest, f"{label}/{name}", _hash_file(path)[0].encode())


def _bird_version(bird: str) -> str | None:
    try:
        done = run([bird, "--version"], timeout=30)
    except (RsgenError, OSError):  # not installed, hung: the full build reports it
        return None
    if done.returncode != 0:
        return None
    return done.stdout + done.stderr


def input_digest(directory: Path, templates: Path, settings: Settings) -> str | None:
    """One hash of everything a build's output depends on; None when some input is not a
    plain file tree (the full build then reports it)."""
    hashes = input_hashes(directory, templates, settings)
    return None if hashes is None else hashes.digest


def input_hashes(directory: Path, templates: Path, settings: Settings) -> InputHashes | None:
    """input_digest, split by member (InputHashes); None as input_digest."""
    shared = hashlib.sha256()
    _feed(shared, "record version", str(RECORD_VERSION).encode())
    _feed(shared, "rsgen version", rsgen.__version__.encode())
    version = _bird_version(settings.tools.bird)
    if version is None:
        return None
    _feed(shared, "bird", f"{settings.tools.bird}\0{version}".encode())
    for name, secret in sorted(settings.passwords.items()):
        _feed(shared, f"password {name}", secret.reveal().encode("utf-8", "surrogateescape"))
    key = settings.snapshot_key
    _feed(shared, "snapshot key", b"" if key is None else key_id(key).encode())
    own: dict[int, list[str]] = {}
    provenance = ""
    try:
        _feed_tree(shared, "rsgen", Path(rsgen.__file__).parent, keep=(".py", ".json"))
        _feed_tree(shared, "templates", templates)
        _feed(shared, "exchange.yml", _hash_file(directory / "exchange.yml")[0].encode())
        for label, pattern in (("members", _MEMBER_FILE), ("snapshot", _SNAPSHOT_MEMBER_FILE)):
            root = directory / label
            if not root.exists() and not root.is_symlink():
                _feed(shared, f"{label} (none)", b"")
                continue
            for name, path in _tree(root):
                file_hash = _hash_file(path)[0]
                match = pattern.fullmatch(name)
                if match is not None and int(match.group(1)) <= 0xFFFFFFFF:
                    own.setdefault(int(match.group(1)), []).append(f"{label}/{name}:{file_hash}")
                elif label == "snapshot" and name == _PROVENANCE:
                    provenance = file_hash  # changes with any snapshot file: not shared
                else:
                    _feed(shared, f"{label}/{name}", file_hash.encode())
    except _Unhashable:
        return None
    members = {asn: hashlib.sha256("\0".join(sorted(files)).encode()).hexdigest()
               for asn, files in sorted(own.items())}
    everything = hashlib.sha256()
    _feed(everything, "shared", shared.hexdigest().encode())
    _feed(everything, "provenance", provenance.encode())
    for asn, member_hash in members.items():
        _feed(everything, f"AS{asn}", member_hash.encode())
    return InputHashes(everything.hexdigest(), shared.hexdigest(), members)


def identify(path: Path) -> OutputIdentity | None:
    try:
        sha256, info = _hash_file(path)
    except _Unhashable:
        return None
    return OutputIdentity(sha256, info.st_dev, info.st_ino, info.st_ctime_ns, info.st_size)


def read_record(record: Path) -> BuildRecord | None:
    """The record at `record`, or None when there is none or it is not one rsgen wrote."""
    try:
        fd = _open_regular(record)
    except _Unhashable:
        return None
    try:
        data = os.read(fd, _RECORD_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _RECORD_MAX_BYTES:
        return None
    try:
        raw = json.loads(data)
        if raw["version"] != RECORD_VERSION or not isinstance(raw["inputs"], str):
            return None
        outputs = {str(name): OutputIdentity(str(o["sha256"]), int(o["device"]),
                                             int(o["inode"]), int(o["ctime_ns"]),
                                             int(o["size"]))
                   for name, o in raw["outputs"].items()}
        configs = tuple(str(name) for name in raw["configs"])
        if sorted(configs) != sorted(outputs):
            return None
        warnings = tuple(str(w) for w in raw["warnings"])
        return BuildRecord(raw["inputs"], str(raw["output"]), configs, outputs, warnings,
                           raw["example_data"] is True, **_incremental_part(raw, configs))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _incremental_part(raw: dict[str, Any], configs: Sequence[str]) -> dict[str, Any]:
    """The record's fields for an incremental build, or none of them when any is amiss (the
    record still serves the nothing-changed check; ValueError etc. for the rest)."""
    shared = raw.get("shared")
    if not isinstance(shared, str) or not isinstance(raw.get("layouts"), dict):
        return {}
    members = {int(asn): str(value) for asn, value in raw["members"].items()}
    layouts = {}
    for name, layout in raw["layouts"].items():
        if name not in configs:
            return {}
        blocks = tuple((int(asn), int(start), int(end), tuple(str(f) for f in functions))
                       for asn, start, end, functions in layout["blocks"])
        functions = {str(fn): (int(version), str(signature), str(body))
                     for fn, (version, signature, body) in layout["functions"].items()}
        layouts[str(name)] = ConfigLayout(blocks, functions)
    member_warnings = {int(asn): (tuple(str(w) for w in limits), tuple(str(w) for w in pending))
                       for asn, (limits, pending) in raw["member_warnings"].items()}
    return {"shared": shared, "members": members, "layouts": layouts,
            "member_warnings": member_warnings}


def still_valid(record: BuildRecord | None, inputs: str | None, output: Path,
                names: Sequence[str], mode: int) -> bool:
    """Whether `record` vouches for the configs `names` in `output` built from `inputs`:
    the same inputs, the same set of configs, each the very file that build wrote (same
    bytes, inode and ctime) with the expected mode."""
    if record is None or inputs is None or record.inputs != inputs:
        return False
    if record.output != str(output.resolve()) or sorted(record.outputs) != sorted(names):
        return False
    for name in names:
        try:
            info = os.lstat(output / name)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != mode:
            return False
        if identify(output / name) != record.outputs[name]:
            return False
    return True


def write_record(record: Path, output: Path, inputs: InputHashes | None,
                 names: Sequence[str], warnings: Sequence[str], example_data: bool, mode: int,
                 *, layouts: Mapping[str, ConfigLayout] | None = None,
                 member_warnings: Mapping[int, MemberWarnings] | None = None) -> None:
    """Record a finished build of `names` in `output`; without input hashes, remove any
    old record instead. A temporary file a killed run left is removed first. `layouts`
    (every config's, or None) lets the next build reuse unchanged members' blocks."""
    for stale in record.parent.glob(f".{record.name}.*.tmp"):  # write_atomic's names
        forget(stale)
    if inputs is None:
        forget(record)
        return
    outputs = {}
    for name in names:
        identity = identify(output / name)
        if identity is None:
            forget(record)
            return
        outputs[name] = identity
    data: dict[str, Any] = {
        "version": RECORD_VERSION, "inputs": inputs.digest,
        "output": str(output.resolve()), "configs": list(names),
        "outputs": {name: vars(o) for name, o in sorted(outputs.items())},
        "warnings": list(warnings), "example_data": example_data}
    if layouts is not None and sorted(layouts) == sorted(names):
        data.update(
            shared=inputs.shared,
            members={str(asn): value for asn, value in sorted(inputs.members.items())},
            layouts={name: {"blocks": [[asn, start, end, list(functions)]
                                       for asn, start, end, functions in layout.blocks],
                            "functions": {fn: list(value) for fn, value
                                          in sorted(layout.functions.items())}}
                     for name, layout in sorted(layouts.items())},
            member_warnings={str(asn): [list(limits), list(pending)]
                             for asn, (limits, pending) in sorted((member_warnings or {}).items())
                             if limits or pending})
    # Compact: at 1,000 members the layout is most of it, read by every build.
    write_atomic(record, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n",
                 mode=mode)


def read_vouched(path: Path, identity: OutputIdentity, mode: int) -> str | None:
    """The text of a config the record vouches for: the very file it recorded (device,
    inode, ctime, size, sha256 of the bytes read now) with `mode`; None otherwise."""
    try:
        fd = _open_regular(path)
    except _Unhashable:
        return None
    try:
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) != mode or (
                info.st_dev, info.st_ino, info.st_ctime_ns, info.st_size) != (
                identity.device, identity.inode, identity.ctime_ns, identity.size):
            return None
        chunks = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != identity.sha256:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def forget(path: Path) -> None:
    """Remove a record (as a file or link, never followed)."""
    try:
        path.unlink()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
