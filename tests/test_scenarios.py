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
    IRR_ORIGIN_TAGGED,
    IRR_TAGGED,
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
            # A member in IRR tag mode (AS137512) breaks the IRR rules with tagged routes.
            rules = {IRR_TAGGED.get(r.rule, r.rule) for r in routes if r.family == family}
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
    # The example's member files set next_hops (AS38193), irr.more_specifics (AS59257) and
    # irr.mode: tag (AS137512, whose routes failing the IRR checks are accepted, tagged).
    assert {r.rule for r in accepted} == {ACCEPT, WELL_KNOWN_COMMUNITIES, AUTHORISED_NEXT_HOP,
                                          MORE_SPECIFIC, *IRR_TAGGED}
    assert len({r.network for r in accepted}) == len(accepted)
    tagged = [r for r in accepted if r.rule in IRR_TAGGED]
    assert {(r.member_asn, r.rule, r.family) for r in tagged} == {
        (137512, rule, family) for rule in IRR_TAGGED for family in (4, 6)}
    for route in tagged:
        irr = snapshot.irr[route.member_asn]
        registered = any(e.matches(route.network) for e in irr.prefixes(route.family))
        foreign_origin = route.as_path[-1] not in irr.origins
        assert foreign_origin == (route.rule == IRR_ORIGIN_TAGGED)
        assert set(route.rs_tags) == ({(1001, 9)} if foreign_origin else set()) | (
            set() if registered else {(1001, 12)})
    for route in (r for r in accepted if r.rule not in IRR_TAGGED):
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


# --- announcement control (RFC 8195 style) ---


def _control(standard: bool) -> tuple[dict[int, list], list]:  # type: ignore[type-arg]
    from rsgen.verification.scenarios import announcement_control_routes

    config = load_checked(REPO)
    regular = _plan()
    return regular, announcement_control_routes(config.members, regular, standard=standard)


def test_announcement_control_reuses_own_accepted_prefixes_once() -> None:
    """Each scenario is a member's own accepted prefix, announced with its own path, its own
    large (and, for a 16-bit ASN, standard) community and control communities naming RS."""
    from rsgen.verification.scenarios import (
        NOT_TO_MEMBER,
        ONLY_TO_MEMBER,
        PREPEND_TO_ALL,
        PREPEND_TO_MEMBER,
        RS,
        STANDARD_NOT_TO_MEMBER,
        STANDARD_ONLY_TO_MEMBER,
    )

    regular, routes = _control(standard=True)
    assert [r.rule for r in routes] == [NOT_TO_MEMBER, ONLY_TO_MEMBER, *[PREPEND_TO_MEMBER] * 3,
                                        PREPEND_TO_ALL, STANDARD_NOT_TO_MEMBER,
                                        STANDARD_ONLY_TO_MEMBER]
    assert len({r.network for r in routes}) == len(routes)
    assert {r.family for r in routes} == {4, 6}
    config = load_checked(REPO)
    family_members = {v: {m.asn for m in config.members
                          if any(s.ip.version == v for s in m.sessions)} for v in (4, 6)}
    for route in routes:
        asn = route.member_asn
        assert route.network in {r.network for r in regular[asn] if r.accepted}
        assert route.as_path == (asn,) and route.accepted and route.sender is None
        assert route.large_communities == ((asn, 7, 7),)
        assert ((asn, 100) in route.communities) == (asn <= 0xFFFF)
        assert asn not in route.withheld_from
        assert all(a == RS for a, _, _ in route.control_large_communities)
        others = family_members[route.family] - {asn}
        if route.rule in (ONLY_TO_MEMBER, STANDARD_ONLY_TO_MEMBER):
            (target,) = others - set(route.withheld_from)
            assert route.control_large_communities in (((RS, 0, 0), (RS, 1, target)), ())
            assert route.control_communities in (((0, RS), (RS, target)), ())
        if route.rule == NOT_TO_MEMBER:  # a 32-bit receiver: only the large form names it
            assert route.withheld_from == (137512,)
            assert route.control_large_communities == ((RS, 0, 137512),)
        if route.rule == STANDARD_NOT_TO_MEMBER:
            (target,) = route.withheld_from
            assert target <= 0xFFFF and route.control_communities == ((0, target),)
    prepends = [r for r in routes if r.rule == PREPEND_TO_MEMBER]
    assert [r.control_large_communities[0][1] for r in prepends] == [101, 102, 103]
    assert all(r.prepends == ((r.control_large_communities[0][2], n),)
               for n, r in enumerate(prepends, start=1))
    (everyone,) = [r for r in routes if r.rule == PREPEND_TO_ALL]
    assert everyone.control_large_communities == ((RS, 103, 0),)
    assert everyone.prepends == ((0, 3),) and NO_EXPORT in everyone.communities


def test_announcement_control_without_standard_forms() -> None:
    """A 32-bit route-server ASN: only the large forms; 0:X goes as an ordinary community."""
    from rsgen.verification.scenarios import STANDARD_NOT_CONTROL

    _, routes = _control(standard=False)
    assert not any(r.control_communities for r in routes)
    (ordinary,) = [r for r in routes if r.rule == STANDARD_NOT_CONTROL]
    (zero,) = [c for c in ordinary.communities if c[0] == 0]
    assert 0 < zero[1] <= 0xFFFF and not ordinary.withheld_from and not ordinary.prepends


def test_control_communities_name_each_sessions_route_server() -> None:
    """RS stands for the ASN of the route server a session goes to; prepends per receiver."""
    from rsgen.verification.scenarios import RS, TestRoute

    route = TestRoute(64501, "x", ipaddress.ip_network("192.0.2.0/24"), (64501,), None, True,
                      communities=((64501, 100),), large_communities=((64501, 7, 7),),
                      control_communities=((0, RS), (RS, 64502)),
                      control_large_communities=((RS, 103, 0), (RS, 101, 64503)),
                      prepends=((0, 3), (64503, 1)))
    assert route.communities_for(64500) == ((64501, 100), (0, 64500), (64500, 64502))
    assert route.large_communities_for(4200000500) == (
        (64501, 7, 7), (4200000500, 103, 0), (4200000500, 101, 64503))
    assert route.path_to(64502) == (64501,) * 4
    assert route.path_to(64503) == (64501, 64501)


def test_withheld_routes_are_judged_by_the_route_servers_export() -> None:
    """A withheld route fails while a route server exports it to the member, or while that
    export has not been read, and while the member's router has it."""
    from rsgen.verification.birdc import BgpRoute
    from rsgen.verification.expect import Expectation, Observation, compare
    from rsgen.verification.scenarios import NOT_TO_MEMBER, RS, TestRoute

    network = ipaddress.ip_network("192.0.2.0/24")
    route = TestRoute(64501, NOT_TO_MEMBER, network, (64501,), None, True,
                      control_large_communities=((RS, 0, 64502),), withheld_from=(64502,))

    def bgp(protocol: str, large: tuple = ()) -> BgpRoute:  # type: ignore[type-arg]
        return BgpRoute(network, protocol, "master4", (64501,), ("192.0.2.10",), large, (),
                        True, False)

    expectation = Expectation(route, {"rs1": ("AS64501_a",)}, frozenset({"192.0.2.10"}),
                              {"AS64503": ("rs1_c",)}, session_asns={"rs1_c": 64500},
                              withheld={"AS64502": ("rs1_b",)},
                              withheld_protocols={"rs1": ("AS64502_b",)})
    accepted = {"rs1": [bgp("AS64501_a")]}

    def problems(exported: frozenset, received: dict) -> tuple[str, ...]:  # type: ignore[type-arg]
        observation = Observation(accepted, {}, received,
                                  exported={"rs1": {"AS64502_b": exported}} if exported
                                  is not None else {})
        return compare(expectation, observation, {"rs1": 64500}).problems

    good = {"AS64503": [bgp("rs1_c")]}
    assert problems(frozenset(), good) == ()
    assert problems(frozenset({network}), good) == ("withheld: rs1 exports it to AS64502_b",)
    assert problems(None, good) == ("rs1/AS64502_b: its export was not read",)  # type: ignore[arg-type]
    assert problems(frozenset(), {**good, "AS64502": [bgp("rs1_b")]}) == (
        "leaked: AS64502 session rs1_b received it",)
    # The control community reaching a receiver: not received as it must be.
    (missing,) = problems(frozenset(), {"AS64503": [bgp("rs1_c", ((64500, 0, 64502),))]})
    assert missing.startswith("AS64503 session rs1_c did not receive it")


def test_announcement_control_needs_three_members_and_one_meaning_of_0_x() -> None:
    """No scenario without a sender and two other members in a family; with route servers
    of both sizes (0:X a control community on some only), no standard-form scenario."""
    from rsgen.verification.scenarios import ANNOUNCEMENT_CONTROL, announcement_control_routes

    config = load_checked(REPO)
    regular = _plan()
    assert announcement_control_routes(config.members[:2], regular, standard=True) == []
    mixed = announcement_control_routes(config.members, regular, standard=None)
    assert {r.rule for r in mixed} == set(ANNOUNCEMENT_CONTROL[:4])
    assert not any(r.control_communities or (0, r.member_asn) in r.communities for r in mixed)


def test_blackhole_requests_inside_and_outside_each_members_space() -> None:
    """With blackholes taken in both families: per member and family, one request for a host
    route of its accepted prefix (unique across the exchange, inside what it may blackhole)
    and one for a host route outside its space (refused as irr_prefix)."""
    from rsgen.policy import blackhole_prefixes
    from rsgen.verification.scenarios import BLACKHOLE, BLACKHOLE_COMMUNITY

    config = load_checked(REPO)
    snapshot = read_snapshot(REPO)
    taken: set = set()  # type: ignore[type-arg]
    plan = {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken,
                                 blackholes=frozenset({4, 6})) for m in config.members}
    hosts = []
    for asn, routes in plan.items():
        for family in {r.family for r in routes}:
            space = blackhole_prefixes(snapshot.irr[asn], family)
            requests = [r for r in routes if r.family == family and r.blackhole]
            assert {r.rule for r in requests} == {BLACKHOLE, "irr_prefix"}, (asn, family)
            for route in requests:
                assert route.communities == (BLACKHOLE_COMMUNITY,)
                assert route.network.prefixlen == route.network.max_prefixlen
                inside = any(p.matches(route.network) for p in space)
                assert inside == (route.rule == BLACKHOLE), (asn, route.network)
            hosts += [r.network for r in requests if r.rule == BLACKHOLE]
    assert len(hosts) == len(set(hosts))
    without = _plan()
    assert not any(r.blackhole for routes in without.values() for r in routes)
