"""The import-policy rules and their reject-reason codes: one table for templates, docs and verify.

A rejected route carries the large community (route server ASN, REJECT_REASON_ID, code), so
operators (`birdc show route filtered all`) and `rsgen verify` can tell why it was refused.
Codes are part of the exchange's published policy: never renumber one, only add.
"""

from __future__ import annotations

from dataclasses import dataclass

REJECT_REASON_ID = 65520


@dataclass(frozen=True)
class Rule:
    code: int
    name: str  # stable identifier, used in verify reports and JSON
    text: str  # what the BIRD log line and the docs say


RULES: tuple[Rule, ...] = (
    Rule(1, "peering_lan", "peering LAN prefix"),
    Rule(2, "bogon_prefix", "bogon prefix"),
    Rule(3, "prefix_length", "prefix length out of range"),
    Rule(4, "bogon_asn", "bogon ASN in AS path"),
    Rule(5, "as_path_length", "AS path too long"),
    Rule(6, "first_as", "first AS is not the member's ASN"),
    Rule(7, "next_hop", "next hop is not the member's address"),
    Rule(8, "origin_as", "origin ASN not in the member's AS-SET"),
    Rule(9, "irr_prefix", "prefix not in the member's IRR route objects"),
)

RULE_BY_NAME = {rule.name: rule for rule in RULES}
RULE_BY_CODE = {rule.code: rule for rule in RULES}


def bird_reject(name: str) -> str:
    """The BIRD statement that rejects a route for rule `name` (a template global)."""
    rule = RULE_BY_NAME[name]
    return f'reject_because({rule.code}, "{rule.text}")'
