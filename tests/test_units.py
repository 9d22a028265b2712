"""Unit tests of the pure pieces: typed values, policy decisions, template filters, snapshot."""

from __future__ import annotations

import doctest
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsgen.model import IrrData, MaxPrefixes, Member, PeeringDbNet, PolicySettings, Session
from rsgen.plan import bird_symbol, protocol_name
from rsgen.policy import (
    BIRD_LIMIT_MAX,
    choose_as_sets,
    max_prefixes,
    receive_limit,
)
from rsgen.render import bird_int_set, bird_prefix_set, bird_string
from rsgen.snapshot import SnapshotMeta, read_snapshot, write_member, write_meta
from rsgen.values import (
    AsSetName,
    PrefixRange,
    bogon_asn_reason,
    parse_as_set,
    parse_as_set_list,
    safe_comment,
)


def _member(**changes: object) -> Member:
    base: dict[str, object] = {"asn": 3333, "name": "RIPE NCC",
                               "sessions": (Session(ipaddress.ip_address("192.0.2.33")),)}
    base.update(changes)
    return Member(**base)  # type: ignore[arg-type]


def _net(irr_as_set: str = "", p4: int | None = None, p6: int | None = None) -> PeeringDbNet:
    return PeeringDbNet(3333, "RIPE NCC", irr_as_set, p4, p6, False)


@pytest.mark.parametrize("module", ["rsgen.values", "rsgen.guard", "rsgen.memberfile",
                                    "rsgen.verification.birdc"])
def test_docstring_examples(module: str) -> None:
    """The examples in these modules' docstrings hold."""
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("AS-FOO", "AS-FOO"), ("as-foo", "AS-FOO"), ("RIPE::AS-FOO", "RIPE::AS-FOO"),
    ("AS-FOO@RIPE", "RIPE::AS-FOO"), ("AS3333:AS-FOO:AS-BAR", "AS3333:AS-FOO:AS-BAR"),
    ("AS3333", "AS3333"), ("AS-FOO_BAR-2", "AS-FOO_BAR-2"),
])
def test_as_set_forms_peeringdb_holds_are_accepted(text: str, expected: str) -> None:
    """Every AS-SET notation found in PeeringDB parses to one canonical name."""
    assert str(parse_as_set(text)) == expected


@pytest.mark.parametrize("text", [
    "-oops", "AS-", "AS-FOO;rm", "AS FOO", "FOO", "AS-FOO@", "::AS-FOO", "AS-FOO@RI PE",
    "AS99999999999", "AS-$(id)", "AS-FOO\nAS-BAR", "AS-FOO/24", "x" * 200, "",
])
def test_malformed_as_sets_are_rejected(text: str) -> None:
    """Anything that is not an RPSL AS-SET name is refused before it can reach bgpq4."""
    with pytest.raises(ValueError):
        parse_as_set(text)


@given(st.text(max_size=60))
def test_parsed_as_sets_never_look_like_options(text: str) -> None:
    """Whatever PeeringDB holds, a parsed AS-SET is safe as a bgpq4 argument."""
    try:
        parsed = parse_as_set_list(text)
    except ValueError:
        return
    for name in parsed:
        rendered = str(name)
        assert not rendered.startswith("-")
        assert rendered.replace(":", "").replace("-", "").replace("_", "").isalnum()


@given(st.text(max_size=300))
def test_safe_comment_never_breaks_out(text: str) -> None:
    """Scrubbed text has no quote, backslash, brace, semicolon or line break."""
    cleaned = safe_comment(text)
    assert not set(cleaned) & set("\"\\{};\n\r")
    assert len(cleaned) <= 120


def test_bogon_asns() -> None:
    """Reserved, private and documentation ASNs are bogons; public ones are not."""
    for asn in (0, 23456, 64496, 64512, 65535, 65551, 100000, 4200000000, 4294967295):
        assert bogon_asn_reason(asn), asn
    for asn in (1, 3333, 17557, 58453, 131072, 399999, 4199999999):
        assert bogon_asn_reason(asn) is None, asn


def test_as_set_choice_order_and_fallback() -> None:
    """Member file beats PeeringDB; a malformed PeeringDB value falls back to the ASN."""
    own = choose_as_sets(_member(as_sets=(AsSetName("AS-MINE"),)), _net("AS-PDB"))
    assert own.objects == (AsSetName("AS-MINE"),) and own.origin == "member file"
    pdb = choose_as_sets(_member(), _net("RIPE::AS-PDB AS-TWO"))
    assert [str(o) for o in pdb.objects] == ["RIPE::AS-PDB", "AS-TWO"]
    bad = choose_as_sets(_member(), _net("AS-EVIL; drop"))
    assert bad.objects == (AsSetName("AS3333"),) and bad.warning
    assert choose_as_sets(_member(), None).objects == (AsSetName("AS3333"),)


def test_max_prefix_sources() -> None:
    """Limits come from the member file, else PeeringDB plus headroom, else the default."""
    policy = PolicySettings(default_max_prefixes_ipv4=7, max_prefix_headroom_percent=10)
    assert max_prefixes(_member(max_prefixes=MaxPrefixes(ipv4=5)), _net(p4=100), policy, 4) \
        == (5, "member file")
    assert max_prefixes(_member(), _net(p4=100), policy, 4) == \
        (220, "(PeeringDB 100 + 100) + 10%")
    exact = PolicySettings(max_prefix_headroom_percent=0, max_prefix_headroom_absolute=0)
    assert max_prefixes(_member(), _net(p4=4), exact, 4) == (4, "(PeeringDB 4 + 0) + 0%")
    # arouteserver's formula and defaults: (PeeringDB + 100) * 1.15, rounded up.
    assert max_prefixes(_member(), _net(p4=5), PolicySettings(), 4)[0] == 121
    assert max_prefixes(_member(), _net(p4=0), policy, 4) == (7, "exchange default")
    assert max_prefixes(_member(), None, policy, 6) == (50, "exchange default")


def test_protocol_names_are_stable_bird_symbols() -> None:
    """Protocol names come from ASN and address, fit BIRD's 64 characters, and are unique."""
    longest = Session(ipaddress.ip_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))
    name = protocol_name(4294967294, longest.ip)
    assert len(name) <= 64 and name.replace("_", "").isalnum()
    a = protocol_name(3333, ipaddress.ip_address("2001:db8::1:0"))
    b = protocol_name(3333, ipaddress.ip_address("2001:db8::10"))
    assert a != b


def test_every_bird_symbol_is_checked_for_length_and_characters() -> None:
    """The one symbol maker turns non-symbol characters into '_' and refuses what BIRD would."""
    assert bird_symbol("AS3333", "2001:db8::1") == "AS3333_2001_db8__1"
    with pytest.raises(ValueError, match="longer than 64"):
        bird_symbol("x" * 65)
    with pytest.raises(ValueError, match="start with a letter"):
        bird_symbol("1abc")


def test_template_filters() -> None:
    """Sets render sorted, one prefix per line; strings are quoted and scrubbed."""
    prefixes = (PrefixRange.parse("192.0.2.0/24"), PrefixRange.parse("10.0.0.0/8{8,24}"))
    assert bird_prefix_set(sorted(prefixes)) == "[\n    10.0.0.0/8{8,24},\n    192.0.2.0/24\n]"
    assert bird_prefix_set(()) == "[]"
    assert bird_int_set([3, 1, 2, 1]) == "[\n    1, 2, 3\n]"
    assert bird_string('a"b\\c{') == '"a b c"'


def test_prefix_range_rejects_nonsense() -> None:
    """Prefix ranges must be network addresses with sane length bounds."""
    for text in ("192.0.2.1/24", "192.0.2.0/24{23,24}", "192.0.2.0/24{24,33}", "nope"):
        with pytest.raises(ValueError):
            PrefixRange.parse(text)


def test_snapshot_round_trip_is_sorted_and_stable(tmp_path: Path) -> None:
    """Snapshot files are sorted JSON; reading gives back what was written."""
    data = IrrData((AsSetName("AS-X"),), (3333, 2121),
                   (PrefixRange.parse("193.0.0.0/21"), PrefixRange.parse("10.0.0.0/8")),
                   (PrefixRange.parse("2001:67c:2e8::/48"),))
    write_meta(tmp_path, SnapshotMeta(example=True))
    changed = write_member(tmp_path, 3333, peeringdb=_net("AS-X", 30, 20), irr=data)
    assert len(changed) == 2
    assert write_member(tmp_path, 3333, peeringdb=_net("AS-X", 30, 20), irr=data) == []
    text = (tmp_path / "snapshot" / "irr" / "AS3333.json").read_text()
    assert text.index("10.0.0.0/8") < text.index("193.0.0.0/21")
    snapshot = read_snapshot(tmp_path)
    assert snapshot.example
    assert snapshot.irr[3333].origins == (2121, 3333)
    assert snapshot.peeringdb[3333].info_prefixes4 == 30


def test_default_max_shrink_matches_the_guard() -> None:
    """exchange.yml's default irr.max_shrink_percent is the guard's documented default."""
    from rsgen.guard import DEFAULT_MAX_SHRINK
    from rsgen.model import IrrSettings

    assert IrrSettings().max_shrink == DEFAULT_MAX_SHRINK


def test_reject_codes_are_arouteservers_for_the_rules_both_have() -> None:
    """Looking glasses already map arouteserver's reject codes (RS:65520:code): every rule
    rsgen shares with it has arouteserver's number; no rule takes a number arouteserver uses
    for something else; rsgen-only rules start at FIRST_RSGEN_CODE."""
    from rsgen.rules import (
        FIRST_RSGEN_CODE,
        RESERVED_CODES,
        RULE_BY_CODE,
        RULE_BY_NAME,
        RULES,
        RULES_BY_CODE_ORDER,
    )

    assert [(rule.code, rule.name) for rule in RULES_BY_CODE_ORDER] == [
        (1, "as_path_length"), (2, "bogon_prefix"), (3, "peering_lan"), (5, "next_hop"),
        (6, "first_as"), (7, "bogon_asn"), (8, "transit_free"), (9, "origin_as"),
        (10, "ipv6_not_global_unicast"), (12, "irr_prefix"), (13, "prefix_length"),
        (14, "rpki_invalid"), (15, "never_via_route_servers"), (64, "as_set")]
    assert len(RULE_BY_CODE) == len(RULE_BY_NAME) == len(RULES)
    assert {0, 4, 11, 65535} == set(RESERVED_CODES)
    assert not set(RULE_BY_CODE) & set(RESERVED_CODES)
    assert all(code <= 15 or code >= FIRST_RSGEN_CODE for code in RULE_BY_CODE)


def test_reject_statement_names_the_member() -> None:
    """The rejecting statement passes the member's ASN (the BIRD variable member_asn) to
    reject_because for the log line, with the rule's code and text."""
    from rsgen.rules import bird_reject

    assert bird_reject("next_hop") == \
        'reject_because(member_asn, 5, "next hop is not the member\'s address")'
    assert bird_reject("ipv6_not_global_unicast") == \
        'reject_because(member_asn, 10, "IPv6 prefix outside global unicast 2000::/3")'


def test_receive_limit_is_a_generous_multiple_with_a_floor() -> None:
    """The receive limit (filtered routes too) is 4 x the import limit, at least 1,000, never
    below the import limit and never beyond what BIRD can hold."""
    policy = PolicySettings()
    assert (policy.receive_limit_multiplier, policy.receive_limit_minimum) == (4, 1000)
    assert receive_limit(6, policy) == 1000
    assert receive_limit(1495, policy) == 5980
    assert receive_limit(5, PolicySettings(receive_limit_multiplier=1,
                                           receive_limit_minimum=1)) == 5
    assert receive_limit(2_000_000_000, policy) == BIRD_LIMIT_MAX


def test_per_family_accessors() -> None:
    """The model's per-family accessors pick the IPv4 or IPv6 value, and refuse other versions."""
    import ipaddress

    from rsgen.model import MaxPrefixes, PeeringLan, PolicySettings, RouteServer

    server = RouteServer("rs1", 64500, ipaddress.IPv4Address("192.0.2.1"),
                         ipaddress.IPv4Address("192.0.2.1"), None)
    assert server.address(4) == ipaddress.IPv4Address("192.0.2.1") and server.address(6) is None
    lan = PeeringLan(ipaddress.IPv4Network("192.0.2.0/24"), ipaddress.IPv6Network("2001:db8::/64"))
    assert lan.network(6) == ipaddress.IPv6Network("2001:db8::/64")
    policy = PolicySettings()
    assert (policy.min_length(4), policy.max_length(6)) == (8, 48)
    assert policy.default_max_prefixes(6) == policy.default_max_prefixes_ipv6
    assert MaxPrefixes(ipv4=5).of(4) == 5 and MaxPrefixes(ipv4=5).of(6) is None
    with pytest.raises(ValueError, match="want 4 or 6"):
        policy.min_length(5)
