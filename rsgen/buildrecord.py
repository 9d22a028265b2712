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
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import rsgen
from rsgen.atomic import write_atomic
from rsgen.errors import RsgenError
from rsgen.provenance import key_id
from rsgen.settings import Settings
from rsgen.sources.proc import run

RECORD_NAME = ".rsgen.build.json"  # in the exchange directory, as the lock (.rsgen.lock)
RECORD_VERSION = 1
_RECORD_MAX_BYTES = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class OutputIdentity:
    """One config as written: its bytes' hash and the file that holds them."""

    sha256: str
    device: int
    inode: int
    ctime_ns: int
    size: int


@dataclass(frozen=True)
class BuildRecord:
    inputs: str  # input_digest() of the build that wrote the outputs
    output: str  # the output directory, resolved
    configs: tuple[str, ...]  # the config file names, in route-server order
    outputs: Mapping[str, OutputIdentity]  # config file name -> identity
    warnings: tuple[str, ...]  # what that build warned about, said again when skipping
    example_data: bool


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
    digest = hashlib.sha256()
    _feed(digest, "record version", str(RECORD_VERSION).encode())
    _feed(digest, "rsgen version", rsgen.__version__.encode())
    version = _bird_version(settings.tools.bird)
    if version is None:
        return None
    _feed(digest, "bird", f"{settings.tools.bird}\0{version}".encode())
    for name, secret in sorted(settings.passwords.items()):
        _feed(digest, f"password {name}", secret.reveal().encode("utf-8", "surrogateescape"))
    key = settings.snapshot_key
    _feed(digest, "snapshot key", b"" if key is None else key_id(key).encode())
    try:
        _feed_tree(digest, "rsgen", Path(rsgen.__file__).parent, keep=(".py", ".json"))
        _feed_tree(digest, "templates", templates)
        _feed(digest, "exchange.yml", _hash_file(directory / "exchange.yml")[0].encode())
        _feed_tree(digest, "members", directory / "members")
        _feed_tree(digest, "snapshot", directory / "snapshot")
    except _Unhashable:
        return None
    return digest.hexdigest()


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
                           raw["example_data"] is True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


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


def write_record(record: Path, output: Path, inputs: str | None, names: Sequence[str],
                 warnings: Sequence[str], example_data: bool, mode: int) -> None:
    """Record a finished build of `names` in `output`; without an input digest, remove any
    old record instead. A temporary file a killed run left is removed first."""
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
    text = json.dumps({"version": RECORD_VERSION, "inputs": inputs,
                       "output": str(output.resolve()), "configs": list(names),
                       "outputs": {name: vars(o) for name, o in sorted(outputs.items())},
                       "warnings": list(warnings), "example_data": example_data},
                      indent=1, sort_keys=True) + "\n"
    write_atomic(record, text, mode=mode)


def forget(path: Path) -> None:
    """Remove a record (as a file or link, never followed)."""
    try:
        path.unlink()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
