"""The import-policy rules and their reject-reason codes: one table for templates, docs and verify.

A rejected route carries the large community (route server ASN, REJECT_REASON_ID, code), so
operators (`birdc show route filtered all`), looking glasses and `rsgen verify` can tell why it
was refused.

The codes are arouteserver's (its "reject reasons", which looking glasses such as Alice-LG are
already configured to map) for every rule both have; rules only rsgen has take codes from
FIRST_RSGEN_CODE up, and RESERVED_CODES keeps arouteserver's other numbers for the rules they
mean there. Codes are part of the exchange's published policy: never renumber one, only add.
They were renumbered once, to arouteserver's numbers (and the IPv6 global unicast check split
off the bogon rule), before any exchange or tool depended on rsgen's earlier 1-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

REJECT_REASON_ID = 65520
# Informational large communities the route server adds: (RS, RPKI_INFO_ID, 1) RPKI valid,
# (RS, RPKI_INFO_ID, 2) RPKI unknown (arouteserver's default numbers).
RPKI_INFO_ID = 1000
RPKI_VALID, RPKI_UNKNOWN = 1, 2
# With rpki.invalid: tag, an invalid route is kept (never exported) with (RS, RPKI_INFO_ID, 4).
RPKI_INVALID = 4
# A member in IRR tag mode (member file irr.mode: tag, for onboarding): a route that fails an
# IRR check is accepted with (RS, IRR_INFO_ID, code), code being the rule's reject reason
# (9 origin not in the AS-SET, 12 prefix not registered), and exported with it.
IRR_INFO_ID = 1001
IRR_TAGGED_RULES = ("origin_as", "irr_prefix")


class Scope(StrEnum):
    """Where a rule's check sits in the config."""

    # In import_checks_v4/_v6, which every member's import filter calls first.
    EXCHANGE = "exchange"
    # In the member's own import filter: the check needs the member's data (addresses,
    # AS-SET origins, IRR prefixes).
    MEMBER = "member"


@dataclass(frozen=True)
class Rule:
    """One import-policy rule: adding a rule is one entry here plus its snippet template.

    The snippet (templates/bird2/rules/<name>.conf.j2) is the rule's BIRD check as an operator
    reads it in the config; verify needs a violating test route for it
    (rsgen.verification.scenarios.VIOLATIONS), and tests fail while either is missing.
    """

    code: int
    name: str  # stable identifier, used in verify reports and JSON
    text: str  # what the BIRD log line and the docs say
    scope: Scope
    families: tuple[int, ...] = (4, 6)

    @property
    def snippet(self) -> str:
        """The rule's template, relative to the templates directory."""
        return f"bird2/rules/{self.name}.conf.j2"


# In the order the import filters check them: exchange-wide checks first (cheap, and the
# same for everyone), then the member's own. The first failing check names the reason.
RULES: tuple[Rule, ...] = (
    Rule(3, "peering_lan", "peering LAN prefix", Scope.EXCHANGE),
    Rule(10, "ipv6_not_global_unicast", "IPv6 prefix outside global unicast 2000::/3",
         Scope.EXCHANGE, families=(6,)),
    Rule(2, "bogon_prefix", "bogon prefix", Scope.EXCHANGE),
    Rule(13, "prefix_length", "prefix length out of range", Scope.EXCHANGE),
    Rule(7, "bogon_asn", "bogon ASN in AS path", Scope.EXCHANGE),
    # RFC 9774 deprecates AS_SET: such a path has no single origin to check (BIRD's
    # bgp_path.last is 0), so it gets its own reason rather than a misleading origin one.
    Rule(64, "as_set", "AS_SET in AS path (RFC 9774)", Scope.EXCHANGE),
    Rule(1, "as_path_length", "AS path too long", Scope.EXCHANGE),
    Rule(6, "first_as", "first AS is not the member's ASN", Scope.EXCHANGE),
    Rule(8, "transit_free", "transit-free ASN in AS path", Scope.EXCHANGE),
    Rule(15, "never_via_route_servers", "never-via-route-servers ASN in AS path",
         Scope.EXCHANGE),
    Rule(14, "rpki_invalid", "RPKI origin validation: invalid", Scope.EXCHANGE),
    Rule(5, "next_hop", "next hop is not the member's address", Scope.MEMBER),
    Rule(9, "origin_as", "origin ASN not in the member's AS-SET", Scope.MEMBER),
    Rule(12, "irr_prefix", "prefix not in the member's IRR route objects", Scope.MEMBER),
)
# The same rules by code: the order of the docs, the config's reason table and verify's table.
RULES_BY_CODE_ORDER: tuple[Rule, ...] = tuple(sorted(RULES, key=lambda rule: rule.code))


def checks_for(scope: Scope, version: int) -> tuple[Rule, ...]:
    """The rules of one scope that apply to one IP version, in check order."""
    return tuple(r for r in RULES if r.scope is scope and version in r.families)


# arouteserver's reject reasons that rsgen has no rule for (yet): a later rule with one of
# these meanings takes its code, and no other rule may use them.
RESERVED_CODES: dict[int, str] = {
    0: "generic: treat the route as rejected",
    4: "invalid AFI",
    11: "prefix in the member's own block list",
    65535: "unknown",
}
# Codes below this are arouteserver's; a rule arouteserver does not have takes the next free
# code from here up.
FIRST_RSGEN_CODE = 64

RULE_BY_NAME = {rule.name: rule for rule in RULES}
RULE_BY_CODE = {rule.code: rule for rule in RULES}


def bird_reject(name: str) -> str:
    """The BIRD statement that rejects a route for rule `name` (a template global).

    It names the announcing member, for the log line, by the BIRD variable `member_asn`, which
    every filter and function that rejects has in scope (import_checks' argument, a variable
    of each member's import filter).
    """
    rule = RULE_BY_NAME[name]
    return f'reject_because(member_asn, {rule.code}, "{rule.text}")'


def bird_irr_tag(name: str) -> str:
    """The BIRD statement that tags, instead of rejecting, a route failing IRR rule `name`
    (a member in IRR tag mode; a template global)."""
    rule = RULE_BY_NAME[name]
    assert name in IRR_TAGGED_RULES, name
    return f"bgp_large_community.add((RS_ASN, {IRR_INFO_ID}, {rule.code}))"
