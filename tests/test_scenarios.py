"""Test-route planning for verify: derived from each member's own data, one per rule."""

from __future__ import annotations

import ipaddress

from rsgen.load import load_checked
from rsgen.rules import RULES
from rsgen.snapshot import read_snapshot
from rsgen.values import is_bogon_prefix
from rsgen.verify.scenarios import ACCEPT, member_routes
from tests.helpers import REPO


def _plan() -> dict[int, list]:  # type: ignore[type-arg]
    config = load_checked(REPO)
    snapshot = read_snapshot(REPO)
    taken: set = set()  # type: ignore[type-arg]
    return {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken)
            for m in config.members}


def test_every_rule_has_a_route_per_member_and_family() -> None:
    """Each simulated member breaks every import rule once per address family it peers in."""
    plan = _plan()
    for asn, routes in plan.items():
        for family in {r.family for r in routes}:
            rules = {r.rule for r in routes if r.family == family}
            expected = {rule.name for rule in RULES}
            assert expected <= rules, (asn, family, expected - rules)


def test_accepted_routes_come_from_the_members_irr_list_and_are_unique() -> None:
    """The route that must be accepted is in the member's IRR data, and no two members share one
    (a receiving member sees one route per prefix)."""
    snapshot = read_snapshot(REPO)
    accepted = [r for routes in _plan().values() for r in routes if r.rule == ACCEPT]
    assert len({r.network for r in accepted}) == len(accepted)
    for route in accepted:
        irr = snapshot.irr[route.member_asn]
        entries = irr.ipv4 if route.family == 4 else irr.ipv6
        assert any(entry.matches(route.network) for entry in entries)
        assert not is_bogon_prefix(route.network)
        assert route.as_path == (route.member_asn,)


def test_violating_routes_break_their_rule() -> None:
    """Each violating route really breaks the rule it is named after."""
    config = load_checked(REPO)
    lan4 = config.exchange.peering_lan.ipv4
    for routes in _plan().values():
        for route in routes:
            asn = route.member_asn
            if route.rule == "bogon_prefix":
                assert is_bogon_prefix(route.network)
            elif route.rule == "prefix_length":
                assert route.network.prefixlen > (24 if route.family == 4 else 48)
            elif route.rule == "peering_lan":
                assert route.network in (lan4, config.exchange.peering_lan.ipv6)
            elif route.rule == "as_path_length":
                assert len(route.as_path) > config.exchange.policy.max_as_path_length
            elif route.rule == "first_as":
                assert route.as_path[0] != asn
            elif route.rule == "next_hop":
                member = next(m for m in config.members if m.asn == asn)
                assert route.next_hop not in {s.ip for s in member.sessions}
                assert route.next_hop is not None
            elif route.rule == "bogon_asn":
                assert 64512 in route.as_path
            elif route.rule == "origin_as":
                assert route.as_path[-1] != asn
            elif route.rule == "irr_prefix":
                irr = read_snapshot(REPO).irr[asn]
                entries = irr.ipv4 if route.family == 4 else irr.ipv6
                assert not any(e.matches(route.network) for e in entries)
                assert not is_bogon_prefix(route.network)


def test_isolated_routes_break_only_their_rule_where_irr_data_allows() -> None:
    """Where the member has enough registered prefixes, a violating route is otherwise valid,
    so a missing check would let it through rather than another check catch it."""
    plan = _plan()
    ptcl = {r.rule: r for r in plan[17557] if r.family == 4}
    for rule in ("bogon_asn", "as_path_length", "first_as", "next_hop", "origin_as"):
        assert ptcl[rule].isolated, rule
        assert isinstance(ptcl[rule].network, ipaddress.IPv4Network)
