"""`rsgen deploy` against a real BIRD route server with real BIRD member routers in the verify
lab (tests/deploy_lab.py): a good config is confirmed, one that breaks the sessions is undone,
a killed deploy is undone by BIRD's own timer, --rollback works, and two deploys never run at
once. Marked slow (conftest.SLOW_MODULES)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsgen.deployer.health import HealthPolicy
from rsgen.deployer.run import (
    DeployFailed,
    DeployOptions,
    deploy,
    rollback,
    shared_policy_note,
    status,
)
from rsgen.deployer.state import Paths
from rsgen.errors import ExitCode, Locked
from rsgen.settings import Settings
from tests.deploy_lab import RouteServerLab, route_server_lab
from tests.helpers import REPO, eventually

# Removes one member (its sessions go: observable in BIRD) and changes a shared check (every
# member's import filter reloads: the operator is told).
GOOD = {"exchange.yml": ("max_as_path_length: 32", "max_as_path_length: 31")}
REMOVE_MEMBER = "members/AS23674.yml"
# Parses, passes `bird -p` and `configure check`, and breaks every IPv4 session: rs1's IPv4
# sessions then bind to an address that is not on its interface.
BROKEN = {"exchange.yml": ("    ipv4: 192.0.2.1\n", "    ipv4: 192.0.2.200\n")}


@pytest.fixture
def lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    with route_server_lab(tmp_path) as running:
        yield running


def _options(lab: RouteServerLab, **health: float) -> DeployOptions:
    policy = HealthPolicy(**{"wait_seconds": 120.0, **health})
    return DeployOptions(lab.socket, lab.target, timeout=int(policy.wait_seconds) + 60,
                         health=policy, commit="0123abc")


def _good(lab: RouteServerLab) -> str:
    (lab.directory / REMOVE_MEMBER).unlink()
    try:
        return lab.build_variant("good", GOOD)
    finally:
        (lab.directory / REMOVE_MEMBER).write_text(
            (REPO / REMOVE_MEMBER).read_text())


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rsgen", "deploy", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)


def _unconfirmed(lab: RouteServerLab) -> bool | None:
    return True if "unconfirmed" in lab.control.command("configure", "status") else None


def _settled(lab: RouteServerLab) -> bool | None:
    return None if "unconfirmed" in lab.control.command("configure", "status") else True


def test_a_healthy_config_is_confirmed_and_recorded(lab: RouteServerLab, tmp_path: Path) -> \
        None:
    """A config whose sessions stay up is confirmed: BIRD runs it (the removed member's
    sessions are gone, the others Established), the target holds it, the old one is kept
    as .previous, --status names it, and the shared-policy change is reported."""
    new = _good(lab)
    report = deploy(_write(tmp_path / "new.conf", new), _options(lab), Settings())
    assert report.action == "confirmed"
    assert report.impact is not None and "import_checks_v4" in report.impact.changed_shared
    assert report.health is not None and report.health.ok
    assert set(report.health.removed) == {s for s in lab.sessions if s.startswith("AS23674_")}
    assert lab.target.read_text() == new
    paths = Paths(lab.target)
    assert paths.previous.read_text() == lab.config
    assert not paths.staged.exists()
    assert _settled(lab)
    eventually(lambda: True if _runs_good_config(lab) else None, "the member's sessions gone")
    shown = status(lab.target, lab.socket)
    assert shown["matches_last_deploy"] and shown["last_deploy"]["exchange_commit"] == "0123abc"
    assert shown["rsgen_version"] and shown["route_server"] == "rs1"
    assert shown["bird"]["unconfirmed"] is None and shown["bird"]["last_reconfiguration"]
    again = deploy(tmp_path / "new.conf", _options(lab), Settings())
    assert again.action == "unchanged"
    # `configure "STAGED"` left BIRD's own config file name alone: a plain configure (or a
    # restart) reads the target, which holds what runs.
    assert f"Reading configuration from {lab.target}" in lab.control.command("configure")


def test_a_config_that_breaks_the_sessions_is_undone(lab: RouteServerLab,
                                                     tmp_path: Path) -> None:
    """A config that parses but moves rs1's IPv4 sessions to an address it does not have:
    the health check fails, BIRD is told to undo, the old sessions come back, the target
    stays the old file, and the exit is DEPLOY_UNDONE with the missing sessions named."""
    broken = lab.build_variant("broken", BROKEN)
    with pytest.raises(DeployFailed) as failed:
        deploy(_write(tmp_path / "broken.conf", broken), _options(lab, wait_seconds=20.0),
               Settings())
    report = failed.value.report
    assert failed.value.exit_code == ExitCode.DEPLOY_UNDONE
    assert report.action == "undone"
    assert report.health is not None and report.health.missing
    assert all("_192_0_2_" in name for name in report.health.missing)
    assert report.after_undo is not None and report.after_undo.ok
    assert lab.target.read_text() == lab.config
    assert not Paths(lab.target).staged.exists() and not Paths(lab.target).previous.exists()
    assert _settled(lab)
    eventually(lab.established, "the old sessions back")


def test_a_config_that_filters_a_members_routes_is_undone(lab: RouteServerLab,
                                                          tmp_path: Path) -> None:
    """The sessions stay up but AS9541's IPv4 prefix list no longer holds what it announces
    (the config edited by hand, as a broken template or snapshot would): its imported routes
    drop, so the deploy is undone and its routes come back."""
    one = "AS9541_192_0_2_41"
    start = lab.config.index("define AS9541_PREFIXES_V4 = [")
    end = lab.config.index("];", start) + 2
    filtering = lab.config[:start] + "define AS9541_PREFIXES_V4 = [ 198.51.100.0/24 ];" + \
        lab.config[end:]
    before = {p.protocol for p in lab.control.routes()}
    assert one in before
    with pytest.raises(DeployFailed) as failed:
        deploy(_write(tmp_path / "filtering.conf", filtering),
               _options(lab, wait_seconds=20.0, max_route_drop_percent=0.0), Settings())
    health = failed.value.report.health
    assert health is not None and not health.missing
    assert [drop[0] for drop in health.route_drops] == [one]
    assert failed.value.report.after_undo is not None and failed.value.report.after_undo.ok
    assert lab.target.read_text() == lab.config
    eventually(lab.established, "AS9541's routes accepted again")


def test_a_killed_deploy_is_undone_by_birds_timer(lab: RouteServerLab, tmp_path: Path) -> None:
    """SIGKILL while the new config waits for its health check: nobody confirms, BIRD's own
    timer undoes it, the old sessions come back, and the target is the old file whole."""
    broken = _write(tmp_path / "broken.conf", lab.build_variant("broken", BROKEN))
    process = _cli(str(broken), "--socket", str(lab.socket), "--target", str(lab.target),
                   "--health-timeout", "45", "--timeout", "75")
    try:
        eventually(lambda: _unconfirmed(lab), "the deploy's configure with a timeout")
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    # Until BIRD's timer has run, a new deploy must not configure over the unconfirmed config
    # (BIRD's undo goes back one step only).
    if _unconfirmed(lab):
        with pytest.raises(Locked, match="unconfirmed"):
            deploy(tmp_path / "broken.conf", _options(lab), Settings())
    eventually(lambda: _settled(lab), "BIRD's undo timer", timeout=180)
    assert lab.target.read_text() == lab.config
    eventually(lab.established, "the old sessions back")


def _runs_good_config(lab: RouteServerLab) -> bool:
    """Whether BIRD runs the GOOD variant (it has no sessions of the removed member)."""
    return not any(p.name.startswith("AS23674_") for p in lab.control.protocols())


def _sessions_of_what_runs(lab: RouteServerLab) -> bool | None:
    """True once BIRD runs one of the two configs whole, every session of it Established
    (a protocol the config removed may take a moment to go)."""
    rows = {p.name: p for p in lab.control.protocols()}
    present = frozenset(name for name in lab.sessions if name in rows)
    good = frozenset(s for s in lab.sessions if not s.startswith("AS23674_"))
    whole = present in (lab.sessions, good)
    return True if whole and all(rows[name].established for name in present) else None


def test_deploys_killed_at_random_moments_leave_old_or_new(lab: RouteServerLab,
                                                           tmp_path: Path) -> None:
    """Deploys of two healthy configs, back and forth, SIGKILLed after a random delay (seeded):
    the target is always exactly one of the two files; when it holds the one being deployed,
    BIRD runs that one too (the rename comes after the confirm); BIRD ends up settled (by its
    own timer after a kill before the confirm) with the sessions of what it runs back."""
    configs = {"old": lab.config, "good": _good(lab)}
    for name, text in configs.items():
        _write(tmp_path / f"{name}.conf", text)
    delays = random.Random(20261203)  # noqa: S311 (reproducible kill times, not secrets)
    span = None  # how long one whole deploy takes here: the kills land within it
    for _ in range(8):
        current = lab.target.read_text()
        wanted = "good" if current == configs["old"] else "old"
        started = time.monotonic()
        process = _cli(str(tmp_path / f"{wanted}.conf"), "--socket", str(lab.socket),
                       "--target", str(lab.target), "--health-timeout", "5",
                       "--timeout", "35")
        try:
            # Early kills land in Python's start and bird -p, later ones while BIRD holds the
            # unconfirmed config (each then waits out BIRD's timer), the last after the end.
            process.communicate(timeout=None if span is None
                                else delays.uniform(0, span * 1.05))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        if span is None:
            assert process.returncode == 0
            span = time.monotonic() - started
        eventually(lambda: _settled(lab), "BIRD settled (its timer, if the kill came before "
                   "the confirm)", timeout=180)
        target = lab.target.read_text()
        assert target in configs.values()
        if target == configs[wanted]:
            eventually(lambda w=wanted: True if _runs_good_config(lab) == (w == "good")
                       else None, "BIRD on the config the target holds")
        eventually(lambda: _sessions_of_what_runs(lab), "the sessions of the config BIRD runs")


def test_a_terminated_deploy_undoes_at_once(lab: RouteServerLab, tmp_path: Path) -> None:
    """SIGTERM (a cancelled CI job) while the new config waits for its health check: rsgen
    undoes it itself before it exits, so BIRD holds no unconfirmed config when it is gone."""
    broken = _write(tmp_path / "broken.conf", lab.build_variant("broken", BROKEN))
    process = _cli(str(broken), "--socket", str(lab.socket), "--target", str(lab.target),
                   "--health-timeout", "600", "--timeout", "900")
    try:
        eventually(lambda: _unconfirmed(lab), "the deploy's configure with a timeout")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM
    assert _settled(lab)
    assert lab.target.read_text() == lab.config and not Paths(lab.target).staged.exists()
    eventually(lab.established, "the old sessions back")


def test_rollback_restores_and_loads_the_previous_config(lab: RouteServerLab,
                                                         tmp_path: Path) -> None:
    """After a confirmed deploy, --rollback deploys TARGET.previous again (health-checked):
    the removed member's sessions come back, and the rolled-back config becomes previous."""
    new = _good(lab)
    deploy(_write(tmp_path / "new.conf", new), _options(lab), Settings())
    report = rollback(_options(lab), Settings())
    assert report.action == "confirmed"
    assert lab.target.read_text() == lab.config
    assert Paths(lab.target).previous.read_text() == new
    eventually(lab.established, "the removed member's sessions back")


def test_a_second_deploy_meanwhile_exits_with_the_lock_code(lab: RouteServerLab,
                                                            tmp_path: Path) -> None:
    """While one deploy waits for its health check, a second on the same target exits 8
    naming the holder and changes nothing; the first then fails its check (exit 12, JSON
    report) and BIRD runs the old config."""
    broken = _write(tmp_path / "broken.conf", lab.build_variant("broken", BROKEN))
    first = _cli(str(broken), "--socket", str(lab.socket), "--target", str(lab.target),
                 "--health-timeout", "20", "--timeout", "120", "--json")
    try:
        eventually(lambda: _unconfirmed(lab), "the first deploy's configure")
        second = _cli(str(_write(tmp_path / "good.conf", _good(lab))), "--socket",
                      str(lab.socket), "--target", str(lab.target))
        _, error = second.communicate(timeout=120)
        assert second.returncode == ExitCode.LOCKED, error
        assert f"pid {first.pid}" in error
        out, error = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGTERM)
            first.wait()
    assert first.returncode == ExitCode.DEPLOY_UNDONE, error
    document = json.loads(out)
    assert document["exit_code"] == ExitCode.DEPLOY_UNDONE and document["errors"]
    report = document["result"]
    assert report["action"] == "undone" and report["health"]["missing"]
    assert lab.target.read_text() == lab.config
    eventually(lab.established, "the old sessions back")


def test_bird_reloads_the_sessions_the_report_names(lab: RouteServerLab,
                                                    tmp_path: Path) -> None:
    """The reload report is what BIRD does. One more next hop for AS9541: only its IPv4
    session's import filter runs again (its "Import updates" count grows, no other's), and no
    shared policy is reported. Then a change to the shared checks: every simulated session's
    filter runs again, and the operator is told to schedule such a change."""
    counts = lab.import_updates()
    one = "AS9541_192_0_2_41"
    member = lab.build_variant("member", {"members/AS9541.yml": (
        "sessions:", "next_hops: [192.0.2.49]\nsessions:")})
    report = deploy(_write(tmp_path / "member.conf", member), _options(lab), Settings())
    assert report.impact is not None and report.impact.filters_reloaded == (one,)
    assert shared_policy_note(report.impact) is None
    eventually(lambda: True if lab.import_updates()[one] > counts[one] else None,
               "AS9541's filter run again")
    now = lab.import_updates()
    assert {n: c for n, c in now.items() if n != one} == \
        {n: c for n, c in counts.items() if n != one}
    shared = lab.build_variant("shared", GOOD)
    report = deploy(_write(tmp_path / "shared.conf", shared), _options(lab), Settings())
    assert report.impact is not None and lab.sessions <= set(report.impact.filters_reloaded)
    note = shared_policy_note(report.impact)
    assert note is not None and "import_checks_v4" in note
    eventually(lambda: True if all(lab.import_updates()[n] > now[n] for n in lab.sessions)
               else None, "every session's filter run again")


def test_birds_undo_goes_back_one_step_only(lab: RouteServerLab, tmp_path: Path) -> None:
    """The BIRD fact behind refusing to deploy over an unconfirmed config: after two
    `configure ... timeout`, `configure undo` returns to the first of them, not to the
    config that ran before both."""
    first = _write(tmp_path / "first.conf", _good(lab))
    second = _write(tmp_path / "second.conf", lab.config.replace("scan time 60;",
                                                                  "scan time 50;", 1))
    for config in (first, second):
        assert "Undo scheduled" in lab.control.command("configure", f'"{config}"', "timeout",
                                                       "600")
    lab.control.command("configure", "undo")
    eventually(lambda: True if "in progress" not in lab.control.command(
        "configure", "status") else None, "BIRD done undoing")
    # The first config (without the member's sessions), not the one before both.
    eventually(lambda: True if _runs_good_config(lab) else None, "BIRD on the first config")
