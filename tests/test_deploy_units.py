"""The pure parts of `rsgen deploy`: what a config change reloads, how a health check judges
BIRD's sessions, the files kept beside the target; and the CLI's refusals that need no BIRD
daemon (the lab tests are tests/test_deploy.py)."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.deployer.health import HealthPolicy, Session, Sessions, judge, parse_sessions
from rsgen.deployer.impact import reload_impact, statements
from rsgen.deployer.run import shared_policy_note
from rsgen.deployer.state import Paths, check_commit, header, read_config
from rsgen.errors import ExitCode, InvalidInput
from tests.helpers import REPO

GOLDEN = REPO / "tests" / "golden" / "example" / "expected" / "rs1.conf"


@pytest.fixture(scope="module")
def config() -> str:
    return GOLDEN.read_text()


@pytest.mark.parametrize("module", ["rsgen.deployer.impact", "rsgen.deployer.health"])
def test_docstring_examples(module: str) -> None:
    """The examples in the deploy modules' docstrings hold."""
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_statements_ignore_comments_and_keep_strings() -> None:
    """A '#' inside a string is not a comment, and comments never make a change."""
    text = 'define A = 1; # x\nfunction f() { print "a # b; }"; /* c */ return 1; }\n'
    assert statements(text) == ['define A = 1;',
                                'function f() { print "a # b; }"; return 1; }']
    assert statements(text) == statements(text.replace("# x", "# another comment"))


def test_the_same_config_reloads_nothing(config: str) -> None:
    """Comments and blank lines changed only: no session is touched."""
    impact = reload_impact(config, config.replace("# ", "#  ").replace("\n\n", "\n\n\n"))
    assert impact.filters_reloaded == () and impact.sessions_changed == ()
    assert not impact.shared_policy_changed and shared_policy_note(impact) is None


def test_a_shared_function_change_reloads_every_member_of_its_family(config: str) -> None:
    """A change to import_checks_v4 reloads the filters of every IPv4 session and of no IPv6
    one, and the operator is told to schedule it."""
    new = config.replace("function import_checks_v4(int member_asn) {",
                         "function import_checks_v4(int member_asn) {\n"
                         "    if net.len = 7 then return false;", 1)
    impact = reload_impact(config, new)
    v4 = set(re.findall(r"protocol bgp (AS[0-9]+_192_0_2_[0-9]+) ", config))
    assert impact.changed_shared == ("import_checks_v4",)
    assert len(v4) >= 8 and set(impact.filters_reloaded) == v4
    note = shared_policy_note(impact)
    assert note is not None and "import_checks_v4" in note and "schedule" in note


def test_a_constant_used_by_every_filter_is_shared(config: str) -> None:
    """A define that every import filter uses (BOGON_ASNS) reloads every session."""
    new = config.replace("define BOGON_ASNS = [", "define BOGON_ASNS = [\n    7,", 1)
    impact = reload_impact(config, new)
    assert impact.changed_shared == ("BOGON_ASNS",)
    assert len(impact.filters_reloaded) == impact.sessions_total


def test_one_members_prefix_list_reloads_only_its_sessions(config: str) -> None:
    """A change to AS9541's origins reloads AS9541's two sessions; nothing shared changed."""
    new = config.replace("define AS9541_ORIGINS = [", "define AS9541_ORIGINS = [ 64496,", 1)
    impact = reload_impact(config, new)
    assert impact.changed_shared == ()
    assert impact.filters_reloaded == ("AS9541_192_0_2_41", "AS9541_2001_db8_ffff__41")


def test_session_settings_added_and_removed_sessions(config: str) -> None:
    """A changed neighbour line is a session change, not a filter reload; sessions only in one
    config are added or removed."""
    new = config.replace("neighbor 192.0.2.41 as 9541", "neighbor 192.0.2.41 as 9542", 1)
    assert reload_impact(config, new).sessions_changed == ("AS9541_192_0_2_41",)
    start = config.index("protocol bgp AS9541_192_0_2_41 {")
    end = config.index("\n}\n", start) + 3
    removed = reload_impact(config, config[:start] + config[end:])
    assert removed.sessions_removed == ("AS9541_192_0_2_41",)
    assert reload_impact(config[:start] + config[end:], config).sessions_added == \
        ("AS9541_192_0_2_41",)


def _sessions(*rows: tuple[str, bool, int, str]) -> Sessions:
    return Sessions({name: Session(name, up, info or ("Established" if up else "Active"), routes)
                     for name, up, routes, info in rows})


BEFORE = _sessions(("a", True, 10, ""), ("b", True, 4, ""), ("c", False, 0,
                                                             "Active Socket: Connection refused"),
                   ("d", True, 1, ""))


def test_health_counts_only_what_was_established() -> None:
    """A session down before the deploy cannot fail it; one the new config removed is not
    missed; all of the rest back with their routes is healthy."""
    after = _sessions(("a", True, 10, ""), ("b", True, 4, ""),
                      ("c", False, 0, "Active Socket: Connection refused"))
    health = judge(BEFORE, after, HealthPolicy())
    assert health.ok and health.removed == ("d",) and health.checked == 2


def test_health_fails_on_a_missing_session_beyond_the_allowed_share() -> None:
    """One of three sessions down: refused at 0 %, accepted when a third may be missing."""
    after = _sessions(("a", True, 10, ""), ("b", False, 0, "Connect"), ("d", True, 1, ""))
    assert not judge(BEFORE, after, HealthPolicy()).ok
    assert judge(BEFORE, after, HealthPolicy(max_missing_percent=34)).ok
    assert judge(BEFORE, after, HealthPolicy()).problems()[0].startswith("1 of 3 sessions")


def test_health_fails_on_routes_lost_and_on_new_errors() -> None:
    """A session back with fewer than half its routes fails; so does an error that a session
    which was Established reports now, even within the missing share."""
    after = _sessions(("a", True, 4, ""), ("b", True, 4, ""), ("d", True, 1, ""))
    health = judge(BEFORE, after, HealthPolicy())
    assert not health.ok and health.route_drops == (("a", 10, 4),)
    assert judge(BEFORE, after, HealthPolicy(max_route_drop_percent=60)).ok
    erring = _sessions(("a", True, 10, ""), ("b", False, 0, "Active Received: Bad peer AS"),
                       ("d", True, 1, ""))
    health = judge(BEFORE, erring, HealthPolicy(max_missing_percent=50))
    assert not health.ok and health.new_errors == (("b", "Received: Bad peer AS"),)


def test_route_growth_is_bounded_only_when_asked() -> None:
    """A session importing far more than before passes by default (a new IRR list may accept
    more) and fails with --max-route-growth-percent; a session with no routes before counts
    as one, so it may gain a few."""
    after = _sessions(("a", True, 30, ""), ("b", True, 4, ""), ("d", True, 2, ""))
    assert judge(BEFORE, after, HealthPolicy()).ok
    bounded = judge(BEFORE, after, HealthPolicy(max_route_growth_percent=100))
    assert not bounded.ok and bounded.route_growth == (("a", 10, 30),)
    assert bounded.problems() == ["a: 30 routes imported, 10 before"]
    assert judge(BEFORE, after, HealthPolicy(max_route_growth_percent=200)).ok


def test_route_counts_are_summed_over_channels() -> None:
    """`show protocols all` with two channels on one protocol: both channels' routes count."""
    text = ("m1 BGP --- up 2026-01-01 10:00:00 Established\n"
            "  Channel ipv4\n    Routes:         3 imported, 1 filtered, 5 exported, 0 preferred\n"
            "  Channel ipv6\n    Routes:         2 imported, 0 filtered, 5 exported, 0 preferred\n")
    assert parse_sessions(text).by_name["m1"].imported == 5


def test_header_and_commit(config: str) -> None:
    """The rsgen version and route server come from the config's own header; a commit id must
    be hex."""
    found = header(config)
    assert found["route_server"] == "rs1" and found["rsgen_version"]
    assert header("router id 1.2.3.4;\n") == {"rsgen_version": None, "route_server": None,
                                              "example_data": None}
    assert check_commit("0123abcd") == "0123abcd"
    with pytest.raises(InvalidInput):
        check_commit("main; rm -rf /")


def test_read_config_refuses_links_and_other_files(tmp_path: Path) -> None:
    """The target and the config to deploy are read as regular files only."""
    real = tmp_path / "real.conf"
    real.write_text("x")
    (tmp_path / "link.conf").symlink_to(real)
    os.mkfifo(tmp_path / "fifo.conf")
    assert read_config(real, "config") == "x"
    assert read_config(tmp_path / "missing.conf", "config") is None
    for name in ("link.conf", "fifo.conf"):
        with pytest.raises(InvalidInput):
            read_config(tmp_path / name, "config")


def _rsgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", "deploy", *args], capture_output=True,
                          text=True, check=False, cwd=REPO)


def test_deploy_without_a_running_bird_changes_nothing(tmp_path: Path, config: str) -> None:
    """No BIRD at the socket: exit 13 naming the socket; the target is untouched and no staged
    file is left."""
    target = tmp_path / "bird.conf"
    target.write_text("router id 192.0.2.1;\n")
    new = tmp_path / "new.conf"
    new.write_text(config)
    done = _rsgen(str(new), "--socket", str(tmp_path / "none.ctl"), "--target", str(target))
    assert done.returncode == ExitCode.BIRD_UNREACHABLE, done.stderr
    assert "none.ctl" in done.stderr
    assert target.read_text() == "router id 192.0.2.1;\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".rsgen.lock", "bird.conf",
                                                          "new.conf"]
    assert not Paths(target).staged.exists()


def test_same_bytes_need_no_bird(tmp_path: Path, config: str) -> None:
    """The target already holds the config: exit 0, said so, and BIRD is not even asked."""
    target, new = tmp_path / "bird.conf", tmp_path / "new.conf"
    target.write_text(config)
    new.write_text(config)
    done = _rsgen(str(new), "--socket", str(tmp_path / "none.ctl"), "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr and "unchanged" in done.stdout


def test_another_route_servers_config_is_refused_before_bird(tmp_path: Path,
                                                              config: str) -> None:
    """rs2's config onto rs1's target (a CI mix-up): exit 3 naming both, before BIRD is asked
    (there is none at the socket) and before anything is written."""
    target, new = tmp_path / "bird.conf", tmp_path / "rs2.conf"
    target.write_text(config)
    new.write_text((GOLDEN.parent / "rs2.conf").read_text())
    done = _rsgen(str(new), "--socket", str(tmp_path / "none.ctl"), "--target", str(target))
    assert done.returncode == ExitCode.INVALID_INPUT, done.stderr
    assert "route server rs1" in done.stderr and "rs2's" in done.stderr
    assert target.read_text() == config and not Paths(target).staged.exists()
    allowed = _rsgen(str(new), "--socket", str(tmp_path / "none.ctl"), "--target",
                     str(target), "--other-route-server")
    assert allowed.returncode == ExitCode.BIRD_UNREACHABLE, allowed.stderr


def test_usage_errors(tmp_path: Path) -> None:
    """CONFIG, --rollback and --status exclude each other; BIRD's timer must outlast the health
    check by 30 s (which is the health check's default: --timeout - 30); --rollback without a
    previous config says so."""
    target = tmp_path / "bird.conf"
    assert _rsgen("--target", str(target)).returncode == ExitCode.USAGE
    assert _rsgen("--rollback", "--status", "--target", str(target)).returncode == \
        ExitCode.USAGE
    short = _rsgen("--rollback", "--target", str(target), "--timeout", "60",
                   "--health-timeout", "45")
    assert short.returncode == ExitCode.USAGE and "--timeout 60" in short.stderr
    assert _rsgen("--rollback", "--target", str(target), "--timeout", "30").returncode == \
        ExitCode.USAGE
    none = _rsgen("--rollback", "--target", str(target))
    assert none.returncode == ExitCode.INVALID_INPUT and "no previous config" in none.stderr


def test_dry_run_reports_the_shared_policy_change_and_writes_nothing(tmp_path: Path,
                                                                     config: str) -> None:
    """--dry-run --json: `bird -p` passes, the report (the envelope's result) names the shared
    function and the sessions it reloads, the warning is in the envelope's warnings; the
    target directory is as it was (no lock, no staged file)."""
    target, new = tmp_path / "bird.conf", tmp_path / "new.conf"
    target.write_text(config)
    new.write_text(config.replace("function import_checks_v6(int member_asn) {",
                                  "function import_checks_v6(int member_asn) {\n"
                                  "    if net.len = 7 then return false;", 1))
    done = _rsgen(str(new), "--target", str(target), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["command"] == "deploy" and document["ok"] and document["exit_code"] == 0
    assert any("import_checks_v6" in warning for warning in document["warnings"])
    report = document["result"]
    assert set(report) == {"action", "target", "sha256", "previous_sha256", "impact",
                           "health", "after_undo", "notes"}
    assert report["action"] == "dry run" and report["health"] is None
    assert report["impact"]["shared_policy_changed"] is True
    assert report["impact"]["changed_shared"] == ["import_checks_v6"]
    assert all("_2001_" in name for name in report["impact"]["filters_reloaded"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bird.conf", "new.conf"]
    assert target.read_text() == config


def test_readme_lists_every_exit_code() -> None:
    """README's exit-code table has a row for each ExitCode, deploy's 12 and 13 included: CI
    pipelines branch on them."""
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("### Exit codes"):readme.index("## The exchange directory")]
    listed = {int(code) for code in re.findall(r"^\| ([0-9]+) \|", table, re.MULTILINE)}
    assert {int(code) for code in ExitCode} <= listed


def test_deploy_is_a_library_function() -> None:
    """rsgen.deploy is the command's function, not the package behind it (rsgen.deployer)."""
    import rsgen
    from rsgen.deployer import run

    assert rsgen.deploy is run.deploy
