"""Configs are 0640 after every build, also when their content did not change (item 9).

The finding: build skipped unchanged files, so a config made world-readable by hand (or by an
older rsgen, or a umask) kept its mode while holding a BGP password. Now the mode is set on
every run, with fchmod on the file opened without following links, in out/ and in -o DIR.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rsgen.atomic import write_if_changed
from rsgen.builder import CONFIG_MODE, build
from tests.helpers import copy_example


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("where", ["out", "-o new", "-o shared"])
def test_a_loosened_config_is_0640_again_after_an_unchanged_build(tmp_path: Path,
                                                                  where: str) -> None:
    exchange = copy_example(tmp_path / "ix")
    output = {"out": None, "-o new": tmp_path / "configs", "-o shared": tmp_path / "etc-bird"}[
        where]
    if where == "-o shared":
        assert output is not None
        output.mkdir()
        (output / "bird.conf").write_text("# the operator's\n")
    first = build(exchange, output, offline=True)
    configs = first.written
    assert configs and all(_mode(p) == CONFIG_MODE == 0o640 for p in configs)
    for path in configs:
        path.chmod(0o644)
    again = build(exchange, output, offline=True)
    assert again.changed == ()  # nothing to write...
    assert [_mode(p) for p in again.written] == [0o640] * len(configs)  # ...mode fixed anyway
    if where == "-o shared":
        assert output is not None
        assert _mode(output / "bird.conf") == 0o644  # not rsgen's: left alone


def test_a_config_replaced_by_a_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    """Same content behind a link: the link is replaced by a regular 0640 file; the file it
    pointed to keeps its mode (fchmod through a link would have changed it)."""
    exchange = copy_example(tmp_path / "ix")
    output = tmp_path / "etc-bird"
    output.mkdir()
    (output / "bird.conf").write_text("# the operator's\n")
    first = build(exchange, output, offline=True)
    target = tmp_path / "elsewhere.conf"
    target.write_bytes(first.written[0].read_bytes())
    target.chmod(0o644)
    first.written[0].unlink()
    first.written[0].symlink_to(target)
    again = build(exchange, output, offline=True)
    assert again.changed == (first.written[0],)
    assert not first.written[0].is_symlink() and _mode(first.written[0]) == 0o640
    assert _mode(target) == 0o644


def test_write_if_changed_sets_the_mode_of_an_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "x.conf"
    assert write_if_changed(path, "text\n", mode=0o640)
    path.chmod(0o666)
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, "text\n", mode=0o640)
    assert _mode(path) == 0o640 and path.stat().st_mtime_ns == mtime
