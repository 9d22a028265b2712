"""`rsgen verify` end to end: real BIRD route servers and peers in network namespaces.

These tests are the proof that each policy rule works, not only that the config parses: the
bundled example passes, and a config with a rule removed fails naming that rule and member.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import ExitCode, VerifyFailed
from rsgen.load import load_checked
from rsgen.rules import RULE_BY_NAME, RULES
from rsgen.settings import Settings, Tools
from rsgen.verification.lab import PREFIX, pids_in
from rsgen.verification.report import to_json
from rsgen.verification.run import VerifyOptions, verify
from rsgen.verification.scenarios import (
    ACCEPT,
    ALTERNATIVE_PATH,
    AUTHORISED_NEXT_HOP,
    BLACKHOLE,
    GRACEFUL_SHUTDOWN,
    GRACEFUL_SHUTDOWN_ALTERNATIVE,
    IMPORT_LIMIT,
    IRR_TAGGED,
    LINK_LOCAL_NEXT_HOP,
    MORE_SPECIFIC,
    MULTI_ROUTER_BEST,
    NOT_TO_MEMBER,
    ONLY_TO_MEMBER,
    PREPEND_TO_ALL,
    PREPEND_TO_MEMBER,
    ROUTE_LEAK,
    RPKI_BEFORE_CHANGE,
    STANDARD_NOT_CONTROL,
    STANDARD_NOT_TO_MEMBER,
    STANDARD_ONLY_TO_MEMBER,
    WELL_KNOWN_COMMUNITIES,
)
from tests.helpers import REPO, copy_example


def _namespaces(pid: int) -> set[str]:
    """The lab namespaces of the verify run with this pid (rsv-<pid>-...): other runs on the
    machine (a parallel test session, a developer's verify) do not count."""
    ip = shutil.which("ip")
    assert ip is not None
    listed = subprocess.run([ip, "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[0] for line in listed.splitlines()
            if line.startswith(f"{PREFIX}{pid}-")}


def _lab_processes(pid: int) -> set[int]:
    """The processes (bwrap and the BIRDs in it) inside that run's namespaces."""
    return set(pids_in(sorted(_namespaces(pid))))


def _proc_text(pid: int, name: str) -> str:
    """/proc/PID/NAME, or "" once the process is gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""


def _alive(pids: set[int]) -> set[int]:
    """Those of the pids that still run (a zombie has let go of everything already)."""
    return {pid for pid in pids
            if _proc_text(pid, "stat").rpartition(")")[2].split()[:1] not in ([], ["Z"])}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "ix")


def test_example_exchange_passes_every_rule(example: Path) -> None:
    """Every member's valid route reaches every other member unchanged; every violating route
    is filtered with its reason; and no namespace is left behind."""
    report = verify(VerifyOptions(example))
    failures = [(o.route.member_asn, o.route.rule, o.problems) for o in report.outcomes
                if not o.ok]
    assert failures == []
    rules_seen = {o.route.rule for o in report.outcomes}
    # No member-file limit of the example is small enough for IMPORT_LIMIT to run.
    # One member is simulated by rsgen's speaker: AS_SET and link-local next hop too.
    assert rules_seen == {ACCEPT, WELL_KNOWN_COMMUNITIES, MULTI_ROUTER_BEST, ALTERNATIVE_PATH,
                          LINK_LOCAL_NEXT_HOP, AUTHORISED_NEXT_HOP, MORE_SPECIFIC,
                          GRACEFUL_SHUTDOWN, GRACEFUL_SHUTDOWN_ALTERNATIVE, RPKI_BEFORE_CHANGE,
                          ROUTE_LEAK, BLACKHOLE, *_ANNOUNCEMENT_CONTROL_16_BIT, *IRR_TAGGED,
                          *(rule.name for rule in RULES)}
    assert len(report.members) == 8
    accepted = [o for o in report.outcomes if o.route.accepted]
    assert all(o.receivers_seen == o.receivers_expected > 0 for o in accepted)
    assert _namespaces(os.getpid()) == set()


_LARGE_CONTROL = {NOT_TO_MEMBER, ONLY_TO_MEMBER, PREPEND_TO_MEMBER, PREPEND_TO_ALL}
_ANNOUNCEMENT_CONTROL_16_BIT = {*_LARGE_CONTROL, STANDARD_NOT_TO_MEMBER,
                                STANDARD_ONLY_TO_MEMBER}


@pytest.mark.parametrize("asns", [(4200000500, 4200000500), (4200000500, 64500)],
                         ids=["32-bit", "32-bit-and-16-bit"])
def test_announcement_control_with_a_32_bit_route_server_asn(
        example: Path, tmp_path: Path, asns: tuple[int, int]) -> None:
    """Route servers with a 32-bit ASN (or one of each): the configs have no standard forms
    where the ASN does not fit 16 bits, and verify proves the large ones with each session's
    own route-server ASN; 0:X, no control community then, reaches X like everyone."""
    exchange = example / "exchange.yml"
    text = exchange.read_text()
    assert text.count("    asn: 64500") == 2
    for asn in asns:
        text = text.replace("    asn: 64500", f"    asn: {asn}", 1)
    exchange.write_text(text)
    out = tmp_path / "out"
    report = verify(VerifyOptions(example, output=out))
    failures = [(o.route.member_asn, o.route.rule, o.problems) for o in report.outcomes
                if not o.ok]
    assert failures == []
    rules = {o.route.rule for o in report.outcomes}
    # 0:X is ordinary for a 32-bit route server only: with one of each, no such scenario.
    assert rules & {STANDARD_NOT_CONTROL, *_ANNOUNCEMENT_CONTROL_16_BIT} == \
        _LARGE_CONTROL | ({STANDARD_NOT_CONTROL} if asns[1] > 0xFFFF else set())
    for name, asn in zip(("rs1", "rs2"), asns, strict=True):
        config = (out / f"{name}.conf").read_text()
        assert f"define RS_ASN = {asn};" in config
        assert ("(0, RS_ASN) ~ bgp_community" in config) == (asn <= 0xFFFF), name
    withheld = [o for o in report.outcomes if o.route.withheld_from]
    assert withheld and all(o.receivers_seen == o.receivers_expected > 0 for o in withheld)


def _remove_rule(templates: Path, name: str) -> None:
    """A copy of the templates without one rule's check (its snippet, rsgen.rules)."""
    (templates / RULE_BY_NAME[name].snippet).write_text(f"# {name} removed\n")


def test_removed_irr_check_is_caught_and_named(example: Path, tmp_path: Path) -> None:
    """A template without the IRR prefix check fails verify, naming the rule and each member."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    _remove_rule(templates, "irr_prefix")
    report = verify(VerifyOptions(example, members=(17557, 58453), templates=templates))
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == {(17557, "irr_prefix"), (58453, "irr_prefix")}
    # (A blackhole request outside the member's space is accepted too, but AS58453 takes none.)
    leak = next(o for o in report.outcomes if not o.ok and not o.route.blackhole)
    assert leak.seen == "accepted"
    assert any("leaked: AS" in p for p in leak.problems)


def test_interpreted_communities_and_missing_global_unicast_check_are_caught(
        example: Path, tmp_path: Path) -> None:
    """Templates as before this policy: BIRD's default `interpret communities on` on member
    sessions, and IPv6 outside 2000::/3 not checked on its own. Verify fails exactly the
    routes carrying NO_EXPORT/NO_ADVERTISE (accepted, but no member receives them) and the
    IPv6 routes outside global unicast (filtered, but for another reason)."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    member_template = templates / "bird2" / "member.conf.j2"
    text = member_template.read_text()
    broken = text.replace("    interpret communities off;\n", "")
    assert broken != text
    member_template.write_text(broken)
    _remove_rule(templates, "ipv6_not_global_unicast")
    report = verify(VerifyOptions(example, members=(17557, 58453), templates=templates))
    failed = {(o.route.member_asn, o.route.rule, o.route.family): o
              for o in report.outcomes if not o.ok}
    assert set(failed) == {
        (17557, WELL_KNOWN_COMMUNITIES, 4), (17557, WELL_KNOWN_COMMUNITIES, 6),
        (58453, WELL_KNOWN_COMMUNITIES, 4),
        (17557, "ipv6_not_global_unicast", 6), (58453, "ipv6_not_global_unicast", 6),
        # The NO_EXPORT the route server adds to blackholes: interpreted, nobody gets them
        # (AS17557's go to nobody anyway: AS58453 takes no blackholes).
        (58453, BLACKHOLE, 4), (58453, BLACKHOLE, 6)}
    for (_, rule, _), outcome in failed.items():
        if rule in (WELL_KNOWN_COMMUNITIES, BLACKHOLE):
            assert outcome.seen == "accepted"
            assert outcome.receivers_seen == 0 < outcome.receivers_expected
        else:
            assert outcome.seen == "filtered (12 irr_prefix)"


def test_cli_verify_json_and_exit_codes(example: Path, tmp_path: Path) -> None:
    """The CLI prints the table, writes versioned JSON, and exits 0; with a rule removed it
    exits with the verify-failed code and names the mismatch."""
    out = tmp_path / "result.json"
    ok = subprocess.run([sys.executable, "-m", "rsgen", "verify", "-C", str(example),
                         "--sample", "3", "--json", str(out)],
                        capture_output=True, text=True, check=False, timeout=300)
    assert ok.returncode == ExitCode.OK, ok.stdout + ok.stderr
    assert "all as expected" in ok.stdout
    # In a pipe, no 80-column wrapping: the rule legend is one line.
    assert any("1 AS path too long" in line and "64 AS_SET in AS path" in line
               for line in ok.stdout.splitlines()), ok.stdout
    document = json.loads(out.read_text())  # the --json envelope (tests/test_json_contract.py)
    assert document["command"] == "verify" and document["ok"] is True
    data = document["result"]
    assert {"format", "rsgen_version", "exchange", "ok", "seconds", "route_servers", "members",
            "checks", "failed", "results"} <= set(data)
    assert data["ok"] is True and data["format"] == 1 and len(data["members"]) == 3

    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    _remove_rule(templates, "first_as")
    bad_json = tmp_path / "failed.json"
    bad = subprocess.run([sys.executable, "-m", "rsgen", "verify", "-C", str(example),
                          "--members", "AS23674", "--templates", str(templates),
                          "--json", str(bad_json)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert bad.returncode == ExitCode.VERIFY_FAILED, bad.stdout + bad.stderr
    assert "MISMATCH AS23674 first_as" in bad.stdout
    # A failed verify's document carries its findings as well as the error.
    failed = json.loads(bad_json.read_text())
    assert failed["ok"] is False and failed["exit_code"] == ExitCode.VERIFY_FAILED
    assert failed["result"]["failed"] > 0 and failed["errors"]


def test_json_contract_keys_are_stable() -> None:
    """The JSON document's keys are an API for CI tools: this pins them."""
    from rsgen.verification.run import VerifyReport

    document = to_json(VerifyReport("X", ["rs1"], [3333]))
    assert sorted(document) == ["checks", "exchange", "failed", "format", "members", "ok",
                                "results", "route_servers", "rsgen_version", "seconds"]


def test_interrupted_verify_leaves_no_namespace_or_process(example: Path) -> None:
    """Ctrl-C (SIGINT) or kill -TERM in the middle of a run tears the whole lab down."""
    import signal
    import time

    for signum in (signal.SIGINT, signal.SIGTERM):
        process = subprocess.Popen([sys.executable, "-m", "rsgen", "verify", "-C", str(example)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Generous: on a busy machine the build before the lab can take a while. A run that
        # ends early is reported with its own output.
        deadline = time.monotonic() + 300
        birds: set[int] = set()
        while process.poll() is None and time.monotonic() < deadline:
            birds = {p for p in _lab_processes(process.pid)
                     if _proc_text(p, "comm").strip() == "bird"}
            if birds:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        assert birds, "no BIRD started in the lab"
        lab = _lab_processes(process.pid)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode != 0
        assert _namespaces(process.pid) == set(), stderr
        assert _alive(lab) == set()


def test_missing_bird_is_refused_with_what_to_install(example: Path) -> None:
    """Without BIRD installed, verify says which Debian package to install."""
    from rsgen.errors import MissingTool

    with pytest.raises(MissingTool, match="bird") as caught:
        verify(VerifyOptions(example), settings=Settings(tools=Tools(bird="/nonexistent/bird")))
    assert "apt-get install bird2" in str(caught.value)


def test_without_root_verify_reruns_in_a_user_namespace_or_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: verify re-runs itself in an unprivileged user namespace when the kernel
    allows it, and otherwise refuses with exit code 10 and what to do."""
    from rsgen import cli
    from rsgen.errors import NoPrivilege
    from rsgen.verification import lab

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


# --- max-prefix limits and path hiding (issue: policy bugs found in review) ---


def _templates_with(tmp_path: Path, old: str, new: str, through: str | None = None,
                    template: str = "member.conf.j2") -> Path:
    """A copy of rsgen's templates with one piece of bird2/`template` replaced: `old`, or
    from `old` through the end of the line holding `through`."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    member = templates / "bird2" / template
    text = member.read_text()
    assert text.count(old) == 1
    start = text.index(old)
    end = start + len(old) if through is None else text.index("\n", text.index(through)) + 1
    member.write_text(text[:start] + new + text[end:])
    return templates


# The limit lines before the fix: the policy limit as `receive limit`, counting filtered routes.
_IMPORT_LIMIT_LINE = \
    "        import limit {{ family.import_limit.value }} action {{ family.limit_action }};\n"
_OLD_LIMIT_LINE = \
    "        receive limit {{ family.import_limit.value }} action {{ family.limit_action }};\n"


def _small_limits(example: Path, action: str) -> None:
    """AS137512: an import limit of 1 per family, far fewer than its filtered test routes.
    AS45669: 2 IPv4 routes, fewer than the 3 prefixes its route objects admit."""
    indus = example / "members" / "AS137512.yml"
    indus.write_text(indus.read_text() + "max_prefixes:\n  ipv4: 1\n  ipv6: 1\n")
    jazz = example / "members" / "AS45669.yml"
    jazz.write_text(jazz.read_text().replace("  ipv4: 300\n", "  ipv4: 2\n"))
    exchange = example / "exchange.yml"
    text = exchange.read_text()
    assert "max_prefix_action: restart" in text
    exchange.write_text(text.replace("max_prefix_action: restart",
                                     f"max_prefix_action: {action}"))


def test_filtered_routes_do_not_count_against_the_import_limit(example: Path,
                                                                tmp_path: Path) -> None:
    """A member whose limit is 1 announces all its test routes in one round, most of them
    filtered: with action `disable` a single trip would keep its sessions down, yet they stay
    up and its valid routes reach every other member. With the limit as the old `receive
    limit` (filtered routes counted), the same member is shut down."""
    from rsgen.plan import plan
    from rsgen.snapshot import read_snapshot
    from rsgen.verification.run import rounds, select_members
    from rsgen.verification.scenarios import member_routes

    _small_limits(example, "disable")
    config = load_checked(example)
    snapshot = read_snapshot(example)
    members = select_members(config, (137512, 9541), None)
    taken: set = set()  # type: ignore[type-arg]
    routes = {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken)
              for m in members}
    first = rounds(plan(config, snapshot, Settings()), members, routes)[0][137512]
    for family in (4, 6):
        assert sum(not r.accepted for r in first if r.family == family) > 1  # over the limit

    report = verify(VerifyOptions(example, members=(137512, 9541)))
    assert [(o.route.rule, o.problems) for o in report.outcomes if not o.ok] == []
    valid = [o for o in report.outcomes if o.route.member_asn == 137512 and o.route.accepted]
    assert {o.route.family for o in valid} == {4, 6}
    assert all(o.receivers_seen == o.receivers_expected > 0 for o in valid)

    old = _templates_with(tmp_path, _IMPORT_LIMIT_LINE, _OLD_LIMIT_LINE,
                          through="receive limit {{ family.receive_limit.value }}")
    assert "receive limit {{ family.import_limit.value }}" in \
        (old / "bird2" / "member.conf.j2").read_text()
    with pytest.raises(VerifyFailed, match="AS137512_192_0_2_81: Automatic shutdown: Route "
                                           "limit exceeded"):
        verify(VerifyOptions(example, members=(137512, 9541), templates=old,
                             session_timeout=10))


@pytest.mark.parametrize(("action", "seen"), [
    ("disable", "0 accepted, down Automatic shutdown: Route limit exceeded"),
    ("block", "2 accepted, established"),
])
def test_import_limit_trips_its_action(example: Path, tmp_path: Path, action: str,
                                       seen: str) -> None:
    """Three acceptable routes against an import limit of 2: every session of the member shows
    the configured action (`show protocols`, routes accepted, BIRD's limit-hit mark). Without
    the import limit line the check fails, naming the member and what was seen."""
    _small_limits(example, action)
    report = verify(VerifyOptions(example, members=(45669, 9541)))
    assert [(o.route.rule, o.problems) for o in report.outcomes if not o.ok] == []
    (limit,) = [o for o in report.outcomes if o.route.rule == IMPORT_LIMIT]
    assert limit.route.member_asn == 45669 and limit.route.limit == (2, action)
    assert limit.seen == seen

    # Without the limit all three are accepted; with `block`, two accepted alone would also
    # be what a lab still receiving the third route shows, so BIRD's "[HIT]" mark decides.
    unlimited = _templates_with(tmp_path, _IMPORT_LIMIT_LINE, "")
    report = verify(VerifyOptions(example, members=(45669, 9541), templates=unlimited))
    failed = [o for o in report.outcomes if not o.ok]
    assert [(o.route.member_asn, o.route.rule) for o in failed] == [(45669, IMPORT_LIMIT)]
    assert "accepted, established" in failed[0].seen, failed[0].seen
    assert action == "disable" or failed[0].seen.endswith("limit not hit"), failed[0].seen


def test_other_router_of_a_member_gets_the_alternative_path(example: Path,
                                                             tmp_path: Path) -> None:
    """PTCL (AS17557, two routers) and its customer AS137512 announce 103.151.44.0/22 and
    2404:f4c0::/32, PTCL with the shorter path from its first router only. Every other member
    gets PTCL's route; PTCL's second router, which would drop PTCL's own path as a loop, gets
    AS137512's instead. Without the own-ASN export check it gets nothing."""
    report = verify(VerifyOptions(example, members=(17557, 137512, 9541)))
    assert [(o.route.rule, o.problems) for o in report.outcomes if not o.ok] == []
    alternative = {(o.route.member_asn, str(o.route.network), o.route.as_path,
                    o.receivers_seen, o.receivers_expected)
                   for o in report.outcomes if o.route.rule == ALTERNATIVE_PATH}
    assert alternative == {(137512, "103.151.44.0/22", (137512, 137512), 4, 4),
                           (137512, "2404:f4c0::/32", (137512, 137512), 4, 4)}
    best = [o for o in report.outcomes if o.route.rule == MULTI_ROUTER_BEST]
    assert {(o.route.member_asn, o.route.as_path) for o in best} == {(17557, (17557,))}
    assert len(best) == 2 and all(o.receivers_seen == o.receivers_expected > 0 for o in best)

    # The loop check of export_to, which every member's export filter calls.
    old = _templates_with(tmp_path, "    if bgp_path ~ [= * (peer) * =] then reject;\n", "",
                          template="policy.conf.j2")
    report = verify(VerifyOptions(example, members=(17557, 137512, 9541), templates=old))
    failed = [o for o in report.outcomes if not o.ok]
    # Graceful shutdown's transit relies on the same check: its own path is its best.
    assert {o.route.rule for o in failed} - {ALTERNATIVE_PATH} <= {GRACEFUL_SHUTDOWN}
    failed = [o for o in failed if o.route.rule == ALTERNATIVE_PATH]
    assert {(o.route.rule, str(o.route.network)) for o in failed} == {
        (ALTERNATIVE_PATH, "103.151.44.0/22"), (ALTERNATIVE_PATH, "2404:f4c0::/32")}
    for outcome in failed:  # the first router gets it anyway (BIRD never echoes a route)
        assert outcome.receivers_seen == 2
        assert all(p.startswith("AS17557-2 session ") for p in outcome.problems)


def test_table_shows_the_shared_prefix_and_limit_checks_in_one_column() -> None:
    """The checks beyond one route per rule (import limit, shared prefixes) have the table's
    "other" column: ok when all passed, FAIL when one did."""
    import io
    import ipaddress

    from rich.console import Console

    from rsgen.verification.expect import Outcome
    from rsgen.verification.report import print_table
    from rsgen.verification.run import VerifyReport
    from rsgen.verification.scenarios import TestRoute

    def outcome(rule: str, ok: bool) -> Outcome:
        route = TestRoute(3333, rule, ipaddress.ip_network("193.0.10.0/24"), (3333,), None,
                          True)
        return Outcome(route, "x", "x", 0, 0, () if ok else ("wrong",))

    for results, cell in (((True, True), "ok"), ((True, False), "FAIL")):
        report = VerifyReport("IX", ["rs1"], [3333], [
            outcome(ACCEPT, True), outcome(ALTERNATIVE_PATH, results[0]),
            outcome(IMPORT_LIMIT, results[1])])
        buffer = io.StringIO()
        print_table(report, Console(file=buffer, force_terminal=False, width=400))
        lines = buffer.getvalue().splitlines()
        (header,) = [line for line in lines if line.startswith("┃ member")]
        (row,) = [line for line in lines if "AS3333 v4" in line]
        cells = [c.strip() for c in row.split("│") if c.strip()]
        assert header.rstrip(" ┃").endswith("other")
        assert cells[1] == "ok" and cells[-1] == cell, row


def test_rtr_caches_off_the_peering_lan(example: Path) -> None:
    """RTR caches on a management network, as exchanges run them: the lab places them there
    (route servers reach them on-link), the configs run unmodified, and ROV is proved as on
    the LAN: invalid routes filtered with reason 14, valid ones tagged."""
    exchange = example / "exchange.yml"
    text = exchange.read_text()
    for old, new in (("{host: 192.0.2.250, port: 3323}", "{host: 203.0.113.250, port: 3323}"),
                     ('{host: "2001:db8:ffff::250", port: 3323}',
                      '{host: "2001:db8:cafe::250", port: 3323}')):
        assert text.count(old) == 1
        text = text.replace(old, new)
    exchange.write_text(text)
    report = verify(VerifyOptions(example, members=(23674, 58453)))
    assert [(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok] == []
    invalid = {(o.route.member_asn, o.route.family) for o in report.outcomes
               if o.route.rule == "rpki_invalid"}
    valid = {(o.route.member_asn, o.route.family) for o in report.outcomes
             if o.route.rpki_valid}
    assert invalid and valid
