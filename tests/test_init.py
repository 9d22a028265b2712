"""rsgen init: a new exchange directory that check and build accept at once, never written
over an existing one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import ExitCode
from rsgen.load import load_checked
from rsgen.scaffold import GITIGNORE_TEXT, ScaffoldRefused, init_exchange, remove_member
from rsgen.snapshot import SnapshotMeta, read_meta, read_snapshot
from tests.helpers import REPO, source_settings


def test_a_new_exchange_checks_and_builds_offline(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rsgen", "init", str(tmp_path / "ix"),
                             "--name", "Lahore IX"], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    directory = tmp_path / "ix"
    config = load_checked(directory)
    assert config.exchange.name == "Lahore IX" and config.members == ()
    assert read_meta(directory) == SnapshotMeta(example=False)  # not the example's mark
    assert read_snapshot(directory).irr == {}
    built = build(directory, offline=True, settings=source_settings())  # bird -p included
    assert {p.name for p in built.written} == {"rs1.conf", "rs2.conf"}
    assert "EXAMPLE" not in (directory / "out" / "rs1.conf").read_text()


def test_the_commented_settings_are_valid_when_uncommented(tmp_path: Path) -> None:
    """Each commented-out section of the skeleton, uncommented, passes rsgen check: the
    comments show working settings, not stale ones."""
    init_exchange(tmp_path / "ix")
    exchange = tmp_path / "ix" / "exchange.yml"
    text = exchange.read_text()
    uncommented = re.sub(r"^# ([a-z_]+:.*|  .*)$", r"\1", text, flags=re.M)
    assert uncommented.count("\n# ") < text.count("\n# ")
    for section in ("peeringdb:", "irr:", "policy:", "rpki:", "blackhole:"):
        assert f"\n{section}" in uncommented, section
    exchange.write_text(uncommented)
    config = load_checked(tmp_path / "ix")
    assert config.exchange.rpki is not None and config.exchange.blackhole is not None


@pytest.mark.parametrize("existing", ["exchange.yml", "members", "snapshot"])
def test_init_never_overwrites(tmp_path: Path, existing: str) -> None:
    directory = tmp_path / "ix"
    directory.mkdir()
    (directory / "elsewhere").write_text("mine\n")
    (directory / existing).symlink_to(directory / "elsewhere")  # a dangling one counts too
    before = sorted(p.name for p in directory.iterdir())
    with pytest.raises(ScaffoldRefused, match=f"already has {existing}") as caught:
        init_exchange(directory)
    assert caught.value.exit_code == ExitCode.USAGE
    assert sorted(p.name for p in directory.iterdir()) == before
    assert (directory / "elsewhere").read_text() == "mine\n"


def test_an_existing_gitignore_is_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    directory.mkdir()
    (directory / ".gitignore").write_text("*.swp\n")
    result = init_exchange(directory)
    assert result.kept == (directory / ".gitignore",)
    assert (directory / ".gitignore").read_text() == "*.swp\n"


def test_the_gitignore_covers_what_rsgen_leaves_beside_the_sources() -> None:
    """The same patterns as rsgen's own repository ignores for its bundled exchange."""
    ours = (REPO / ".gitignore").read_text().splitlines()
    for line in ("/out/", "/.rsgen.lock", ".*.rsgen-*/"):
        assert line in GITIGNORE_TEXT.splitlines() and line in ours


@pytest.mark.parametrize("name", ["", "x: {a", "#nope", "- item", "a\nb", "x" * 101])
def test_a_name_that_would_not_stay_plain_yaml_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldRefused, match="exchange name"):
        init_exchange(tmp_path / "ix", name=name)
    assert not (tmp_path / "ix").exists()


def test_member_remove_deletes_the_file_and_refresh_prunes_later(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    init_exchange(directory)
    members = directory / "members"
    (members / "AS64496.yml").write_text("asn: 64496\nname: X\nsessions:\n  - ip: 192.0.2.10\n")
    (members / "AS64497.yml").symlink_to(members / "AS64496.yml")
    with pytest.raises(ScaffoldRefused, match="not a regular file"):
        remove_member(directory, 64497)
    assert remove_member(directory, 64496) == members / "AS64496.yml"
    assert not (members / "AS64496.yml").exists()
    with pytest.raises(ScaffoldRefused, match=r"no member file members/AS64496\.yml"):
        remove_member(directory, 64496)
