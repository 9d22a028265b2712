"""No symbolic link in the exchange directory moves rsgen's swaps elsewhere (item 5).

The attack: a pull request replaces snapshot/ by a link to a directory anywhere on the host
(CI runs as root). DirectorySwap followed it on purpose, so refresh hard-link-cloned that
directory, swapped a changed copy in and deleted the original. Now a symlinked snapshot/
(exit 6) or out/ (exit 3), snapshot/irr or snapshot/peeringdb (exit 6) is refused, and a
staging/ready/trash leftover that is a link (or not a directory) is removed as a link: never
followed, never renamed into place, never read through.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rsgen.atomic import DirectorySwap, StagedFiles
from rsgen.builder import build
from rsgen.errors import ExitCode, InvalidInput, NoSnapshot
from rsgen.snapshot import read_meta, recover_snapshot
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import copy_example
from tests.security.snapshot_world import (
    Sources,
    make_exchange,
    rsgen_cli,
    start_sources,
    tree_bytes,
)


@pytest.fixture
def sources(make_irr_server: MakeIrrServer,
            make_peeringdb_server: MakePeeringDbServer) -> Sources:
    return start_sources(make_irr_server, make_peeringdb_server)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory elsewhere on the host, which must come out of every test untouched."""
    directory = tmp_path / "host" / "etc-important"
    directory.mkdir(parents=True)
    (directory / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (directory / "meta.json").write_text('{"example": false, "format": 1}\n')
    (directory / "irr").mkdir()
    return directory


def _untouched(victim: Path, before: dict[str, bytes], inode: int) -> None:
    assert tree_bytes(victim) == before
    assert victim.stat().st_ino == inode
    assert sorted(p.name for p in victim.parent.iterdir()) == [victim.name]  # no siblings


def test_symlinked_snapshot_is_refused_by_refresh_and_build(
        tmp_path: Path, sources: Sources, victim: Path) -> None:
    exchange = make_exchange(tmp_path / "ix")
    before, inode = tree_bytes(victim), victim.stat().st_ino
    (exchange / "snapshot").symlink_to(victim)
    env = sources.env()
    for command in (["refresh"], ["build"], ["build", "--offline"], ["check"]):
        result = rsgen_cli(*command, "-C", str(exchange), env=env)
        assert result.returncode == ExitCode.NO_SNAPSHOT, (command, result.stderr)
        assert f"{exchange / 'snapshot'}: is a symbolic link" in result.stderr
    _untouched(victim, before, inode)
    assert (exchange / "snapshot").is_symlink()
    with pytest.raises(NoSnapshot, match="is a symbolic link"):
        read_meta(exchange)


@pytest.mark.parametrize("source", ["irr", "peeringdb"])
def test_symlinked_snapshot_subdirectory_is_refused(tmp_path: Path, sources: Sources,
                                                    victim: Path, source: str) -> None:
    """snapshot/irr -> elsewhere: the clone would have kept the link and written through it."""
    exchange = make_exchange(tmp_path / "ix")
    sources.refresh(exchange)
    shutil.rmtree(exchange / "snapshot" / source)
    (exchange / "snapshot" / source).symlink_to(victim / "irr")
    before, inode = tree_bytes(victim), victim.stat().st_ino
    for command in (["refresh"], ["build", "--offline"]):
        result = rsgen_cli(*command, "-C", str(exchange), env=sources.env())
        assert result.returncode == ExitCode.NO_SNAPSHOT, (command, result.stderr)
        assert f"snapshot/{source}: is a symbolic link" in result.stderr
    _untouched(victim, before, inode)


def test_symlinked_subdirectory_is_refused_even_without_meta_json(
        tmp_path: Path, sources: Sources, victim: Path) -> None:
    """Without meta.json refresh does not read the old snapshot: the check of the clone it
    writes into still refuses the link before any write."""
    exchange = make_exchange(tmp_path / "ix")
    (exchange / "snapshot").mkdir()
    (exchange / "snapshot" / "irr").symlink_to(victim / "irr")
    before, inode = tree_bytes(victim), victim.stat().st_ino
    result = rsgen_cli("refresh", "-C", str(exchange), env=sources.env())
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert "snapshot/irr: is a symbolic link" in result.stderr
    _untouched(victim, before, inode)
    assert sorted(p.name for p in exchange.iterdir() if p.name.startswith(".snapshot")) == []


@pytest.mark.parametrize("leftover", [".snapshot.rsgen-ready", ".snapshot.rsgen-staging",
                                      ".snapshot.rsgen-trash-1-abcd"])
def test_symlinked_snapshot_leftovers_are_removed_as_links(
        tmp_path: Path, sources: Sources, victim: Path, leftover: str) -> None:
    """A committed `.snapshot.rsgen-ready -> /elsewhere` with snapshot/ deleted: readers are
    not sent through it, recovery does not rename it into place, it is unlinked."""
    exchange = make_exchange(tmp_path / "ix")
    link = exchange / leftover
    link.symlink_to(victim)
    before, inode = tree_bytes(victim), victim.stat().st_ino
    assert read_meta(exchange) is None  # not read through the link
    offline = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert offline.returncode == ExitCode.NO_SNAPSHOT
    assert "no snapshot in" in offline.stderr
    assert not link.is_symlink() and not (exchange / "snapshot").exists()
    _untouched(victim, before, inode)
    link.symlink_to(victim)
    sources.refresh(exchange)
    assert not link.is_symlink()
    assert (exchange / "snapshot").is_dir() and not (exchange / "snapshot").is_symlink()
    _untouched(victim, before, inode)


def test_a_leftover_that_is_a_file_is_removed(tmp_path: Path) -> None:
    exchange = copy_example(tmp_path / "ix")
    shutil.rmtree(exchange / "snapshot")
    (exchange / ".snapshot.rsgen-ready").write_text("not a directory\n")
    assert recover_snapshot(exchange)
    assert not (exchange / ".snapshot.rsgen-ready").exists()
    assert not (exchange / "snapshot").exists()


def test_snapshot_that_is_a_file_is_refused(tmp_path: Path) -> None:
    exchange = copy_example(tmp_path / "ix")
    shutil.rmtree(exchange / "snapshot")
    (exchange / "snapshot").write_text("surprise\n")
    with pytest.raises(NoSnapshot, match="snapshot: not a directory"):
        recover_snapshot(exchange)
    assert (exchange / "snapshot").read_text() == "surprise\n"


def test_symlinked_default_out_is_invalid_input(tmp_path: Path, victim: Path) -> None:
    exchange = copy_example(tmp_path / "ix")
    (exchange / "out").symlink_to(victim)
    before, inode = tree_bytes(victim), victim.stat().st_ino
    result = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert f"{exchange / 'out'}: is a symbolic link" in result.stderr
    _untouched(victim, before, inode)
    with pytest.raises(InvalidInput):
        DirectorySwap(exchange / "out").begin()
    _untouched(victim, before, inode)


def test_symlinked_out_leftovers_are_removed_as_links(tmp_path: Path, victim: Path) -> None:
    exchange = copy_example(tmp_path / "ix")
    for name in (".out.rsgen-ready", ".out.rsgen-staging", ".out.rsgen-trash-9-ffff"):
        (exchange / name).symlink_to(victim)
    before, inode = tree_bytes(victim), victim.stat().st_ino
    result = build(exchange, offline=True)
    assert [p.name for p in result.changed] == ["rs1.conf", "rs2.conf"]
    assert not (exchange / "out").is_symlink()
    assert sorted(p.name for p in exchange.iterdir() if p.name.startswith(".out")) == []
    _untouched(victim, before, inode)


def test_symlinked_leftovers_in_an_output_directory_are_removed_as_links(
        tmp_path: Path, victim: Path) -> None:
    """-o DIR: a `.rsgen-ready -> /elsewhere` would have had every file there moved into
    DIR; a `.rsgen-staging` link would have been deleted through."""
    exchange = copy_example(tmp_path / "ix")
    output = tmp_path / "etc-bird"
    output.mkdir()
    (output / "bird.conf").write_text("# the operator's\n")
    (output / ".rsgen-ready").symlink_to(victim)
    (output / ".rsgen-staging").symlink_to(victim)
    before, inode = tree_bytes(victim), victim.stat().st_ino
    build(exchange, output, offline=True)
    assert sorted(p.name for p in output.iterdir()) == ["bird.conf", "rs1.conf", "rs2.conf"]
    _untouched(victim, before, inode)


def test_a_ready_directory_moves_in_only_regular_files(tmp_path: Path, victim: Path) -> None:
    output = tmp_path / "etc-bird"
    (output / ".rsgen-ready").mkdir(parents=True)
    (output / ".rsgen-ready" / "rs1.conf").write_text("# complete\n")
    (output / ".rsgen-ready" / "evil.conf").symlink_to(victim / "passwd")
    assert StagedFiles(output).recover()
    assert sorted(p.name for p in output.iterdir()) == ["rs1.conf"]
    assert (victim / "passwd").read_text().startswith("root:")
