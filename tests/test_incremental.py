"""Incremental builds (rsgen.incremental): when only some members' own files changed, only
their blocks are rendered and checked, and the configs are byte for byte what a full build
writes. Every kind of change below is applied to one copy of the example exchange (built
incrementally on top of its last build) and to another (built in full), and the two compare."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rsgen import incremental
from rsgen.builder import build
from rsgen.buildrecord import RECORD_NAME
from rsgen.errors import BirdRejected, InvalidInput, NoSnapshot
from rsgen.templatedir import default_templates_dir

from .helpers import copy_example


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _irr(ix: Path, asn: int) -> dict[str, object]:
    data: dict[str, object] = json.loads((ix / "snapshot" / "irr" / f"AS{asn}.json")
                                         .read_text(encoding="utf-8"))
    return data


def _write_snapshot_file(ix: Path, relative: str, data: dict[str, object]) -> None:
    """Write a snapshot file as refresh does (sorted, indented) and record it in the
    (unkeyed) provenance manifest, as a refresh of that member would."""
    path = ix / "snapshot" / relative
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _record(ix, relative)


def _record(ix: Path, relative: str) -> None:
    """Record a snapshot file's bytes in the (unkeyed) provenance manifest."""
    content = (ix / "snapshot" / relative).read_bytes()
    manifest_path = ix / "snapshot" / "provenance.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][relative] = {"sha256": hashlib.sha256(content).hexdigest()}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")


def _max_prefixes(ix: Path) -> None:
    with (ix / "members" / "AS9541.yml").open("a", encoding="utf-8") as handle:
        handle.write("max_prefixes:\n  ipv4: 77\n")


def _description(ix: Path) -> None:
    _edit(ix / "members" / "AS9541.yml", "  - ip: 192.0.2.41\n",
          "  - ip: 192.0.2.41\n    description: Cybernet KHI router 1\n")


def _session_removed(ix: Path) -> None:
    # AS9541 keeps only IPv6: its IPv4 blocks go, on both route servers.
    _edit(ix / "members" / "AS9541.yml", "  - ip: 192.0.2.41\n", "")


def _member_removed(ix: Path) -> None:
    (ix / "members" / "AS9541.yml").unlink()


def _irr_tag(ix: Path) -> None:
    # A new shape of import checks: a new shared function in the shared part of the config.
    with (ix / "members" / "AS9541.yml").open("a", encoding="utf-8") as handle:
        handle.write("irr:\n  mode: tag\n")


def _prefix_added(ix: Path) -> None:
    data = _irr(ix, 9541)
    data["ipv4"] = sorted([*data["ipv4"], "203.99.160.0/19"])  # type: ignore[list-item]
    _write_snapshot_file(ix, "irr/AS9541.json", data)


def _new_member(ix: Path) -> None:
    (ix / "members" / "AS135999.yml").write_text(
        "asn: 135999\nname: Newcomer\nsessions:\n  - ip: 192.0.2.99\n", encoding="utf-8")
    _write_snapshot_file(ix, "irr/AS135999.json", {
        "asn": 135999, "ipv4": ["45.113.0.0/22"], "ipv6": [],
        "objects": ["AS135999"], "origins": [135999]})


def _two_members(ix: Path) -> None:
    _max_prefixes(ix)
    _edit(ix / "members" / "AS17557.yml", "name: ", "name: Renamed ")


def _orphan_snapshot_file(ix: Path) -> None:
    # A former member's IRR file changes: nothing of it is in a config, but it is checked.
    data = _irr(ix, 9541)
    (ix / "members" / "AS9541.yml").unlink()
    data["origins"] = [9541, 38193]
    _write_snapshot_file(ix, "irr/AS9541.json", data)


CHANGES: dict[str, tuple[Callable[[Path], None], tuple[int, ...]]] = {
    "max_prefixes": (_max_prefixes, (9541,)),
    "session description": (_description, (9541,)),
    "a session removed": (_session_removed, (9541,)),
    "member removed": (_member_removed, ()),
    "irr tag mode (new import function)": (_irr_tag, (9541,)),
    "IRR prefix added (snapshot file and provenance)": (_prefix_added, (9541,)),
    "new member with its snapshot": (_new_member, (135999,)),
    "two members": (_two_members, (9541, 17557)),
    "former member's snapshot file": (_orphan_snapshot_file, ()),
}


def _configs(ix: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((ix / "out").glob("*.conf"))}


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """The example exchange, built once (full), so its record has a layout."""
    ix = copy_example(tmp_path / "ix")
    first = build(ix, offline=True)
    assert first.incremental is None and not first.skipped
    return ix


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_incremental_build_writes_what_a_full_build_writes(built: Path, tmp_path: Path,
                                                           change: str) -> None:
    apply, expected = CHANGES[change]
    reference = Path(shutil.copytree(built, tmp_path / "reference", symlinks=True))
    (reference / RECORD_NAME).unlink()
    apply(built)
    apply(reference)
    result = build(built, offline=True)
    full = build(reference, offline=True)
    assert result.incremental == expected, "not an incremental build of just those members"
    assert full.incremental is None
    assert _configs(built) == _configs(reference)
    assert result.warnings == full.warnings
    assert result.example_data == full.example_data
    # The record it wrote serves the next build: nothing changed now.
    again = build(built, offline=True)
    assert again.skipped


def test_a_change_after_an_incremental_build_is_incremental_again(built: Path,
                                                                  tmp_path: Path) -> None:
    """Layouts recorded by an incremental build are as good as a full build's."""
    reference = Path(shutil.copytree(built, tmp_path / "reference", symlinks=True))
    for apply in (_max_prefixes, _irr_tag, _prefix_added):
        apply(built)
        apply(reference)
        assert build(built, offline=True).incremental == (9541,)
    (reference / RECORD_NAME).unlink()
    build(reference, offline=True)
    assert _configs(built) == _configs(reference)


def test_warnings_of_unchanged_members_are_said_again(built: Path, tmp_path: Path) -> None:
    """A member's max-prefix warning comes from the record when it did not change."""
    net = json.loads((built / "snapshot" / "peeringdb" / "AS9541.json")
                     .read_text(encoding="utf-8"))
    net["info_prefixes4"] = 10_000_000  # over the exchange's ceiling: ignored, with a warning
    _write_snapshot_file(built, "peeringdb/AS9541.json", net)
    assert build(built, offline=True).incremental == (9541,)
    _edit(built / "members" / "AS17557.yml", "name: ", "name: Renamed ")
    reference = Path(shutil.copytree(built, tmp_path / "reference", symlinks=True))
    result = build(built, offline=True)
    assert result.incremental == (17557,)
    assert result.warnings == build(reference, offline=True, full=True).warnings
    assert any(w.startswith("AS9541: ") for w in result.warnings)


def _meta_rewritten(ix: Path) -> None:
    meta = json.loads((ix / "snapshot" / "meta.json").read_text(encoding="utf-8"))
    path = ix / "snapshot" / "meta.json"
    path.write_text(json.dumps(meta) + "\n", encoding="utf-8")  # other bytes, same data
    _record(ix, "meta.json")


def _exchange_comment(ix: Path) -> None:
    with (ix / "exchange.yml").open("a", encoding="utf-8") as handle:
        handle.write("# a comment\n")


@pytest.mark.parametrize("shared", [_exchange_comment, _meta_rewritten])
def test_a_change_of_shared_inputs_builds_in_full(built: Path,
                                                 shared: Callable[[Path], None]) -> None:
    shared(built)
    _max_prefixes(built)
    assert build(built, offline=True).incremental is None


def test_full_flag_and_custom_templates_build_in_full(built: Path, tmp_path: Path) -> None:
    _max_prefixes(built)
    assert build(built, offline=True, full=True).incremental is None
    templates = Path(shutil.copytree(default_templates_dir(), tmp_path / "templates"))
    build(built, offline=True, templates=templates)
    _description(built)
    assert build(built, offline=True, templates=templates).incremental is None


def test_an_edited_config_is_never_reused(built: Path) -> None:
    """A config that is not the very file the record vouches for: full build."""
    config = built / "out" / "rs1.conf"
    config.write_text(config.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    config.chmod(0o640)
    _max_prefixes(built)
    result = build(built, offline=True)
    assert result.incremental is None
    assert "# edited" not in config.read_text(encoding="utf-8")


def test_a_copied_checkout_with_its_record_builds_in_full(built: Path, tmp_path: Path) -> None:
    """A pull request can commit a record and configs: the copy's files have other inodes
    and ctimes, so nothing of the planted configs is reused."""
    copy = Path(shutil.copytree(built, tmp_path / "copy", symlinks=True))
    planted = copy / "out" / "rs1.conf"
    planted.write_text(planted.read_text(encoding="utf-8").replace(
        "58.65.128.0/17", "0.0.0.0/0"), encoding="utf-8")
    planted.chmod(0o640)
    _max_prefixes(copy)
    result = build(copy, offline=True)
    assert result.incremental is None
    assert "0.0.0.0/0" not in planted.read_text(encoding="utf-8")


def test_a_damaged_snapshot_file_of_a_changed_member_exits_6_naming_it(built: Path) -> None:
    data = _irr(built, 9541)
    data["ipv4"] = ["58.65.128.0/17", "not a prefix"]
    _write_snapshot_file(built, "irr/AS9541.json", data)
    with pytest.raises(NoSnapshot, match=r"irr/AS9541\.json"):
        build(built, offline=True)


def test_an_unrecorded_snapshot_file_is_refused_as_in_a_full_build(built: Path) -> None:
    """Provenance judges every file, reused members' included."""
    path = built / "snapshot" / "irr" / "AS9541.json"
    path.write_text(path.read_text(encoding="utf-8").replace("9541\n ]", "9541, 38193\n ]"),
                    encoding="utf-8")
    with pytest.raises(NoSnapshot) as raised:
        build(built, offline=True)
    with pytest.raises(NoSnapshot) as full:
        build(built, offline=True, full=True)
    assert str(raised.value) == str(full.value)
    assert raised.value.problems == full.value.problems
    assert "AS9541.json" in str(raised.value) + "".join(
        str(p.file) + p.message for p in raised.value.problems)


def test_an_invalid_member_file_is_reported_as_in_a_full_build(built: Path) -> None:
    _edit(built / "members" / "AS9541.yml", "asn: 9541", "asn: nine")
    with pytest.raises(InvalidInput) as raised:
        build(built, offline=True)
    assert any("AS9541.yml" in (p.file or "") for p in raised.value.problems)


def test_a_duplicate_address_across_members_is_caught(built: Path) -> None:
    """The changed member now uses an unchanged member's address: load sees every file."""
    other = (built / "members" / "AS17557.yml").read_text(encoding="utf-8")
    address = other.split("- ip: ")[1].split("\n")[0]
    _edit(built / "members" / "AS9541.yml", "192.0.2.41", address)
    with pytest.raises(InvalidInput):
        build(built, offline=True)


def test_a_rejected_partial_check_falls_back_to_a_full_build(
        built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If BIRD refuses the changed part, the full build runs and reports with the whole
    config's line numbers (here it passes: the refusal was made up)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise BirdRejected("bird -p rejected it (made up)")

    monkeypatch.setattr(incremental, "bird_parse", refuse)
    _max_prefixes(built)
    result = build(built, offline=True)
    assert result.incremental is None and not result.skipped


def test_the_partial_check_sees_the_changed_blocks_and_the_shared_part(
        built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def record(text: str, name: str, bird: str, **kwargs: object) -> None:
        seen.append(text)

    monkeypatch.setattr(incremental, "bird_parse", record)
    _max_prefixes(built)
    assert build(built, offline=True).incremental == (9541,)
    assert len(seen) == 2
    for text in seen:
        assert "protocol bgp AS9541_" in text and "import limit 77 " in text
        assert "function import_checks_v4" in text  # the shared part
        assert "AS17557" not in text  # a reused block: not checked again


def test_names_outside_the_scheme_are_refused() -> None:
    owned = incremental._names_owned
    assert owned("define AS9541_PREFIXES_V4 = [];\nfunction import_checks_v4()", {9541})
    assert not owned("define AS17557_PREFIXES_V4 = [];", {9541})
    assert not owned("define AS9541_AS17557 = [];", {9541})
    assert not owned("filter as17557_x {", {9541})


def _cli_build(ix: Path, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "rsgen", "build", "--offline", *options,
                           "-C", str(ix)], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cli_says_what_it_rendered(built: Path) -> None:
    _max_prefixes(built)
    said = _cli_build(built)
    assert "incremental build: 1 member(s) changed since the last build (AS9541)" in said
    assert "rs1.conf: written (bird -p ok on the changed parts)" in said
    _description(built)
    said = _cli_build(built, "--full")
    assert "incremental" not in said
    assert "rs1.conf: written (bird -p ok)" in said
