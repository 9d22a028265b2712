"""Only what rsgen refresh writes may be in snapshot/ (items 2 and 7 of the snapshot audit).

The attack: a pull request adds `snapshot/irr/AS17557.json` followed by a newline. The old
`re.match(...$)` took it for AS17557's file (`$` matches before a trailing newline); it
sorted after the real one and won, carrying `0.0.0.0/0{8,24}` into the config, and looked like
a duplicate in review. Now every entry of snapshot/ must be exactly a name rsgen writes, as a
regular file, read without following links and within a size cap.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import rsgen.snapshot
from rsgen.builder import build
from rsgen.errors import ExitCode, NoSnapshot
from rsgen.refresher import refresh
from rsgen.snapshot import member_file_asn, read_snapshot
from tests.helpers import copy_example, source_settings
from tests.security.snapshot_world import read_json, rsgen_cli, tree_bytes, write_json


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    directory = copy_example(tmp_path / "ix")
    (directory / "snapshot" / "provenance.json").unlink()  # names are checked first anyway
    return directory


def _shadow(exchange: Path, name: str) -> Path:
    real = exchange / "snapshot" / "irr" / "AS17557.json"
    data = read_json(real)
    data["ipv4"] = ["0.0.0.0/0{8,24}", *data["ipv4"]]
    shadow = real.with_name(name)
    write_json(shadow, data)
    return shadow


def test_shadow_file_with_a_trailing_newline_is_refused_by_build(exchange: Path) -> None:
    """The reported attack: exit 6, the file named (its newline visible), nothing written."""
    _shadow(exchange, "AS17557.json\n")
    result = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert "AS17557.json\\n" in result.stderr
    assert "not a snapshot file name (want AS<asn>.json" in result.stderr
    assert not (exchange / "out").exists()
    with pytest.raises(NoSnapshot, match="not a snapshot file name"):
        read_snapshot(exchange)


def test_shadow_file_does_not_survive_refresh(exchange: Path) -> None:
    """refresh refuses the directory before any query, and leaves it byte for byte."""
    _shadow(exchange, "AS17557.json\n")
    before = tree_bytes(exchange / "snapshot")
    with pytest.raises(NoSnapshot, match=r"AS17557\.json"):
        refresh(exchange, settings=source_settings("http://127.0.0.1:1", "127.0.0.1:1"),
                accept_shrink=[17557])
    assert tree_bytes(exchange / "snapshot") == before


@pytest.mark.parametrize("name", [
    "AS017557.json", "AS4294967296.json", "AS17557.json.orig", "AS17557.JSON", "as17557.json",
    " AS17557.json", "AS17557.json ", "AS0.json", ".AS17557.json.swp", "AS17557.json\r",
])
def test_member_file_names_other_than_exactly_as_n_json_are_refused(exchange: Path,
                                                                     name: str) -> None:
    _shadow(exchange, name)
    with pytest.raises(NoSnapshot) as caught:
        read_snapshot(exchange)
    assert "not a snapshot file name" in caught.value.message
    assert ascii(name)[1:-1] in caught.value.message or name in caught.value.message
    assert caught.value.exit_code == ExitCode.NO_SNAPSHOT


def test_member_file_name_rules() -> None:
    """Full matches only; the ASN without leading zeros, at most 4294967295."""
    assert member_file_asn("AS17557.json") == 17557
    assert member_file_asn("AS4294967295.json") == 4294967295
    for name in ("AS17557.json\n", "AS017557.json", "AS4294967296.json", "AS99999999999.json",
                 "xAS17557.json", "AS17557.jsonx", "AS.json"):
        assert member_file_asn(name) is None, name


@pytest.mark.parametrize("entry", ["notes.txt", "irr2", ".gitkeep", "provenance.json.bak"])
def test_unknown_entries_at_the_top_of_the_snapshot_are_refused(exchange: Path,
                                                               entry: str) -> None:
    path = exchange / "snapshot" / entry
    if "." in entry.strip("."):
        path.write_text("{}\n")
    else:
        path.mkdir()
    result = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert f"snapshot/{entry}: unexpected entry" in result.stderr


def test_a_directory_where_a_file_belongs_is_refused(exchange: Path) -> None:
    (exchange / "snapshot" / "irr" / "AS3333.json").mkdir()
    with pytest.raises(NoSnapshot, match=r"AS3333\.json: not a regular file"):
        read_snapshot(exchange)
    shutil.rmtree(exchange / "snapshot" / "irr" / "AS3333.json")
    shutil.rmtree(exchange / "snapshot" / "peeringdb")
    (exchange / "snapshot" / "peeringdb").write_text("")
    with pytest.raises(NoSnapshot, match="peeringdb: not a directory"):
        read_snapshot(exchange)


@pytest.mark.parametrize("relative", ["irr/AS17557.json", "peeringdb/AS17557.json",
                                      "meta.json", "provenance.json"])
def test_symlinks_anywhere_in_the_snapshot_are_refused(exchange: Path, tmp_path: Path,
                                                       relative: str) -> None:
    """Even a link to a perfectly good file: rsgen never reads through a link."""
    path = exchange / "snapshot" / relative
    elsewhere = tmp_path / "elsewhere.json"
    if path.exists():
        shutil.copy(path, elsewhere)
        path.unlink()
    else:
        elsewhere.write_text('{"format": 1, "key_id": null, "files": {}}\n')
    path.symlink_to(elsewhere)
    result = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert f"snapshot/{relative}: is a symbolic link" in result.stderr


def test_snapshot_file_linked_to_dev_zero_is_refused_without_reading(exchange: Path) -> None:
    """The memory-exhaustion report: refused at open (O_NOFOLLOW), long before any read."""
    path = exchange / "snapshot" / "irr" / "AS17557.json"
    path.unlink()
    path.symlink_to("/dev/zero")
    started = time.process_time()
    with pytest.raises(NoSnapshot, match="is a symbolic link"):
        read_snapshot(exchange)
    assert time.process_time() - started < 5  # generous: reading /dev/zero would never end


def test_devices_and_fifos_are_refused_without_blocking(exchange: Path) -> None:
    """Opening a FIFO for reading would block until a writer came: O_NONBLOCK, then fstat."""
    fd = os.open(exchange / "snapshot", os.O_RDONLY | os.O_DIRECTORY)
    try:
        path = exchange / "snapshot" / "irr" / "AS17557.json"
        path.unlink()
        os.mkfifo(path)
        with pytest.raises(NoSnapshot, match="not a regular file"):
            read_snapshot(exchange)
        # Also when the FIFO appears after the directory listing (the open itself checks).
        with pytest.raises(NoSnapshot, match="not a regular file"):
            rsgen.snapshot._read_bytes(fd, "irr/AS17557.json", path)
    finally:
        os.close(fd)


def test_files_over_the_size_cap_are_refused(exchange: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert rsgen.snapshot.MAX_FILE_BYTES == 128 * 1024 * 1024
    size = (exchange / "snapshot" / "irr" / "AS17557.json").stat().st_size
    monkeypatch.setattr(rsgen.snapshot, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(NoSnapshot, match=rf"AS17557.json: {size} bytes, more than the "
                                         rf"{size - 1} a snapshot file may have"):
        read_snapshot(exchange)
    monkeypatch.setattr(rsgen.snapshot, "MAX_FILE_BYTES", size + 10_000)
    assert 17557 in read_snapshot(exchange).irr


def test_a_clean_example_still_builds(exchange: Path, tmp_path: Path) -> None:
    """The checks refuse only what refresh never writes."""
    result = build(exchange, tmp_path / "out", offline=True)
    assert [p.name for p in result.written] == ["rs1.conf", "rs2.conf"]
