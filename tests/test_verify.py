"""`rsgen verify` end to end: real BIRD route servers and peers in network namespaces.

These tests are the proof that each policy rule works, not only that the config parses: the
bundled example passes, and a config with a rule removed fails naming that rule and member.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import ExitCode
from rsgen.rules import RULES
from rsgen.verify.lab import LAB_MOUNT
from rsgen.verify.report import to_json
from rsgen.verify.run import VerifyOptions, verify
from rsgen.verify.scenarios import ACCEPT
from tests.helpers import REPO, copy_example


def _namespaces() -> set[str]:
    ip = shutil.which("ip")
    assert ip is not None
    listed = subprocess.run([ip, "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.startswith("rsv")}


def _verify_birds() -> list[str]:
    """Command lines of running BIRDs that a verify run started (their files are in its
    rsgen-verify-* work directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # The sandbox (bwrap) names the run's work directory; the BIRD inside sees it as
        # LAB_MOUNT.
        ours = any(b"rsgen-verify-" in a or a.startswith(LAB_MOUNT.encode()) for a in argv)
        if argv and (argv[0].endswith((b"bird", b"bwrap"))) and ours:
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "ix")


def test_example_exchange_passes_every_rule(example: Path) -> None:
    """Every member's valid route reaches every other member unchanged; every violating route
    is filtered with its reason; and no namespace is left behind."""
    before = _namespaces()
    report = verify(VerifyOptions(example))
    failures = [(o.route.member_asn, o.route.rule, o.problems) for o in report.outcomes
                if not o.ok]
    assert failures == []
    rules_seen = {o.route.rule for o in report.outcomes}
    assert rules_seen == {ACCEPT, *(rule.name for rule in RULES)}
    assert len(report.members) == 8
    accepted = [o for o in report.outcomes if o.route.rule == ACCEPT]
    assert all(o.receivers_seen == o.receivers_expected > 0 for o in accepted)
    assert _namespaces() == before


def test_removed_irr_check_is_caught_and_named(example: Path, tmp_path: Path) -> None:
    """A template without the IRR prefix check fails verify, naming the rule and each member."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    member_template = templates / "bird2" / "member.conf.j2"
    text = member_template.read_text()
    broken = text.replace("""    if net !~ {{ family.prefix_set }} then
        {{ reject("irr_prefix") }};
""", "")
    assert broken != text
    member_template.write_text(broken)
    report = verify(VerifyOptions(example, members=(17557, 58453), templates=templates))
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == {(17557, "irr_prefix"), (58453, "irr_prefix")}
    leak = next(o for o in report.outcomes if not o.ok)
    assert leak.seen == "accepted"
    assert any("leaked: AS" in p for p in leak.problems)


def test_cli_verify_json_and_exit_codes(example: Path, tmp_path: Path) -> None:
    """The CLI prints the table, writes versioned JSON, and exits 0; with a rule removed it
    exits with the verify-failed code and names the mismatch."""
    out = tmp_path / "result.json"
    ok = subprocess.run([sys.executable, "-m", "rsgen", "verify", "-C", str(example),
                         "--sample", "3", "--json", str(out)],
                        capture_output=True, text=True, check=False, timeout=300)
    assert ok.returncode == ExitCode.OK, ok.stdout + ok.stderr
    assert "all as expected" in ok.stdout
    data = json.loads(out.read_text())
    assert {"format", "rsgen_version", "exchange", "ok", "seconds", "route_servers", "members",
            "checks", "failed", "results"} <= set(data)
    assert data["ok"] is True and data["format"] == 1 and len(data["members"]) == 3

    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    policy = templates / "bird2" / "policy.conf.j2"
    policy.write_text(policy.read_text().replace(
        'if bgp_path.first != member_asn then {{ reject("first_as") }};', ""))
    bad = subprocess.run([sys.executable, "-m", "rsgen", "verify", "-C", str(example),
                          "--members", "AS23674", "--templates", str(templates)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert bad.returncode == ExitCode.VERIFY_FAILED, bad.stdout + bad.stderr
    assert "MISMATCH AS23674 first_as" in bad.stdout


def test_json_contract_keys_are_stable() -> None:
    """The JSON document's keys are an API for CI tools: this pins them."""
    from rsgen.verify.run import VerifyReport

    document = to_json(VerifyReport("X", ["rs1"], [3333]))
    assert sorted(document) == ["checks", "exchange", "failed", "format", "members", "ok",
                                "results", "route_servers", "rsgen_version", "seconds"]


def test_interrupted_verify_leaves_no_namespace_or_process(example: Path) -> None:
    """Ctrl-C (SIGINT) or kill -TERM in the middle of a run tears the whole lab down."""
    import signal
    import time

    for signum in (signal.SIGINT, signal.SIGTERM):
        before = _namespaces()
        process = subprocess.Popen([sys.executable, "-m", "rsgen", "verify", "-C", str(example)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while _namespaces() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _namespaces() != before, "the lab never came up"
        while not _verify_birds() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _verify_birds(), "no BIRD started"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode != 0
        assert _namespaces() == before, stderr
        assert _verify_birds() == []


def test_missing_bird_is_refused_with_what_to_install(example: Path) -> None:
    """Without BIRD installed, verify says which Debian package to install."""
    from rsgen.errors import MissingTool

    with pytest.raises(MissingTool, match="bird") as caught:
        verify(VerifyOptions(example, bird="/nonexistent/bird"))
    assert "apt-get install bird2" in str(caught.value)


def test_without_root_verify_reruns_in_a_user_namespace_or_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: verify re-runs itself in an unprivileged user namespace when the kernel
    allows it, and otherwise refuses with exit code 10 and what to do."""
    from rsgen import cli
    from rsgen.errors import NoPrivilege
    from rsgen.verify import lab

    def refuse() -> None:
        raise NoPrivilege("rsgen verify needs root", hint="run it with sudo")

    reruns: list[list[str]] = []

    def rerun(argv: list[str]) -> None:
        reruns.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(lab, "check_privileges", refuse)
    monkeypatch.setattr(lab, "reexec_in_user_namespace", rerun)
    monkeypatch.delenv(lab.USERNS_MARK, raising=False)
    monkeypatch.setattr(sys, "argv", ["rsgen", "verify", "-C", "ix"])

    monkeypatch.setattr(lab, "user_namespaces_work", lambda: (True, ""))
    with pytest.raises(SystemExit):
        cli._ensure_lab_privileges()
    assert reruns == [[sys.executable, "-m", "rsgen", "verify", "-C", "ix"]]

    monkeypatch.setattr(lab, "user_namespaces_work", lambda: (False, "disabled by sysctl"))
    with pytest.raises(NoPrivilege) as caught:
        cli._ensure_lab_privileges()
    assert caught.value.exit_code == ExitCode.NO_PRIVILEGE
    assert "sudo" in str(caught.value)
