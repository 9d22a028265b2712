"""`rsgen build` end to end: real bird -p, atomic and deterministic output, exit codes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

import rsgen.builder
import rsgen.refresher
from rsgen.builder import build
from rsgen.errors import BirdRejected, ExitCode, MissingTool, NoSnapshot, TemplatesUnusable
from rsgen.lock import exchange_lock
from rsgen.refresher import RefreshReport
from rsgen.settings import Settings, Tools
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, build_tree, source_settings

IPV4_ONLY = Path(__file__).parent / "golden" / "ipv4-only" / "input"


def rsgen_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, cwd=cwd, check=False, timeout=120)


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return Path(shutil.copytree(IPV4_ONLY, tmp_path / "ix"))


def test_build_writes_checked_configs_and_is_deterministic(exchange: Path) -> None:
    """A build writes one config per route server; building again changes no byte."""
    first = build(exchange, offline=True)
    assert [p.name for p in first.written] == ["rs.conf"]
    content = first.written[0].read_bytes()
    assert b"protocol bgp AS3333_198_51_100_33" in content
    assert (first.written[0].stat().st_mode & 0o777) == 0o640
    second = build(exchange, offline=True)
    assert second.changed == ()
    assert second.written[0].read_bytes() == content


def test_broken_template_is_refused_and_nothing_is_overwritten(exchange: Path,
                                                               tmp_path: Path) -> None:
    """If bird -p rejects a config, the previous output stays as it was."""
    build(exchange, offline=True)
    before = (exchange / "out" / "rs.conf").read_bytes()
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    policy = templates / "bird2" / "policy.conf.j2"
    text = policy.read_text()
    assert "function export_checks()" in text
    policy.write_text(text.replace("function export_checks()", "function export_checks( {"))
    with pytest.raises(BirdRejected, match=r"bird -p rejected rs.conf: .*syntax error") as caught:
        build(exchange, offline=True, templates=templates)
    assert (exchange / "out" / "rs.conf").read_bytes() == before
    # The rejected render is kept where the message points, line number included.
    match = re.search(r"(/\S+/rs\.conf):(\d+):", caught.value.message)
    assert match is not None, caught.value.message
    kept = Path(match.group(1))
    assert f"kept at {kept}" in (caught.value.hint or "")
    line = kept.read_text().splitlines()[int(match.group(2)) - 1]
    assert "function export_checks( {" in line
    shutil.rmtree(kept.parent)


@pytest.mark.parametrize(("damage", "message"), [
    ("missing", r"the templates directory .* lacks bird2/rules/as_set\.conf\.j2"),
    ("syntax", r"bird2/member\.conf\.j2:\d+: template syntax error"),
])
def test_an_unusable_templates_directory_is_a_usage_error(exchange: Path, tmp_path: Path,
                                                          damage: str, message: str) -> None:
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    if damage == "missing":
        (templates / "bird2" / "rules" / "as_set.conf.j2").unlink()
    else:
        with (templates / "bird2" / "member.conf.j2").open("a") as handle:
            handle.write("{% if %}\n")
    with pytest.raises(TemplatesUnusable, match=message) as caught:
        build(exchange, offline=True, templates=templates)
    assert caught.value.exit_code == ExitCode.USAGE


def test_offline_build_without_snapshot_fails_clearly(exchange: Path) -> None:
    """--offline with no snapshot says to run refresh, and writes nothing."""
    shutil.rmtree(exchange / "snapshot")
    with pytest.raises(NoSnapshot, match="no snapshot"):
        build(exchange, offline=True)
    assert not (exchange / "out").exists()


def test_offline_build_with_stale_snapshot_names_the_member(exchange: Path) -> None:
    """A member whose as_set changed since the last refresh is not built from old data."""
    member = exchange / "members" / "AS3333.yml"
    member.write_text(member.read_text() + "as_set: AS-OTHER\n")
    with pytest.raises(NoSnapshot) as caught:
        build(exchange, offline=True)
    assert "AS3333: IRR data is for AS-RIPENCC, but the member now uses AS-OTHER" in \
        str(caught.value.problems[0])


def _count_locks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations every exchange_lock acquisition by the build and refresh code was for."""
    taken: list[str] = []

    def counting(directory: Path, operation: str) -> contextlib.AbstractContextManager[None]:
        taken.append(operation)
        return exchange_lock(directory, operation)

    monkeypatch.setattr(rsgen.builder, "exchange_lock", counting)
    monkeypatch.setattr(rsgen.refresher, "exchange_lock", counting)
    return taken


def test_missing_member_data_triggers_refresh_of_that_member(
        exchange: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --offline, members missing from the snapshot are refreshed before building: by
    the refresh stage, called directly, under the build's lock, which is taken once."""
    build_tree(exchange, {"members/AS10745.yml":
                          "asn: 10745\nname: ARIN\nsessions:\n  - ip: 198.51.100.45\n"})
    asked: list[Sequence[int] | None] = []

    def stand_in(directory: Path, config: object, settings: Settings, *,
                 only: Sequence[int] | None = None, **_: object) -> RefreshReport:
        asked.append(only)
        # The build holds it: a stage that locked again would fail.
        with pytest.raises(RuntimeError, match="not re-entrant"), \
                exchange_lock(directory, "refresh"):
            pass
        return RefreshReport()

    taken = _count_locks(monkeypatch)
    monkeypatch.setattr(rsgen.builder, "refresh_stage", stand_in)
    with pytest.raises(NoSnapshot):  # the stand-in refresh fetches nothing
        build(exchange, settings=Settings())
    assert asked == [[10745]]
    assert taken == ["build"]


def test_build_without_snapshot_refreshes_first_under_one_lock(
        tmp_path: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build from nothing refreshes every member (real sources) in its own locked run and
    returns the refresh's report; the CLI prints it as `rsgen refresh` would."""
    from tests.test_refresh import EXCHANGE, RPSL, _member, _net

    exchange = build_tree(tmp_path / "ix", {"exchange.yml": EXCHANGE,
                                            "members/AS3333.yml": _member(3333, 33),
                                            "members/AS10745.yml": _member(10745, 45)})
    irr = make_irr_server(RPSL)
    peeringdb = make_peeringdb_server(records=[_net(3333, "RIPE::AS-GOOD"), _net(10745, "")])
    taken = _count_locks(monkeypatch)
    result = build(exchange, tmp_path / "out", settings=source_settings(peeringdb.url, irr.host))
    assert result.refreshed is not None and sorted(result.refreshed.updated) == [3333, 10745]
    assert [p.name for p in result.written] == ["rs1.conf"]
    assert taken == ["build"]
    assert build(exchange, tmp_path / "out", settings=Settings()).refreshed is None  # complete

    shutil.rmtree(exchange / "snapshot")
    cli = rsgen_cli("build", "-C", str(exchange), "--peeringdb-url", peeringdb.url,
                    "--irr-host", irr.host)
    assert cli.returncode == ExitCode.OK, cli.stderr
    assert "no snapshot data for some members: refreshing first" in cli.stderr
    assert "refreshed 2 member(s); " in cli.stdout
    assert "rs1.conf: written (bird -p ok)" in cli.stdout


def test_missing_bird_is_reported_with_the_package_to_install(exchange: Path) -> None:
    """Without BIRD installed, build says which Debian package provides it."""
    with pytest.raises(MissingTool, match="bird") as caught:
        build(exchange, offline=True, settings=Settings(tools=Tools(bird="/nonexistent/bird")))
    assert "apt-get install bird2" in str(caught.value)


def test_cli_exit_codes(exchange: Path) -> None:
    """The CLI maps outcomes to the documented exit codes and prints located errors."""
    ok = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert ok.returncode == ExitCode.OK, ok.stderr
    assert "rs.conf: written (bird -p ok)" in ok.stdout

    shutil.rmtree(exchange / "snapshot")
    missing = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert missing.returncode == ExitCode.NO_SNAPSHOT
    assert "hint: run rsgen refresh" in missing.stderr

    (exchange / "members" / "AS3333.yml").write_text("asn: 3333\nname: x\nsesions: []\n")
    invalid = rsgen_cli("check", "-C", str(exchange))
    assert invalid.returncode == ExitCode.INVALID_INPUT
    assert "error: members/AS3333.yml:3: unknown key 'sesions'" in invalid.stderr
    assert "did you mean 'sessions'?" in invalid.stderr

    usage = rsgen_cli("build", "--no-such-option")
    assert usage.returncode == ExitCode.USAGE


def test_installed_package_carries_templates_and_schemas(tmp_path: Path) -> None:
    """A wheel of rsgen contains the BIRD templates and JSON Schemas (works outside the repo)."""
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
            str(tmp_path), str(REPO)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300,
                            env={**os.environ, "PIP_NO_INPUT": "1"})
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("rsgen-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "rsgen/templates/bird2/route-server.conf.j2" in names
    assert "rsgen/schema/member.schema.json" in names


def test_rejected_routes_are_logged_only_when_configured(exchange: Path) -> None:
    """By default no rejection is logged (a full reload would log every filtered route again);
    `policy.log_rejected_routes: true` logs each with the member's ASN (not the path's first
    AS, which is what the member may have faked); a non-boolean is refused."""
    quiet = build(exchange, offline=True).written[0].read_text()
    assert "print" not in quiet
    assert "function reject_because(int member_asn; int reason; string why)" in quiet
    exchange_yml = exchange / "exchange.yml"
    original = exchange_yml.read_text()
    exchange_yml.write_text(original + "policy:\n  log_rejected_routes: true\n")
    logged = build(exchange, offline=True).written[0].read_text()
    assert logged.count("print ") == 1
    assert '    print "rejected ", net, " from AS", member_asn, " path ", bgp_path, ": ", why;\n' \
        in logged
    assert "bgp_path.first, \" path" not in logged
    exchange_yml.write_text(original + "policy:\n  log_rejected_routes: 'yes'\n")
    bad = rsgen_cli("check", "-C", str(exchange))
    assert bad.returncode == ExitCode.INVALID_INPUT, bad.stdout + bad.stderr
    assert "log_rejected_routes" in bad.stdout + bad.stderr


def test_an_output_directory_that_cannot_be_made_is_a_usage_error(exchange: Path,
                                                                   tmp_path: Path) -> None:
    """-o below a regular file: exit 2 naming it, not an internal error."""
    (tmp_path / "file").write_text("x")
    result = rsgen_cli("build", "-C", str(exchange), "--offline", "-o",
                       str(tmp_path / "file" / "out"))
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"cannot write the configs to {tmp_path / 'file' / 'out'}" in result.stderr
    assert "internal error" not in result.stderr
