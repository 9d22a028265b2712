"""The communities of the route servers' policy, for the member-facing docs and Alice-LG.

The BIRD templates act on these (templates/bird2/policy.conf.j2); each entry names the BIRD
test that does so (`bird`), and tests/test_docs.py checks that every one appears in a
rendered config, so this table and the templates cannot drift apart unnoticed. Reason codes
and the informational ids themselves live in rsgen.rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsgen.rules import (
    IRR_INFO_ID,
    IRR_TAGGED_RULES,
    REJECT_REASON_ID,
    RPKI_INFO_ID,
    RPKI_INVALID,
    RPKI_UNKNOWN,
    RPKI_VALID,
    RULE_BY_NAME,
    RULES_BY_CODE_ORDER,
)


@dataclass(frozen=True)
class Community:
    """One community: as members write it ("RS" for the route server's ASN, "peer" for a
    receiving member's), what it does, and the BIRD text of the config that acts on it."""

    text: str
    meaning: str
    bird: str
    kind: str  # "large", "standard" (only when the route server's ASN fits 16 bits), "well-known"


# What a member may put on its routes, in the order of the docs.
MEMBER_COMMUNITIES: tuple[Community, ...] = (
    Community("(RS, 0, peer)", "do not announce to peer",
              "(RS_ASN, 0, peer) ~ bgp_large_community", "large"),
    Community("(RS, 0, 0)", "announce to no member (except those named with (RS, 1, peer))",
              "(RS_ASN, 0, 0) ~ bgp_large_community", "large"),
    Community("(RS, 1, peer)", "announce to peer even so (\"do not\" wins over it)",
              "(RS_ASN, 1, peer) ~ bgp_large_community", "large"),
    Community("(RS, 101, peer) .. (RS, 103, peer)", "prepend your ASN 1 to 3 times towards peer",
              "(RS_ASN, 103, peer) ~ bgp_large_community", "large"),
    Community("(RS, 101, 0) .. (RS, 103, 0)",
              "prepend your ASN 1 to 3 times towards every member (one naming peer wins)",
              "(RS_ASN, 103, 0) ~ bgp_large_community", "large"),
    Community("0:peer", "do not announce to peer (peer up to 65535)",
              "(0, peer) ~ bgp_community", "standard"),
    Community("0:RS", "announce to no member (except those named with RS:peer)",
              "(0, RS_ASN) ~ bgp_community", "standard"),
    Community("RS:peer", "announce to peer even so", "(RS_ASN, peer) ~ bgp_community",
              "standard"),
    Community("65535:0", "GRACEFUL_SHUTDOWN (RFC 8326): local preference 0 on the route "
              "servers, passed on to members", "(65535, 0) ~ bgp_community", "well-known"),
)
# Only where exchange.yml has blackhole: (RFC 7999).
BLACKHOLE = Community("65535:666", "BLACKHOLE (RFC 7999): for your own registered space, down "
                      "to host routes; the next hop becomes the exchange's blackhole address "
                      "and NO_EXPORT is added", "(65535, 666) ~ bgp_community", "well-known")


@dataclass(frozen=True)
class Tag:
    """A large community the route servers set themselves (and remove from members' routes)."""

    id: int  # the middle part: (RS, id, value)
    value: int
    meaning: str
    when: str  # "always", "rpki", "rpki tag", "irr tag"


def route_server_tags() -> tuple[Tag, ...]:
    """Every (RS, id, value) the route servers add, from rsgen.rules."""
    tags = [Tag(REJECT_REASON_ID, rule.code, f"rejected: {rule.text}", "always")
            for rule in RULES_BY_CODE_ORDER]
    tags += [Tag(RPKI_INFO_ID, RPKI_VALID, "RPKI valid", "rpki"),
             Tag(RPKI_INFO_ID, RPKI_UNKNOWN, "RPKI unknown (no ROA covers it)", "rpki"),
             Tag(RPKI_INFO_ID, RPKI_INVALID, "RPKI invalid: kept on the route servers, "
                 "announced to nobody", "rpki tag")]
    tags += [Tag(IRR_INFO_ID, RULE_BY_NAME[name].code,
                 f"accepted in IRR tag mode although: {RULE_BY_NAME[name].text}", "irr tag")
             for name in IRR_TAGGED_RULES]
    return tuple(tags)
