"""The build record (rsgen.buildrecord): a build with nothing changed skips render and bird -p
and says so; any change, and any record it did not write itself, means a full build."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.buildrecord import RECORD_NAME, input_digest
from rsgen.render import default_templates_dir
from rsgen.settings import Settings
from rsgen.values import Secret

IPV4_ONLY = Path(__file__).parent / "golden" / "ipv4-only" / "input"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return Path(shutil.copytree(IPV4_ONLY, tmp_path / "ix"))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_nothing_changed_skips_and_says_so(exchange: Path) -> None:
    """The second build of unchanged inputs renders nothing, runs no bird -p, leaves the
    config's bytes and file alone, and the CLI says that nothing changed."""
    first = build(exchange, offline=True)
    assert not first.skipped
    config = exchange / "out" / "rs.conf"
    before = config.stat()
    second = build(exchange, offline=True)
    assert second.skipped
    assert second.written == (config,) and second.changed == ()
    after = config.stat()
    assert (after.st_ino, after.st_ctime_ns) == (before.st_ino, before.st_ctime_ns)
    done = subprocess.run([sys.executable, "-m", "rsgen", "build", "--offline", "-C",
                           str(exchange)], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "nothing changed since the last build" in done.stdout
    assert "rs.conf: unchanged (checked by the last build)" in done.stdout


CHANGES: dict[str, Callable[[Path], None]] = {
    "exchange.yml": lambda ix: _append(ix / "exchange.yml", "# one more byte\n"),
    "member file": lambda ix: _append(ix / "members" / "AS3333.yml", "\n"),
    "snapshot file": lambda ix: _append(ix / "snapshot" / "meta.json", " "),
    "new member file": lambda ix: (ix / "members" / "README").write_text("x"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_input_byte_changed_builds_in_full(exchange: Path, change: str) -> None:
    """One byte more in any input (even one that does not change the config) is a full
    build: the record only ever vouches for exactly the inputs it hashed."""
    first = build(exchange, offline=True)
    CHANGES[change](exchange)
    again = build(exchange, offline=True)
    assert not again.skipped
    assert again.written[0].read_bytes() == first.written[0].read_bytes()
    assert build(exchange, offline=True).skipped  # and the new state is recorded


def test_changed_template_and_password_build_in_full(exchange: Path, tmp_path: Path) -> None:
    """A changed template (--templates) and a changed BGP password variable are inputs too."""
    templates = Path(shutil.copytree(default_templates_dir(), tmp_path / "templates"))
    build(exchange, offline=True, templates=templates)
    assert build(exchange, offline=True, templates=templates).skipped
    _append(templates / "bird2" / "bogons.conf.j2", "# audited\n")
    changed = build(exchange, offline=True, templates=templates)
    assert not changed.skipped
    assert "# audited" in changed.written[0].read_text()
    password = Settings(passwords={"RS_PW_OTHER": Secret("s3cret-one")})
    assert not build(exchange, offline=True, templates=templates, settings=password).skipped
    assert build(exchange, offline=True, templates=templates, settings=password).skipped
    other = Settings(passwords={"RS_PW_OTHER": Secret("s3cret-two")})
    assert not build(exchange, offline=True, templates=templates, settings=other).skipped


@pytest.mark.parametrize("damage", ["edit", "delete", "chmod", "replace"])
def test_output_edited_or_deleted_is_rebuilt(exchange: Path, damage: str) -> None:
    """An output edited by hand, deleted, loosened to 0644 or replaced by a copy with the
    same bytes (another inode) is not vouched for any more: built and checked again."""
    first = build(exchange, offline=True)
    config = first.written[0]
    content = config.read_bytes()
    if damage == "edit":
        _append(config, "protocol bgp evil { }\n")
    elif damage == "delete":
        config.unlink()
    elif damage == "chmod":
        config.chmod(0o644)
    else:
        copy = config.with_name("copy")
        shutil.copy(config, copy)
        copy.replace(config)
    again = build(exchange, offline=True)
    assert not again.skipped
    assert config.read_bytes() == content
    assert (config.stat().st_mode & 0o777) == 0o640


def _forge(record_path: Path, inputs: str, config: Path | None = None) -> None:
    """What a pull request can commit: a record claiming these inputs were checked (and, if
    given, that this config is what was written), with file identities of another machine."""
    record = json.loads(record_path.read_text())
    record["inputs"] = inputs
    if config is not None:
        entry = record["outputs"][config.name]
        entry["sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()
        entry["size"] = config.stat().st_size
    record_path.write_text(json.dumps(record))


def test_forged_record_never_skips_a_changed_input(exchange: Path, tmp_path: Path) -> None:
    """A pull request commits out/ with a forged record claiming that its changed member
    file and a bad config were checked: the checkout's files are not the ones any build
    wrote, so the build runs in full, renders the change and replaces the bad config."""
    build(exchange, offline=True)
    checkout = Path(shutil.copytree(exchange, tmp_path / "checkout"))  # new inodes, ctimes
    member = checkout / "members" / "AS3333.yml"
    member.write_text(member.read_text().replace("name: ", "name: Renamed "))
    config = checkout / "out" / "rs.conf"
    config.write_text(config.read_text() + "protocol bgp planted { }\n")
    digest = input_digest(checkout, default_templates_dir(), Settings())
    assert digest is not None
    _forge(checkout / RECORD_NAME, digest, config)
    result = build(checkout, offline=True)
    assert not result.skipped
    text = config.read_text()
    assert "planted" not in text and "Renamed" in text


def test_stale_record_after_input_change_is_not_trusted(exchange: Path) -> None:
    """The record of the last build, left in place, does not cover a changed member file."""
    build(exchange, offline=True)
    member = exchange / "members" / "AS3333.yml"
    member.write_text(member.read_text().replace("name: ", "name: Renamed "))
    result = build(exchange, offline=True)
    assert not result.skipped
    assert "Renamed" in result.written[0].read_text()


@pytest.mark.parametrize("garbage", ["", "{", "[]", '{"version": 1}', "\0" * 10])
def test_damaged_record_means_full_build(exchange: Path, garbage: str) -> None:
    """A record that is not one rsgen wrote (any shape) only costs a full build."""
    build(exchange, offline=True)
    (exchange / RECORD_NAME).write_text(garbage)
    assert not build(exchange, offline=True).skipped
    assert build(exchange, offline=True).skipped


def test_record_as_link_is_not_followed(exchange: Path, tmp_path: Path) -> None:
    """A symbolic link in the record's place is never read as a record."""
    build(exchange, offline=True)
    record = exchange / RECORD_NAME
    real = tmp_path / "elsewhere.json"
    real.write_bytes(record.read_bytes())
    record.unlink()
    record.symlink_to(real)
    assert not build(exchange, offline=True).skipped


def test_foreign_output_directory_gets_no_record(exchange: Path, tmp_path: Path) -> None:
    """A -o directory rsgen does not own (it holds other files) gets no record beside the
    operator's files, and every build there is a full one."""
    target = tmp_path / "etc-bird"
    target.mkdir()
    (target / "other.conf").write_text("# the operator's\n")
    build(exchange, target, offline=True)
    assert not (target / RECORD_NAME).exists() and not (exchange / RECORD_NAME).exists()
    assert not build(exchange, target, offline=True).skipped
