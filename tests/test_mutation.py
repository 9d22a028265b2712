"""Mutation tests: every policy rule is proved by verify, not only parsed by BIRD.

For each rule of the registry (rsgen.rules.RULES), a copy of the templates has that rule's
snippet replaced by a comment; verify must then fail, and only for that rule's test routes,
for every simulated member that has one. A rule whose removal verify does not notice, or that
has no test route, fails here. The same goes for the IPv6 next-hop rewrite, which is no
rejection but keeps a second router's link-local address from reaching members.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rsgen.rules import RULES, Rule
from rsgen.verification.run import VerifyOptions, verify
from rsgen.verification.scenarios import (
    ACCEPT,
    ALTERNATIVE_PATH,
    GRACEFUL_SHUTDOWN,
    IRR_ORIGIN_TAGGED,
    IRR_PREFIX_TAGGED,
    LINK_LOCAL_NEXT_HOP,
    RPKI_BEFORE_CHANGE,
    WELL_KNOWN_COMMUNITIES,
)
from tests.helpers import REPO, copy_example

# Two members that between them exercise every rule; the first is simulated by rsgen's
# speaker (it has no BGP password), so it also sends an AS_SET and a link-local next hop.
# Slow: one verify per rule (tests/conftest.py marks this module).
MEMBERS = (23674, 58453)
REWRITE = "    bgp_next_hop = bgp_next_hop;\n"


def test_every_rule_has_a_snippet_that_rejects_with_it() -> None:
    """Each rule's check is its own template, and that template rejects with the rule."""
    for rule in RULES:
        snippet = REPO / "templates" / rule.snippet
        assert snippet.is_file(), f"rule {rule.name} has no snippet {rule.snippet}"
        assert "reject(rule_name)" in snippet.read_text(encoding="utf-8"), rule.name


def _without(tmp_path: Path, template: str, line: str) -> Path:
    """A copy of the templates whose bird2/`template` lacks `line` (found exactly once)."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    path = templates / "bird2" / template
    text = path.read_text(encoding="utf-8")
    assert text.count(line) == 1
    path.write_text(text.replace(line, ""), encoding="utf-8")
    return templates


def _verify(templates: Path, tmp_path: Path) -> set[tuple[int, str]]:
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=MEMBERS,
                                  templates=templates))
    cases = {(o.route.member_asn, o.route.rule) for o in report.outcomes}
    assert {asn for asn, _ in cases} == set(MEMBERS)
    return {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_verify_catches_the_removal_of_each_rule(rule: Rule, tmp_path: Path) -> None:
    """With one rule's check removed from the templates, verify fails naming exactly that
    rule, for each of the members that has a test route for it, and no other."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    (templates / rule.snippet).write_text(f"# mutation: {rule.name} removed\n",
                                          encoding="utf-8")
    failed = _verify(templates, tmp_path)
    assert failed, f"verify did not notice that {rule.name} was removed"
    names = {name for _, name in failed}
    # The ROV snippet also tags valid routes: without it, they arrive untagged.
    also = {ACCEPT, RPKI_BEFORE_CHANGE} if rule.name == "rpki_invalid" else set()
    assert rule.name in names and names <= {rule.name} | also, failed
    failed = {(asn, name) for asn, name in failed if name == rule.name}
    # AS_SETs come only from the speaker's member; every other rule from both.
    expected = {MEMBERS[0]} if rule.name == "as_set" else set(MEMBERS)
    assert {asn for asn, _ in failed} == expected, failed


def test_verify_catches_a_link_local_next_hop_passed_on(tmp_path: Path) -> None:
    """Without the IPv6 next-hop rewrite, the speaker's route with a foreign link-local next
    hop reaches members with it: verify fails for exactly that check."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    member = templates / "bird2" / "member-import.conf.j2"  # the shared import checks
    text = member.read_text(encoding="utf-8")
    assert text.count(REWRITE) == 1
    member.write_text(text.replace(REWRITE, ""), encoding="utf-8")
    assert _verify(templates, tmp_path) == {(MEMBERS[0], LINK_LOCAL_NEXT_HOP)}


def test_verify_catches_extra_next_hops_and_more_specifics_not_honoured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The member-file settings next_hops (AS38193) and irr.more_specifics (AS59257): with the
    next-hop check back to session addresses only, and the plan's prefix lists back to the
    registered ones, verify fails for exactly the two scenarios that prove the settings."""
    import rsgen.plan
    from rsgen.verification.scenarios import AUTHORISED_NEXT_HOP, MORE_SPECIFIC

    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    # The next-hop check reads the member's set, defined in its block from family.next_hops.
    member = templates / "bird2" / "member.conf.j2"
    text = member.read_text(encoding="utf-8")
    assert "family.next_hops" in text
    member.write_text(text.replace("family.next_hops",
                                   "family.sessions | map(attribute='address')"),
                      encoding="utf-8")
    monkeypatch.setattr(rsgen.plan, "accepted_prefixes",
                        lambda member, irr, policy, version: irr.prefixes(version))
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=(38193, 59257),
                                  templates=templates))
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == {(38193, AUTHORISED_NEXT_HOP), (59257, MORE_SPECIFIC)}


def test_verify_catches_graceful_shutdown_ignored(tmp_path: Path) -> None:
    """Without the local-preference line for 65535:0, the customer's shorter path wins again:
    every other member gets it instead of its transit's, and verify says so."""
    from rsgen.verification.scenarios import GRACEFUL_SHUTDOWN_ALTERNATIVE

    templates = _without(tmp_path, "policy.conf.j2",
                         "    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;\n")
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=(9541, 17557, 137512),
                                  templates=templates))
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == {(17557, GRACEFUL_SHUTDOWN_ALTERNATIVE)}


def test_verify_catches_bgp_roles_off(tmp_path: Path) -> None:
    """Without `local role rs_server`, the speaker's route carrying Only-to-Customer is no
    longer dropped as a leak (the IRR check filters it instead): verify fails for exactly it."""
    from rsgen.verification.scenarios import ROUTE_LEAK

    templates = _without(tmp_path, "member.conf.j2", "    local role rs_server;\n")
    failed = _verify(templates, tmp_path)
    assert failed == {(MEMBERS[0], ROUTE_LEAK)}


# --- announcement control: each call in the export filter, removed in turn ---

# In export_to (policy.conf.j2), which every member's export filter calls with its ASN.
_ANNOUNCE_TO = "    if !announce_to(peer) then reject;\n"
_PREPEND = "    prepend_member(prepend_times(peer));\n"
_STRIP = "    strip_control_communities();\n"


@pytest.mark.parametrize(("line", "expected"), [
    (_ANNOUNCE_TO, {"not_to_member", "only_to_member", "standard_not_to_member",
                    "standard_only_to_member"}),
    (_PREPEND, {"prepend_to_member", "prepend_to_all"}),
    (_STRIP, {"not_to_member", "only_to_member", "prepend_to_member", "prepend_to_all",
              "standard_not_to_member", "standard_only_to_member"}),
], ids=["announce_to", "prepend", "strip_control_communities"])
def test_verify_catches_announcement_control_removed(line: str, expected: set[str],
                                                     tmp_path: Path) -> None:
    """Without one of the export filter's announcement-control calls, verify fails for
    exactly the scenarios that prove it, on the whole example (a scenario needs a sender and
    two other members): withheld routes exported, prepends missing, control communities
    passed on."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    member = templates / "bird2" / "policy.conf.j2"
    text = member.read_text(encoding="utf-8")
    assert text.count(line) == 1
    member.write_text(text.replace(line, ""), encoding="utf-8")
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), templates=templates))
    failed = {o.route.rule for o in report.outcomes if not o.ok}
    assert failed == expected, [(o.route.rule, o.problems[:2]) for o in report.outcomes
                                 if not o.ok and o.route.rule not in expected]
    if line == _ANNOUNCE_TO:
        for outcome in report.outcomes:
            if not outcome.ok:
                assert any(p.startswith("withheld: ") for p in outcome.problems)
                assert any(p.startswith("leaked: ") for p in outcome.problems)


# --- BLACKHOLE (RFC 7999): each part of it, broken in turn ---

def _replaced(tmp_path: Path, template: str, old: str, new: str) -> Path:
    """A copy of the templates whose bird2/`template` has `old` (found once) replaced."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    path = templates / "bird2" / template
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (template, old)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return templates


# AS58453 refuses blackholes (blackhole.receive: false), so AS23674's blackhole request reaches
# nobody of the two and AS58453's reaches AS23674.
@pytest.mark.parametrize(("template", "old", "new", "expected"), [
    # No next-hop rewrite, no NO_EXPORT: AS23674 gets AS58453's route as it was sent.
    ("member-import.conf.j2",
     "    if blackhole_request() then blackhole_v{{ family.version }}();\n", "",
     {(58453, "blackhole")}),
    ("policy.conf.j2", "    bgp_community.add((65535, 65281));\n", "", {(58453, "blackhole")}),
    # The opt-out ignored: AS58453 gets AS23674's request.
    ("policy.conf.j2", "    if blackhole_request() then reject;\n", "", {(23674, "blackhole")}),
    # Host routes refused for their length, or as RPKI-invalid (verify gives them a ROA for
    # another origin).
    # (The request for space outside the member's is then refused for its length too.)
    ("rules/prefix_length.conf.j2", " && !blackhole_request())", ")",
     {(23674, "blackhole"), (58453, "blackhole"), (23674, "irr_prefix"),
      (58453, "irr_prefix")}),
    ("rules/rpki_invalid.conf.j2", "if !blackhole_request() then {", "if true then {",
     {(23674, "blackhole"), (58453, "blackhole")}),
    # Requests for space outside the member's accepted.
    ("rules/irr_prefix.conf.j2", "net !~ {{ family.blackhole_prefix_set }}", "false",
     {(23674, "irr_prefix"), (58453, "irr_prefix")}),
], ids=["next_hop", "no_export", "opt_out", "length", "rpki", "irr_space"])
def test_verify_catches_each_part_of_blackholing_broken(
        template: str, old: str, new: str, expected: set[tuple[int, str]],
        tmp_path: Path) -> None:
    """With one part of the BLACKHOLE handling broken in the templates, verify fails for
    exactly the blackhole checks that prove that part."""
    assert _verify(_replaced(tmp_path, template, old, new), tmp_path) == expected


# --- rpki.invalid: tag ---

def _tagging_example(tmp_path: Path) -> Path:
    directory = copy_example(tmp_path / "ix")
    exchange = directory / "exchange.yml"
    text = exchange.read_text(encoding="utf-8")
    assert text.count("  invalid: reject\n") == 1
    exchange.write_text(text.replace("  invalid: reject\n", "  invalid: tag\n"), encoding="utf-8")
    return directory


_EXPORT_UNTAGGED = " && (RS_ASN, {{ plan.rpki.info_id }}, {{ plan.rpki.invalid_tag }}) " \
    "!~ bgp_large_community"
_TAG = "bgp_large_community.add((RS_ASN, {{ plan.rpki.info_id }}, {{ plan.rpki.invalid_tag }}));"


@pytest.mark.parametrize(("template", "old", "new"), [
    (None, "", ""),
    ("policy.conf.j2", _EXPORT_UNTAGGED, ""),
    ("rules/rpki_invalid.conf.j2", _TAG, "bgp_large_community.add((RS_ASN, 1, 1));"),
], ids=["as_built", "exported", "untagged"])
def test_verify_proves_rpki_invalid_routes_kept_and_never_exported(
        template: str | None, old: str, new: str, tmp_path: Path) -> None:
    """With rpki.invalid: tag on the whole example, invalid routes must be accepted with
    (RS, 1000, 4) and reach no member; without the export check, or without the tag, verify
    fails for exactly those checks."""
    from rsgen.verification.scenarios import RPKI_INVALID_TAGGED

    templates = None if template is None else _replaced(tmp_path, template, old, new)
    report = verify(VerifyOptions(_tagging_example(tmp_path), templates=templates))
    tagged = {(o.route.member_asn, o.route.rule) for o in report.outcomes
              if o.route.rule == RPKI_INVALID_TAGGED}
    assert tagged, "no member had an RPKI-invalid test route to keep"
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == (set() if template is None else tagged), failed


# --- irr.mode: tag (AS137512 in the example) and the route server's own tags ---

_TAG_MEMBERS = (137512, 23674)  # tagging; rejecting (and sending the spoofed tags)
_FAIL = "{% set fail = irr_tag(rule_name) if member.irr_tag else reject(rule_name) %}"
_TAGGED = {(137512, IRR_ORIGIN_TAGGED), (137512, IRR_PREFIX_TAGGED)}


@pytest.mark.parametrize(("template", "old", "new", "expected"), [
    (None, "", "", set()),
    # IRR failures rejected after all (the origin route is outside the IRR list too).
    ("rules/irr_prefix.conf.j2", _FAIL, "{% set fail = reject(rule_name) %}", _TAGGED),
    ("rules/origin_as.conf.j2", "    {{ irr_tag(rule_name) }};\n", "    {{ reject(rule_name) }};\n",
     {(137512, IRR_ORIGIN_TAGGED)}),
    # Accepted, but without the tag.
    ("rules/irr_prefix.conf.j2", _FAIL,
     '{% set fail = "bgp_large_community.add((RS_ASN, 1, 1))" if member.irr_tag '
     'else reject(rule_name) %}', _TAGGED),
    # A blackhole request outside the tagging member's space accepted (tagged).
    ("rules/irr_prefix.conf.j2", "blackhole_prefix_set }} then\n        {{ reject(rule_name) }};",
     "blackhole_prefix_set }} then\n        {{ fail }};", {(137512, "irr_prefix")}),
    # A member's own (RS, 1001, 12) or (RS, 1000, 1) passed on.
    ("policy.conf.j2", "    bgp_large_community.delete([(RS_ASN, {{ plan.irr_info_id }}, *)]);\n",
     "", {(23674, WELL_KNOWN_COMMUNITIES)}),
    ("policy.conf.j2", "    bgp_large_community.delete([(RS_ASN, {{ plan.rpki_info_id }}, *)]);\n",
     "", {(23674, WELL_KNOWN_COMMUNITIES)}),
], ids=["as_built", "rejected", "origin_rejected", "untagged", "blackhole_space",
        "member_irr_tag", "member_rpki_tag"])
def test_verify_proves_irr_tag_mode_and_the_route_servers_own_tags(
        template: str | None, old: str, new: str, expected: set[tuple[int, str]],
        tmp_path: Path) -> None:
    """AS137512's routes failing the IRR checks must be accepted with (RS, 1001, 9 and 12) and
    reach the other members so; its blackhole requests outside its space stay refused; the
    tags AS23674 sets itself must be gone. Each part broken in turn fails exactly its checks."""
    templates = None if template is None else _replaced(tmp_path, template, old, new)
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=_TAG_MEMBERS,
                                  templates=templates))
    cases = {(o.route.member_asn, o.route.rule) for o in report.outcomes}
    assert _TAGGED | {(23674, WELL_KNOWN_COMMUNITIES), (137512, "irr_prefix")} <= cases
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == expected, failed


# --- ADD-PATH (AS38193 of the example sets add_path) ---

@pytest.mark.parametrize("mutated", [False, True], ids=["as_built", "no_add_path"])
def test_verify_proves_add_path(mutated: bool, tmp_path: Path) -> None:
    """AS38193 must receive the paths that are not the best too: AS137512's path for the prefix
    PTCL (AS17557) also announces, and its graceful-shutdown path, which only PTCL gets as
    its best. Without `add paths tx` it gets the best alone, and verify fails for exactly
    those checks."""
    templates = _without(tmp_path, "member.conf.j2", "        add paths tx;\n") if mutated \
        else None
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=(17557, 137512, 38193),
                                  templates=templates))
    second = {(o.route.member_asn, o.route.rule) for o in report.outcomes
              if o.route.rule in (ALTERNATIVE_PATH, GRACEFUL_SHUTDOWN)}
    assert second == {(137512, ALTERNATIVE_PATH), (137512, GRACEFUL_SHUTDOWN)}
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed == (second if mutated else set()), failed
