"""Snapshot provenance: which snapshot files `rsgen refresh` wrote, so hand edits show.

The snapshot is committed and reviewed as a diff, but a pull request can change it by hand:
a widened prefix list passes JSON validation, `bird -p` and `rsgen verify`, and the shrink
guard would then even defend it against the real IRR data. So refresh records a content hash
of every snapshot file it wrote or confirmed in snapshot/provenance.json:

    {
     "files": {
      "irr/AS17557.json": {"hmac": "...", "sha256": "..."},
      "meta.json": {"hmac": "...", "sha256": "..."},
      "peeringdb/AS17557.json": {"hmac": "...", "sha256": "..."}
     },
     "format": 1,
     "key_id": "0123456789abcdef"
    }

One entry per line, sorted, no timestamps: the same snapshot gives the same bytes, and two
pull requests touching different members touch different lines. With the environment
variable RSGEN_SNAPSHOT_KEY set (a secret only the refreshing CI job and the trusted
post-merge/deploy job hold), each entry also carries an HMAC-SHA256 binding the file's path
and hash; `key_id` names the key (a hash of it, never the key). Without the key anyone can
recompute a hash, so it only catches edits that did not also edit provenance.json; with the
key, nobody without it can make a file pass.

Each file read for a build gets a Status; build, verify and `rsgen check` refuse (NoSnapshot,
exit code 6) every file that is not RECORDED when a key is set, and MODIFIED files always.

Pure: the key comes in as a value (rsgen.settings reads it at the entry points).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rsgen.errors import ExitCode, NoSnapshot, Problem, RsgenError
from rsgen.values import Secret, brief

PROVENANCE_FILE = "provenance.json"
FORMAT = 1
KEY_ENV = "RSGEN_SNAPSHOT_KEY"
MIN_KEY_LENGTH = 16  # characters; e.g. `openssl rand -hex 32` gives 64

# Domain separation: these hashes and MACs mean nothing anywhere else.
_KEY_ID_DOMAIN = b"rsgen snapshot key id v1\0"
_MAC_DOMAIN = b"rsgen snapshot provenance v1\0"
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")

KEYED_HINT = ("run rsgen refresh with RSGEN_SNAPSHOT_KEY set (the refresh job), or restore the "
              "file from git")
UNKEYED_HINT = ("restore the file from git, or run rsgen refresh to fetch and record the data "
                "again")


class BadKey(RsgenError):
    """RSGEN_SNAPSHOT_KEY is set but unusable (exit code 2, like a wrong option)."""

    exit_code = ExitCode.USAGE


def check_key(key: Secret | None) -> Secret | None:
    """RSGEN_SNAPSHOT_KEY's value (rsgen.settings reads it) as a usable key: None when unset or
    empty (CI systems hand pull requests from forks an empty secret); BadKey when it is too
    short. Its value is never shown."""
    if key is None or not key.reveal():
        return None
    if len(key.reveal()) < MIN_KEY_LENGTH:
        raise BadKey(f"{KEY_ENV} is set but shorter than {MIN_KEY_LENGTH} characters",
                     hint=f"set it to a random value of at least {MIN_KEY_LENGTH} characters "
                          "(e.g. the output of `openssl rand -hex 32`), or unset it")
    return key


def key_id(key: Secret) -> str:
    """Names the key in provenance.json without revealing it: 16 hex digits of a hash."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key.reveal().encode("utf-8")).hexdigest()[:16]


def file_hmac(key: Secret, relative: str, sha256: str) -> str:
    """HMAC-SHA256 binding a snapshot file's path (relative to snapshot/) and content hash."""
    message = _MAC_DOMAIN + relative.encode("utf-8") + b"\0" + sha256.encode("ascii")
    return hmac.new(key.reveal().encode("utf-8"), message, hashlib.sha256).hexdigest()


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Entry:
    sha256: str
    hmac: str | None = None


@dataclass(frozen=True)
class Manifest:
    key_id: str | None  # the key that signed the entries carrying an hmac; None: unsigned
    files: Mapping[str, Entry]  # path relative to snapshot/ -> entry


class Status(StrEnum):
    RECORDED = "recorded"  # hash matches (and, with a key, the HMAC verifies)
    MODIFIED = "modified"  # the file differs from what refresh recorded
    UNRECORDED = "unrecorded"  # no entry for it (or no provenance.json at all)
    UNSIGNED = "unsigned"  # a key is set (or the manifest was signed) but the entry is not
    BAD_SIGNATURE = "bad signature"  # the HMAC is wrong, or made with another key


_WHY = {
    Status.MODIFIED: "modified: its content differs from what rsgen refresh recorded in "
                     f"snapshot/{PROVENANCE_FILE}",
    Status.UNRECORDED: f"unrecorded: snapshot/{PROVENANCE_FILE} has no entry for it, so rsgen "
                       "refresh did not write it",
    Status.UNSIGNED: "unsigned: its provenance entry carries no signature",
    Status.BAD_SIGNATURE: "bad signature: its provenance entry was not signed with this "
                          f"{KEY_ENV}",
}


def parse_manifest(data: Any, path: Path, valid_path: Callable[[str], bool]) -> Manifest:
    """provenance.json's parsed JSON as a Manifest; NoSnapshot naming `path` when malformed."""
    def damaged(what: str) -> NoSnapshot:
        return NoSnapshot(f"{path}: damaged provenance file: {what}",
                          hint="restore it from git, or run rsgen refresh to write it again")

    if not isinstance(data, dict) or set(data) != {"files", "format", "key_id"}:
        raise damaged("want exactly the keys files, format and key_id")
    if data["format"] != FORMAT or type(data["format"]) is not int:
        raise damaged(f"unknown format {str(data['format'])[:20]!r}")
    signer = data["key_id"]
    if signer is not None and not (isinstance(signer, str) and _KEY_ID_RE.fullmatch(signer)):
        raise damaged("key_id must be 16 hex digits or null")
    files = data["files"]
    if not isinstance(files, dict):
        raise damaged("files must be an object")
    entries = {}
    for relative, entry in files.items():
        if not valid_path(relative):
            raise damaged(f"{ascii(relative)[:80]} is not a snapshot data file")
        if not isinstance(entry, dict) or not {"sha256"} <= set(entry) <= {"sha256", "hmac"}:
            raise damaged(f"{relative}: want sha256 and, if signed, hmac")
        digest, mac = entry["sha256"], entry.get("hmac")
        if not (isinstance(digest, str) and _HEX64_RE.fullmatch(digest)):
            raise damaged(f"{relative}: sha256 must be 64 hex digits")
        if mac is not None and not (isinstance(mac, str) and _HEX64_RE.fullmatch(mac)):
            raise damaged(f"{relative}: hmac must be 64 hex digits")
        if mac is not None and signer is None:
            raise damaged(f"{relative}: signed, but key_id is null")
        entries[relative] = Entry(digest, mac)
    return Manifest(signer, entries)


def dump_manifest(manifest: Manifest) -> str:
    """Deterministic text: sorted keys, one file per line, trailing newline."""
    lines = []
    for relative in sorted(manifest.files):
        entry = manifest.files[relative]
        fields = {"sha256": entry.sha256} if entry.hmac is None else \
            {"hmac": entry.hmac, "sha256": entry.sha256}
        lines.append(f"  {json.dumps(relative)}: {json.dumps(fields, sort_keys=True)}")
    files = "{\n" + ",\n".join(lines) + "\n }" if lines else "{}"
    return (f'{{\n "files": {files},\n "format": {FORMAT},\n '
            f'"key_id": {json.dumps(manifest.key_id)}\n}}\n')


def status(manifest: Manifest | None, relative: str, digest: str, key: Secret | None) -> Status:
    """What provenance says about the snapshot file `relative` whose bytes hash to `digest`."""
    entry = None if manifest is None else manifest.files.get(relative)
    if manifest is None or entry is None:
        return Status.UNRECORDED
    if not hmac.compare_digest(entry.sha256, digest):
        return Status.MODIFIED
    if key is None:
        return Status.UNSIGNED if entry.hmac is None and manifest.key_id is not None \
            else Status.RECORDED
    if entry.hmac is None:
        return Status.UNSIGNED
    if manifest.key_id != key_id(key) or not hmac.compare_digest(
            entry.hmac, file_hmac(key, relative, digest)):
        return Status.BAD_SIGNATURE
    return Status.RECORDED


def assess(manifest: Manifest | None, digests: Mapping[str, str],
           key: Secret | None) -> dict[str, Status]:
    """The status of every file read ({relative path: sha256 of its bytes}), sorted by path."""
    return {relative: status(manifest, relative, digests[relative], key)
            for relative in sorted(digests)}


def updated(old: Manifest | None, written: Mapping[str, str], present: Collection[str],
            key: Secret | None) -> Manifest:
    """The manifest after a refresh wrote or confirmed the files `written` ({path: sha256}).

    Entries of files the refresh did not touch (a member whose fetch failed, a PeeringDB
    outage, `only` some members) stay exactly as they were; entries of files no longer
    `present` go. With a key every written file is signed; without one, a confirmed file whose
    old entry already has its hash keeps that entry (and its signature, if any).
    """
    previous = {} if old is None else dict(old.files)
    files: dict[str, Entry] = {}
    for relative in present:
        digest = written.get(relative)
        before = previous.get(relative)
        if digest is None:
            if before is not None:
                files[relative] = before
        elif key is not None:
            files[relative] = Entry(digest, file_hmac(key, relative, digest))
        elif before is not None and before.sha256 == digest:
            files[relative] = before
        else:
            files[relative] = Entry(digest)
    signed = any(entry.hmac is not None for entry in files.values())
    signer = key_id(key) if key is not None else (old.key_id if old is not None and signed
                                                  else None)
    return Manifest(signer, files)


def enforce(statuses: Mapping[str, Status], root: Path, key: Secret | None) -> list[str]:
    """Refuse (NoSnapshot) what a build must not use; return warnings for the rest.

    With a key every file must be RECORDED. Without one, MODIFIED files are refused; UNRECORDED
    (tests, snapshots older than provenance) and UNSIGNED files are allowed with a warning.
    """
    refused = {relative: state for relative, state in statuses.items()
               if state is not Status.RECORDED and (key is not None or
                                                    state is Status.MODIFIED)}
    if refused:
        hint = KEYED_HINT if key is not None else UNKEYED_HINT
        problems = tuple(Problem(_WHY[state], str(root / relative))
                         for relative, state in refused.items())
        checked = "signed by RSGEN_SNAPSHOT_KEY" if key is not None else "recorded"
        raise NoSnapshot(f"{len(refused)} snapshot file(s) are not as rsgen refresh {checked} "
                         "them", hint=hint, problems=problems)
    warnings = []
    for state in (Status.UNRECORDED, Status.UNSIGNED):
        names = [relative for relative, found in statuses.items() if found is state]
        if names:
            warnings.append(f"{len(names)} snapshot file(s) {_summary(state)}: "
                            f"{brief(names)}")
    return warnings


def _summary(state: Status) -> str:
    if state is Status.UNRECORDED:
        return (f"are not recorded in snapshot/{PROVENANCE_FILE} (written before rsgen "
                "recorded provenance, or not by rsgen refresh; run rsgen refresh to record "
                "them)")
    return (f"carry no signature although snapshot/{PROVENANCE_FILE} is signed (run rsgen "
            f"refresh with {KEY_ENV} set to sign them)")
