"""Mutation tests: every policy rule is proved by verify, not only parsed by BIRD.

For each rule, a copy of the templates has that rule's rejection replaced by a harmless
statement; verify must then fail, and only for that rule's test routes. A rule whose removal
verify does not notice, or that has no test route, fails here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rsgen.load import load_checked
from rsgen.rules import RULES, Rule
from rsgen.snapshot import read_snapshot
from rsgen.values import IPNetwork
from rsgen.verification.run import VerifyOptions, verify
from rsgen.verification.scenarios import member_routes
from tests.helpers import REPO, copy_example

# Two members that between them exercise every rule (checked below). Slow: one verify per
# rule (tests/conftest.py marks this module).
MEMBERS = (23674, 58453)


def _reject(rule: Rule) -> str:
    return f'{{{{ reject("{rule.name}") }}}}'


def test_every_rule_has_a_verify_case_and_a_check_in_the_templates() -> None:
    """Each rule has a test route for the members the mutation test uses, and the templates
    reject with it somewhere."""
    config = load_checked(REPO)
    snapshot = read_snapshot(REPO)
    taken: set[IPNetwork] = set()
    rules = {route.rule for member in config.members if member.asn in MEMBERS
             for route in member_routes(member, snapshot.irr[member.asn], config.exchange,
                                        taken)}
    templates = "".join(p.read_text(encoding="utf-8")
                        for p in (REPO / "templates" / "bird2").glob("*.j2"))
    for rule in RULES:
        assert rule.name in rules, f"rule {rule.name} has no verify test route"
        assert _reject(rule) in templates, f"rule {rule.name} is never checked"


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_verify_catches_the_removal_of_each_rule(rule: Rule, tmp_path: Path) -> None:
    """With one rule's rejection removed from the templates, verify fails naming exactly that
    rule (for each of the members), and no other."""
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    changed = 0
    for path in (templates / "bird2").glob("*.j2"):
        text = path.read_text(encoding="utf-8")
        mutated = text.replace(_reject(rule), f'print "mutation: {rule.name} removed"')
        if mutated != text:
            path.write_text(mutated, encoding="utf-8")
            changed += 1
    assert changed, f"no template rejects with {rule.name}"
    report = verify(VerifyOptions(copy_example(tmp_path / "ix"), members=MEMBERS,
                                  templates=templates))
    failed = {(o.route.member_asn, o.route.rule) for o in report.outcomes if not o.ok}
    assert failed, f"verify did not notice that {rule.name} was removed"
    assert {name for _, name in failed} == {rule.name}, failed
    assert {asn for asn, _ in failed} == set(MEMBERS), failed
