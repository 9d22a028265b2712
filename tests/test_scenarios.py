"""Test-route planning for verify: derived from each member's own data, one per rule."""

from __future__ import annotations

import ipaddress

import pytest

from rsgen.load import load_checked
from rsgen.rules import RULES
from rsgen.snapshot import read_snapshot
from rsgen.values import BOGON_PREFIXES_V6, is_bogon_prefix, outside_ipv6_global_unicast
from rsgen.verification.scenarios import (
    ACCEPT,
    AUTHORISED_NEXT_HOP,
    LINK_LOCAL_NEXT_HOP,
    MORE_SPECIFIC,
    NO_ADVERTISE,
    NO_EXPORT,
    VIOLATIONS,
    WELL_KNOWN_COMMUNITIES,
    member_routes,
)
from tests.helpers import REPO


def _plan(crafted: bool = False) -> dict[int, list]:  # type: ignore[type-arg]
    config = load_checked(REPO)
    snapshot = read_snapshot(REPO)
    taken: set = set()  # type: ignore[type-arg]
    return {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken,
                                 crafted=crafted, never_via=snapshot.never_via_route_servers)
            for m in config.members}


def test_every_rule_has_a_violation() -> None:
    """Adding a rule to the registry without a violating test route fails here."""
    assert set(VIOLATIONS) == {rule.name for rule in RULES}


@pytest.mark.parametrize("crafted", [False, True], ids=["bird-peers", "speaker"])
def test_every_rule_has_a_route_per_member_and_family(crafted: bool) -> None:
    """Each simulated member breaks every import rule once per address family it peers in;
    only a member simulated by rsgen's speaker sends an AS_SET (BIRD cannot)."""
    plan = _plan(crafted)
    for asn, routes in plan.items():
        for family in {r.family for r in routes}:
            rules = {r.rule for r in routes if r.family == family}
            expected = {rule.name for rule in RULES if family in rule.families}
            if not crafted:
                expected.discard("as_set")
            assert expected <= rules, (asn, family, expected - rules)
            assert crafted or not any(r.crafted for r in routes)


def test_a_speaker_member_sends_an_as_set_and_a_link_local_next_hop() -> None:
    """The crafted routes: the member's path ending in an AS_SET of foreign ASNs, and (IPv6)
    a registered prefix with a foreign link-local next hop beside the member's own."""
    for asn, routes in _plan(crafted=True).items():
        as_sets = [r for r in routes if r.rule == "as_set"]
        assert as_sets and all(r.as_path == (asn,) and len(r.as_set) == 2
                               and asn not in r.as_set for r in as_sets)
        link_local = [r for r in routes if r.rule == LINK_LOCAL_NEXT_HOP]
        assert all(r.family == 6 and r.link_local is not None and r.link_local.is_link_local
                   and r.accepted for r in link_local)


def test_accepted_routes_come_from_the_members_irr_list_and_are_unique() -> None:
    """The route that must be accepted is in the member's IRR data, and no two members share one
    (a receiving member sees one route per prefix)."""
    snapshot = read_snapshot(REPO)
    accepted = [r for routes in _plan().values() for r in routes if r.accepted]
    # The example's member files set next_hops (AS38193) and irr.more_specifics (AS59257).
    assert {r.rule for r in accepted} == {ACCEPT, WELL_KNOWN_COMMUNITIES, AUTHORISED_NEXT_HOP,
                                          MORE_SPECIFIC}
    assert len({r.network for r in accepted}) == len(accepted)
    for route in accepted:
        irr = snapshot.irr[route.member_asn]
        entries = irr.ipv4 if route.family == 4 else irr.ipv6
        # Registered exactly, except the more-specific, which only the setting admits.
        assert any(entry.matches(route.network) for entry in entries) == \
            (route.rule != MORE_SPECIFIC)
        assert route.rule != MORE_SPECIFIC or any(
            entry.network.supernet_of(route.network) for entry in entries)
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
                # In a bogon list, so the global unicast check does not catch it first.
                assert is_bogon_prefix(route.network)
                assert not outside_ipv6_global_unicast(route.network)
            elif route.rule == "ipv6_not_global_unicast":
                # Outside 2000::/3 and in no bogon list: only that check catches it.
                assert outside_ipv6_global_unicast(route.network)
                assert not any(route.network.subnet_of(ipaddress.IPv6Network(b))
                               for b in BOGON_PREFIXES_V6)
                assert 12 <= route.network.prefixlen <= 48
            elif route.rule == WELL_KNOWN_COMMUNITIES:
                assert route.communities == (NO_EXPORT, NO_ADVERTISE) == ((65535, 65281),
                                                                           (65535, 65282))
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
    # PTCL registers 8 IPv4 prefixes: the accepted route, the well-known-communities one, and
    # these six (origin_as, claimed last, gets a prefix outside its list).
    for rule in ("bogon_asn", "as_path_length", "first_as", "transit_free",
                 "never_via_route_servers", "next_hop"):
        assert ptcl[rule].isolated, rule
        assert isinstance(ptcl[rule].network, ipaddress.IPv4Network)


def test_well_known_communities_route_is_a_registered_prefix_of_each_member() -> None:
    """Every member with a second registered prefix in a family announces one route carrying
    NO_EXPORT and NO_ADVERTISE that the route server must accept and pass on; only accepted
    routes carry communities."""
    snapshot = read_snapshot(REPO)
    plan = _plan()
    tagged = [r for routes in plan.values() for r in routes if r.communities]
    assert {r.rule for r in tagged} == {WELL_KNOWN_COMMUNITIES}
    # AS38193's second registered IPv4 prefix goes to its extra next hop's route.
    assert {r.member_asn for r in tagged} == {9541, 17557, 23674, 45669, 58453}
    for route in tagged:
        irr = snapshot.irr[route.member_asn]
        entries = irr.ipv4 if route.family == 4 else irr.ipv6
        assert any(entry.matches(route.network) for entry in entries)
        assert route.as_path == (route.member_asn,) and route.next_hop is None


def test_same_prefix_from_a_multi_router_member_and_its_customer() -> None:
    """PTCL (two routers per family) and AS137512, whose prefixes are in PTCL's AS-SET, announce
    the same prefix: PTCL from its first router with the shorter path, AS137512 with a longer
    one that only PTCL's routers must receive."""
    from rsgen.verification.scenarios import (
        ALTERNATIVE_PATH,
        MULTI_ROUTER_BEST,
        alternative_path_routes,
    )

    config = load_checked(REPO)
    plan = _plan()
    routes = alternative_path_routes(config.members, read_snapshot(REPO).irr, plan)
    summary = {(r.rule, r.member_asn, str(r.network), r.as_path, str(r.sender),
                r.receiver_asn) for r in routes}
    assert summary == {
        (MULTI_ROUTER_BEST, 17557, "103.151.44.0/22", (17557,), "192.0.2.11", None),
        (ALTERNATIVE_PATH, 137512, "103.151.44.0/22", (137512, 137512), "None", 17557),
        (MULTI_ROUTER_BEST, 17557, "2404:f4c0::/32", (17557,), "2001:db8:ffff::11", None),
        (ALTERNATIVE_PATH, 137512, "2404:f4c0::/32", (137512, 137512), "None", 17557)}
    accepted = {(r.member_asn, r.network) for r in plan[137512] if r.rule == ACCEPT}
    assert {(r.member_asn, r.network) for r in routes if r.rule == ALTERNATIVE_PATH} == accepted


def test_import_limit_routes_only_where_the_irr_data_allows() -> None:
    """One route more than the limit, all acceptable, the first carrying (limit, action); none
    where the member's route objects admit too few prefixes or the limit is large."""
    from rsgen.verification.scenarios import IMPORT_LIMIT, import_limit_routes

    config = load_checked(REPO)
    irr = read_snapshot(REPO).irr
    jazz = next(m for m in config.members if m.asn == 45669)
    routes = import_limit_routes(jazz, irr[45669], config.exchange,
                                 {4: (2, "block"), 6: (2, "block")})
    assert [(r.rule, str(r.network), r.limit) for r in routes] == [
        (IMPORT_LIMIT, "119.160.0.0/18", (2, "block")),
        (IMPORT_LIMIT, "119.160.64.0/18", None),
        (IMPORT_LIMIT, "119.160.96.0/19", None)]
    assert import_limit_routes(jazz, irr[45669], config.exchange, {4: (3, "block")}) == []
    assert import_limit_routes(jazz, irr[45669], config.exchange, {4: (300, "block")}) == []


def test_rounds_split_on_the_receive_limit_and_accepted_routes_only() -> None:
    """Filtered routes share a round up to the receive limit; acceptable ones up to the import
    limit."""
    from rsgen.verification.run import _split

    routes = [r for r in _plan()[17557] if r.family == 4]
    assert sum(r.accepted for r in routes) == 2
    assert _split(routes, 1000, 1000) == [routes]
    by_receive = _split(routes, 1000, 4)
    assert [len(b) for b in by_receive] == [4] * (len(routes) // 4) + \
        ([len(routes) % 4] if len(routes) % 4 else [])
    by_import = _split(routes, 1, 1000)
    assert len(by_import) == 2 and all(sum(r.accepted for r in b) == 1 for b in by_import)
