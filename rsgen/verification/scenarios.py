"""Which test routes each simulated member announces, and what the route server must do.

Pure: from the loaded exchange and its snapshot to a list of TestRoutes. Every route is derived
from the member's own data: an accepted one from its IRR list, and one per policy rule that
breaks that rule. Where the member's IRR list offers enough distinct prefixes, a violating
route breaks only its rule (so a missing check would let it through); otherwise it uses a
prefix outside the IRR list, and the reason code still tells which check caught it, since the
IRR check runs last.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rsgen.model import Exchange, IrrData, Member
from rsgen.policy import accepted_prefixes
from rsgen.rules import IRR_INFO_ID, RPKI_INFO_ID, RPKI_INVALID, RPKI_VALID, RULE_BY_NAME, RULES
from rsgen.values import IPAddress, IPNetwork, PrefixRange, is_bogon_prefix
from rsgen.verification.rtr import Roa

ACCEPT = "accept"
# Accepted like ACCEPT, but carrying the well-known communities NO_EXPORT and NO_ADVERTISE
# (RFC 1997): meant for the receiving members, so the route server must pass the route on to
# every other member with them intact instead of acting on them itself. It also carries the
# route server's informational tags (RPKI valid, an IRR failure) as if the member had set them:
# receivers must not get those.
WELL_KNOWN_COMMUNITIES = "well_known_communities"
# Two members announce the same prefix, one of them (M) with the shorter path and from only
# one of its routers. MULTI_ROUTER_BEST is M's route: the best, which every other member
# receives. ALTERNATIVE_PATH is the other member's: M's other routers must receive it, since
# the best path contains M's own ASN and they would drop it as a loop.
MULTI_ROUTER_BEST = "multi_router_best"
ALTERNATIVE_PATH = "alternative_path"
# ACCEPT as the speaker sends it in IPv6: with the member's global next hop and another
# router's link-local address; receivers must get only the global one, which the route server
# checked.
LINK_LOCAL_NEXT_HOP = "link_local_next_hop"
_FOREIGN_LINK_LOCAL = ipaddress.IPv6Address("fe80::bad:1")
# The same prefix from a member X with GRACEFUL_SHUTDOWN and a short path, and from its transit
# M with a longer one (graceful_shutdown_routes): M's must win.
GRACEFUL_SHUTDOWN = "graceful_shutdown"
GRACEFUL_SHUTDOWN_ALTERNATIVE = "graceful_shutdown_alternative"
# A route sent with Only-to-Customer (BGP roles, RFC 9234): a leak BIRD drops before any
# filter, so the route server shows it nowhere, not even filtered, and nobody receives it.
ROUTE_LEAK = "route_leak"
# An accepted route with a valid ROA, in the round before its ROA changes (rpki_change_routes).
RPKI_BEFORE_CHANGE = "rpki_before_change"
# Accepted only because the member file sets irr.more_specifics: a more-specific of a
# registered prefix that the route object itself does not cover.
MORE_SPECIFIC = "more_specific"
# Accepted with one of the member file's extra next_hops: another router of the member.
AUTHORISED_NEXT_HOP = "authorised_next_hop"
# Announcement control (RFC 8195 style, announcement_control_routes), one rule name per
# scenario: (RS, 0, X) not to X; (RS, 0, 0) + (RS, 1, X) only to X; (RS, 101..103, X) prepend
# towards X; (RS, 103, 0) towards everyone; 0:X and 0:RS + RS:X, the standard forms (only for
# a 16-bit route-server ASN); and, with a 32-bit one, 0:X as an ordinary community.
NOT_TO_MEMBER = "not_to_member"
ONLY_TO_MEMBER = "only_to_member"
PREPEND_TO_MEMBER = "prepend_to_member"
PREPEND_TO_ALL = "prepend_to_all"
STANDARD_NOT_TO_MEMBER = "standard_not_to_member"
STANDARD_ONLY_TO_MEMBER = "standard_only_to_member"
STANDARD_NOT_CONTROL = "standard_not_control"
ANNOUNCEMENT_CONTROL = (NOT_TO_MEMBER, ONLY_TO_MEMBER, PREPEND_TO_MEMBER, PREPEND_TO_ALL,
                        STANDARD_NOT_TO_MEMBER, STANDARD_ONLY_TO_MEMBER, STANDARD_NOT_CONTROL)
RS = -1  # in control communities: the ASN of the route server the session goes to
# BLACKHOLE (RFC 7999): a host route inside the member's accepted prefix, tagged 65535:666.
# Accepted although longer than the length limit and, with ROV, RPKI-invalid (a ROA for
# another origin); receivers get it with the exchange's blackhole next hop and
# NO_EXPORT added, except the members that opted out. The same request for space outside the
# member's is refused as irr_prefix.
BLACKHOLE = "blackhole"
# With rpki.invalid: tag, the rpki_invalid routes: accepted by the route server with the tag
# (RS, 1000, 4), and exported to no member.
RPKI_INVALID_TAGGED = "rpki_invalid_tagged"
# A member in IRR tag mode (irr.mode: tag), its origin_as and irr_prefix routes: accepted, tagged
# (RS, 1001, 9) and (RS, 1001, 12) (both where the route breaks both), and sent to every member
# with the tags.
IRR_ORIGIN_TAGGED = "irr_origin_tagged"
IRR_PREFIX_TAGGED = "irr_prefix_tagged"
IRR_TAGGED = {IRR_ORIGIN_TAGGED: "origin_as", IRR_PREFIX_TAGGED: "irr_prefix"}
ACCEPTING = (ACCEPT, WELL_KNOWN_COMMUNITIES, BLACKHOLE, LINK_LOCAL_NEXT_HOP, MORE_SPECIFIC,
             AUTHORISED_NEXT_HOP, GRACEFUL_SHUTDOWN, GRACEFUL_SHUTDOWN_ALTERNATIVE,
             RPKI_BEFORE_CHANGE, RPKI_INVALID_TAGGED, IRR_ORIGIN_TAGGED, IRR_PREFIX_TAGGED,
             MULTI_ROUTER_BEST, ALTERNATIVE_PATH, NOT_TO_MEMBER, ONLY_TO_MEMBER,
             PREPEND_TO_MEMBER, PREPEND_TO_ALL, STANDARD_NOT_TO_MEMBER, STANDARD_ONLY_TO_MEMBER,
             STANDARD_NOT_CONTROL)
# More routes the route server would accept than the member's import limit: the configured
# max-prefix action must happen (announced last: it may take the sessions down).
IMPORT_LIMIT = "import_limit"
NO_EXPORT, NO_ADVERTISE = (65535, 65281), (65535, 65282)
GSHUT = (65535, 0)  # GRACEFUL_SHUTDOWN, RFC 8326
BLACKHOLE_COMMUNITY = (65535, 666)  # RFC 7999
# Public ASNs used as foreign first AS, foreign origin or in an AS_SET: large content networks,
# which buy transit, so a path through them breaks no other rule (transit-free networks would
# break rule 8 first); the exchange's own lists are avoided all the same (_Family.avoid).
_FOREIGN_ASNS = (13335, 15169, 16509, 32934, 20940, 8075, 2906, 714)
_BOGON_ASN = 64512
_BOGON_CANDIDATES = {4: ("10.0.0.0/16", "172.16.0.0/16", "100.64.0.0/16", "198.18.0.0/16"),
                     6: ("3fff:100::/32", "2001:db8:1234::/48", "2002:1234::/32")}
# Outside 2000::/3 but in no bogon list: only the global unicast check catches these.
_NON_GLOBAL_UNICAST_V6 = ("fd00:1234::/32", "4000:1234::/32")
_MAX_VALID_PER_FAMILY = 12
# The route server's informational tags as a member may send them (RS: each route server's
# ASN): RPKI valid, an IRR failure. The route server must remove them.
_SPOOFED_TAGS = ((RS, RPKI_INFO_ID, RPKI_VALID), (RS, IRR_INFO_ID, 12))


@dataclass(frozen=True)
class TestRoute:
    """One route a simulated member announces to every route server."""

    member_asn: int
    rule: str  # one of ACCEPTING, or the name of the rule it breaks (rsgen.rules)
    network: IPNetwork
    as_path: tuple[int, ...]  # as the route server receives it
    next_hop: IPAddress | None  # None: the announcing session's own address
    isolated: bool  # breaks only this rule (else it is also outside the IRR list)
    # Standard communities the member sends; receivers must get each of them.
    communities: tuple[tuple[int, int], ...] = ()
    # The one session address (so the one router) of the member that announces it; None:
    # every router of the member does.
    sender: IPAddress | None = None
    # Not the best path: only this member's routers must receive it (ALTERNATIVE_PATH,
    # GRACEFUL_SHUTDOWN), and members with ADD-PATH; None: every other member.
    receiver_asn: int | None = None
    # Members that must not be expected to receive it (beside the sender): they would drop
    # it, or never get it, for a reason of their own (the path holds their ASN).
    not_to: tuple[int, ...] = ()
    # RPKI: the lab's RTR caches hold a ROA for exactly this prefix with this origin (verify
    # makes the ROAs from the routes, rsgen.verification.scenarios.rpki_roas).
    roa_origin: int | None = None
    # Receivers must see the route server's "RPKI valid" tag on it.
    rpki_valid: bool = False
    # BGP roles: the Only-to-Customer attribute it is sent with (only the speaker sends one).
    otc: int | None = None
    # IMPORT_LIMIT: (the sessions' import limit, the action) on the route that carries the
    # check; None on the others of the group, which are only announced.
    limit: tuple[int, str] | None = None
    # An AS_SET segment after as_path (RFC 9774 deprecates them; only the speaker sends one).
    as_set: tuple[int, ...] = ()
    # A blackhole request (sent with BLACKHOLE_COMMUNITY): an accepted one reaches receivers
    # with the exchange's blackhole next hop and NO_EXPORT, and not the members that opted out.
    blackhole: bool = False
    # (info id, value) of large communities (RS, info id, value) the route servers must have
    # added to it where they accept it (rpki.invalid: tag, irr.mode: tag); receivers, if any,
    # must get them too.
    rs_tags: tuple[tuple[int, int], ...] = ()
    # IPv6: a link-local next hop sent beside the global one (only the speaker sends one).
    link_local: ipaddress.IPv6Address | None = None
    # Large communities the member sends; receivers must get each of them.
    large_communities: tuple[tuple[int, int, int], ...] = ()
    # Announcement control (announcement_control_routes): communities for the route server,
    # with RS standing for each session's route-server ASN. Receivers must get none of them.
    control_communities: tuple[tuple[int, int], ...] = ()
    control_large_communities: tuple[tuple[int, int, int], ...] = ()
    # Members that must NOT receive it: the route servers must not export it to them, and
    # their routers must not have it.
    withheld_from: tuple[int, ...] = ()
    # (receiving member's ASN, or 0 for every member; times): the route server prepends the
    # member's ASN that often towards it. A receiver's own entry wins over 0.
    prepends: tuple[tuple[int, int], ...] = ()

    def communities_for(self, rs_asn: int) -> tuple[tuple[int, int], ...]:
        """The standard communities sent on a session to a route server of this ASN."""
        return self.communities + tuple((_asn(a, rs_asn), _asn(b, rs_asn))
                                        for a, b in self.control_communities)

    def large_communities_for(self, rs_asn: int) -> tuple[tuple[int, int, int], ...]:
        """The large communities sent on a session to a route server of this ASN."""
        return self.large_communities + tuple(
            (_asn(a, rs_asn), _asn(b, rs_asn), _asn(c, rs_asn))
            for a, b, c in self.control_large_communities)

    def path_to(self, receiver_asn: int) -> tuple[int, ...]:
        """The AS path a receiving member must get (prepends included)."""
        times = dict(self.prepends)
        return (self.member_asn,) * times.get(receiver_asn, times.get(0, 0)) + self.as_path

    @property
    def crafted(self) -> bool:
        """Whether only rsgen's speaker can send it (BIRD peers cannot)."""
        return bool(self.as_set) or self.link_local is not None or self.otc is not None

    @property
    def accepted(self) -> bool:
        """Whether the route server must accept it (ACCEPTING) rather than filter it."""
        return self.rule in ACCEPTING

    @property
    def expected_reason(self) -> int | None:
        """The reason code it must be filtered with; None: accepted, or (ROUTE_LEAK) dropped
        by BIRD before any filter."""
        return None if self.accepted or self.rule == ROUTE_LEAK else RULE_BY_NAME[self.rule].code

    @property
    def family(self) -> int:
        return self.network.version


def member_routes(member: Member, irr: IrrData, exchange: Exchange,
                  taken: set[IPNetwork], *, crafted: bool = False,
                  never_via: frozenset[int] = frozenset(),
                  blackholes: frozenset[int] = frozenset()) -> list[TestRoute]:
    """The test routes of one member, for each family it has sessions in.

    `taken` holds the prefixes other members' accepted test routes use: those must be unique
    across the exchange, so a receiving member sees exactly one route per prefix. (Routes the
    route server must filter may share prefixes between members: it keeps them per session.)
    `crafted`: the member's simulated routers are rsgen's speaker, which can send what BIRD
    cannot (AS_SET segments, a link-local next hop beside the global one). `never_via`: the
    snapshot's never-via-route-servers list. `blackholes`: the IP versions the route servers
    take blackhole requests in (the plan's).
    """
    routes: list[TestRoute] = []
    for version in (4, 6):
        lan = exchange.peering_lan.network(version)
        served = any(s.address(version) for s in exchange.route_servers)
        if lan is None or not served or not any(s.ip.version == version
                                                for s in member.sessions):
            continue
        routes += _family_routes(member, irr, exchange, version, lan, taken, crafted,
                                 never_via, version in blackholes)
    return routes


@dataclass
class _Family:
    """What a violation needs to build its route: the member's data for one family, and the
    prefixes still free for it (claim)."""

    member: Member
    irr: IrrData
    exchange: Exchange
    version: int
    lan: IPNetwork
    valid: list[IPNetwork]  # registered prefixes no earlier check refuses, not yet used
    in_irr: set[IPNetwork]
    used: set[IPNetwork]
    taken: set[IPNetwork]  # the exchange's accepted test prefixes (member_routes)
    outside: Iterator[IPNetwork]
    crafted: bool  # the member's simulated routers can send any UPDATE (rsgen's speaker)
    avoid: frozenset[int]  # ASNs whose presence in a path breaks a rule (transit-free, ...)
    never_via: frozenset[int]  # the snapshot's never-via-route-servers list
    longer: IPNetwork | None = None  # a too-long prefix (from the accepted one where there is)
    longer_isolated: bool = False

    def foreign(self) -> Iterator[int]:
        """Public ASNs other than the member's that break no path rule of the exchange."""
        return (a for a in _FOREIGN_ASNS if a != self.member.asn and a not in self.avoid)

    def claim(self, from_valid: bool = True) -> tuple[IPNetwork, bool]:
        """A fresh prefix: a registered one where any is left (so the route breaks only its
        rule), else one outside the IRR list; and whether it is registered."""
        network = self.valid.pop(0) if from_valid and self.valid else next(self.outside)
        self.used.add(network)
        return network, network in self.in_irr

    def route(self, rule: str, network: IPNetwork, path: tuple[int, ...], *,
              isolated: bool, next_hop: IPAddress | None = None,
              **extra: Any) -> TestRoute:
        return TestRoute(self.member.asn, rule, network, path, next_hop, isolated, **extra)

    def on_registered(self, rule: str, path: tuple[int, ...],
                      next_hop: IPAddress | None = None, **extra: Any) -> TestRoute:
        network, isolated = self.claim()
        return self.route(rule, network, path, isolated=isolated, next_hop=next_hop, **extra)

    def irr_failure(self, route: TestRoute) -> TestRoute:
        """A route that fails an IRR check (origin_as, irr_prefix) as the member's IRR mode
        treats it: filtered, or in tag mode accepted with the tag of each IRR check it fails
        (a route not isolated is outside the IRR list too), so its prefix is taken."""
        # A pending member is never in tag mode (rsgen.plan): it accepts nothing.
        if not self.member.irr_tag or self.irr.pending:
            return route
        self.taken.add(route.network)
        tags = (("origin_as",) if route.rule == "origin_as" else ()) + \
            (("irr_prefix",) if route.rule == "irr_prefix" or not route.isolated else ())
        scenario = IRR_ORIGIN_TAGGED if route.rule == "origin_as" else IRR_PREFIX_TAGGED
        return dataclasses.replace(route, rule=scenario, rs_tags=tuple(
            (IRR_INFO_ID, RULE_BY_NAME[name].code) for name in tags))


Violation = Callable[[_Family], "TestRoute | None"]


def _prefix_length(f: _Family) -> TestRoute | None:
    if f.longer is None:
        return None
    f.used.add(f.longer)
    return f.route("prefix_length", f.longer, (f.member.asn,), isolated=f.longer_isolated)


def _peering_lan(f: _Family) -> TestRoute:
    return f.route("peering_lan", f.lan, (f.member.asn,), isolated=True)


def _bogon_prefix(f: _Family) -> TestRoute:
    bogon = next(n for n in map(ipaddress.ip_network, _BOGON_CANDIDATES[f.version])
                 if not n.overlaps(f.lan))
    return f.route("bogon_prefix", bogon, (f.member.asn,), isolated=True)


def _ipv6_not_global_unicast(f: _Family) -> TestRoute:
    network = next(n for n in map(ipaddress.ip_network, _NON_GLOBAL_UNICAST_V6)
                   if not n.overlaps(f.lan))
    return f.route("ipv6_not_global_unicast", network, (f.member.asn,), isolated=True)


def _bogon_asn(f: _Family) -> TestRoute:
    asn = f.member.asn
    return f.on_registered("bogon_asn", (asn, _BOGON_ASN, asn))


def _as_path_length(f: _Family) -> TestRoute:
    return f.on_registered("as_path_length",
                           (f.member.asn,) * (f.exchange.policy.max_as_path_length + 1))


def _first_as(f: _Family) -> TestRoute:
    foreign = next(a for a in f.foreign())
    return f.on_registered("first_as", (foreign, f.member.asn))


def _next_hop(f: _Family) -> TestRoute:
    return f.on_registered("next_hop", (f.member.asn,),
                           _foreign_next_hop(f.member, f.exchange, f.version, f.lan))


def _origin_as(f: _Family) -> TestRoute | None:
    foreign = next((a for a in f.foreign() if a not in f.irr.origins),
                   None)
    return None if foreign is None else \
        f.irr_failure(f.on_registered("origin_as", (f.member.asn, foreign)))


def _as_set(f: _Family) -> TestRoute | None:
    """The member's path ending in an AS_SET of two foreign ASNs, as an aggregating router
    sends it: only rsgen's speaker can send one."""
    if not f.crafted:
        return None
    foreign = tuple(f.foreign())[:2]
    return f.on_registered("as_set", (f.member.asn,), as_set=foreign)


def _transit_free(f: _Family) -> TestRoute | None:
    """A transit-free network between the member and its own origin: a leak."""
    asn = f.member.asn
    transit_free = next((a for a in f.exchange.policy.transit_free_asns if a != asn), None)
    return None if transit_free is None else \
        f.on_registered("transit_free", (asn, transit_free, asn))


def _never_via_route_servers(f: _Family) -> TestRoute | None:
    """A network that is never via route servers between the member and its own origin (one
    that is not transit-free too, which the earlier check would catch)."""
    asn = f.member.asn
    transit_free = set(f.exchange.policy.transit_free_asns)
    never = next((a for a in sorted(f.never_via) if a != asn and a not in transit_free), None)
    return None if never is None else \
        f.on_registered("never_via_route_servers", (asn, never, asn))


def _rpki_invalid(f: _Family) -> TestRoute | None:
    """A route whose prefix has a ROA for another ASN (a hijack): a registered prefix that
    overlaps none of the member's others where there is one, so that ROA cannot make
    another test route invalid; else one outside the member's list."""
    if f.exchange.rpki is None:
        return None
    foreign = next(f.foreign())
    others = f.used | set(f.valid)
    clear = next((n for n in f.valid if not any(n.overlaps(o) for o in others - {n})), None)
    if clear is not None:
        f.valid.remove(clear)
        f.used.add(clear)
        network, isolated = clear, True
    elif f.exchange.rpki is not None and f.exchange.rpki.invalid == "tag":
        return None  # kept when invalid, it would meet the IRR check: no proof of the tag
    else:
        network, isolated = f.claim(from_valid=False)[0], False
    return _invalid_route(f.route("rpki_invalid", network, (f.member.asn,), isolated=isolated,
                                  roa_origin=foreign), f.exchange)


def _invalid_route(route: TestRoute, exchange: Exchange) -> TestRoute:
    """An RPKI-invalid test route as the exchange treats it: filtered (reason 14), or with
    rpki.invalid: tag kept and tagged (RS, 1000, 4)."""
    if exchange.rpki is None or exchange.rpki.invalid != "tag":
        return dataclasses.replace(route, rule="rpki_invalid")
    return dataclasses.replace(route, rule=RPKI_INVALID_TAGGED,
                               rs_tags=((RPKI_INFO_ID, RPKI_INVALID),))


def _irr_prefix(f: _Family) -> TestRoute | None:
    if f.member.asn not in f.irr.origins:
        return None  # its own path fails origin_as first (a pending member: no origins)
    network, _ = f.claim(from_valid=False)
    return f.irr_failure(f.route("irr_prefix", network, (f.member.asn,), isolated=True))


# The violating test route of every rule (rsgen.rules.RULES), by rule name: a rule without one
# fails tests/test_scenarios.py. None where the member's data or simulated routers cannot
# break the rule (no foreign origin outside its AS-SET; no speaker for an AS_SET). In the
# order the routes claim their prefixes.
VIOLATIONS: dict[str, Violation] = {
    "prefix_length": _prefix_length,
    "peering_lan": _peering_lan,
    "bogon_prefix": _bogon_prefix,
    "ipv6_not_global_unicast": _ipv6_not_global_unicast,
    "bogon_asn": _bogon_asn,
    "as_path_length": _as_path_length,
    "first_as": _first_as,
    "transit_free": _transit_free,
    "never_via_route_servers": _never_via_route_servers,
    "next_hop": _next_hop,
    "origin_as": _origin_as,
    "as_set": _as_set,
    "rpki_invalid": _rpki_invalid,
    "irr_prefix": _irr_prefix,
}


def _family_routes(member: Member, irr: IrrData, exchange: Exchange, version: int,
                   lan: IPNetwork, taken: set[IPNetwork], crafted: bool,
                   never_via: frozenset[int], blackholes: bool) -> list[TestRoute]:
    policy = exchange.policy
    low = policy.min_length(version)
    high = policy.max_length(version)
    entries = irr.prefixes(version)
    valid = [n for n in _valid_prefixes(entries, low, high, lan) if n not in taken]
    used = set(taken)  # this member's own prefixes must differ from each other, too
    # Outside what the route server accepts: with irr.more_specifics that is wider.
    accepted = accepted_prefixes(member, irr, exchange.policy, version)
    family = _Family(member, irr, exchange, version, lan, valid, set(valid), used, taken,
                     _outside_prefixes(accepted, version, low, high, lan, used), crafted,
                     avoid_asns(exchange, never_via), never_via)
    routes: list[TestRoute] = []
    own_path = (member.asn,)
    blackhole: TestRoute | None = None
    if family.valid:
        network, _ = family.claim()
        taken.add(network)
        if crafted and version == 6:
            # The speaker's accepted IPv6 route also carries a foreign link-local next hop
            # (registered prefixes are often too few for a route of its own).
            routes.append(family.route(LINK_LOCAL_NEXT_HOP, network, own_path, isolated=True,
                                       link_local=_FOREIGN_LINK_LOCAL))
        else:
            routes.append(family.route(ACCEPT, network, own_path, isolated=True))
        family.longer = _more_specific(network, high + 1)
        family.longer_isolated = True
        # One of its last host routes (the first more-specifics are other violations'
        # prefixes) that no other member's test route has: another member's accepted prefix
        # may cover this one.
        host = next((h for h in _host_routes(network) if h not in taken), None) \
            if blackholes else None
        if host is not None:
            family.used.add(host)
            taken.add(host)
            # With ROV, a ROA for another origin makes it RPKI-invalid: accepted all the same.
            # Announced after the violating routes: with an import limit of 1 it starts the
            # next round, and the filtered routes must share the first with the accepted one.
            blackhole = family.route(
                BLACKHOLE, host, own_path, isolated=True, communities=(BLACKHOLE_COMMUNITY,),
                blackhole=True,
                roa_origin=None if exchange.rpki is None else next(family.foreign()))
        extra = [a for a in member.extra_next_hops if a.version == version]
        if extra and family.valid:  # the member file's setting first: it is this member's
            network, _ = family.claim()
            taken.add(network)
            routes.append(family.route(AUTHORISED_NEXT_HOP, network, own_path, isolated=True,
                                       next_hop=extra[0]))
        if family.valid:  # before the violating routes: a second registered prefix is rarer
            tagged, _ = family.claim()
            taken.add(tagged)
            # It also claims the route server's informational tags, which must be gone.
            routes.append(family.route(WELL_KNOWN_COMMUNITIES, tagged, own_path, isolated=True,
                                       communities=(NO_EXPORT, NO_ADVERTISE),
                                       control_large_communities=_SPOOFED_TAGS))
    else:
        family.longer = _more_specific(next(family.outside), high + 1)
    if crafted and exchange.policy.bgp_roles:
        # Outside the member's list: without the role check the IRR check would filter it,
        # which is not "dropped as a leak" either. Announced before the violating routes on
        # the same sessions: once those are seen filtered, BIRD has judged this one too, so
        # its "absent" is a verdict, not a route still on its way.
        leaked, _ = family.claim(from_valid=False)
        routes.append(family.route(ROUTE_LEAK, leaked, own_path, isolated=True,
                                   otc=next(family.foreign())))
    if member.irr_more_specifics:
        unregistered = _unregistered_more_specific(entries, high, lan, family.used)
        if unregistered is not None:
            family.used.add(unregistered)
            taken.add(unregistered)
            routes.append(family.route(MORE_SPECIFIC, unregistered, own_path, isolated=True))
    if blackholes and member.asn in irr.origins:  # else origin_as comes first (pending)
        # A host route of no registered prefix (a blackhole request may be any length).
        outside = next(n for n in family.outside
                       if not any(n.overlaps(e.network) for e in entries))
        family.used.add(outside)
        routes.append(family.route("irr_prefix", next(_host_routes(outside)), own_path,
                                   isolated=True,
                                   communities=(BLACKHOLE_COMMUNITY,), blackhole=True))
    applicable = {rule.name for rule in RULES if version in rule.families}
    for name, violation in VIOLATIONS.items():
        if name in applicable:
            route = violation(family)
            if route is not None:
                routes.append(route)
    if blackhole is not None:
        routes.append(blackhole)
    return routes


def _host_routes(network: IPNetwork, count: int = 16) -> Iterator[IPNetwork]:
    """Host routes of the network's last addresses, the last first."""
    return (ipaddress.ip_network(a) for a in reversed(_last_hosts(network, count))
            if a in network)


def _unregistered_more_specific(entries: Sequence[PrefixRange], high: int, lan: IPNetwork,
                                used: set[IPNetwork]) -> IPNetwork | None:
    """A prefix one bit longer than a registered one that the registration itself does not
    admit (irr.more_specifics must), within the exchange's length limit."""
    for entry in entries:
        length = entry.le + 1
        if length > high or length <= entry.prefixlen:
            continue
        candidate = _more_specific(entry.network, length)
        if candidate is None:
            continue
        if not any(e.matches(candidate) for e in entries) and not is_bogon_prefix(candidate) \
                and not candidate.overlaps(lan) and candidate not in used:
            return candidate
    return None


def rpki_roas(routes: Mapping[int, list[TestRoute]], extra: Sequence[Sequence[TestRoute]],
              ) -> tuple[dict[int, list[TestRoute]], list[list[TestRoute]], list[Roa]]:
    """The ROAs of the lab's RTR caches, and the routes adjusted to them.

    Each member's accepted route gets a ROA for its own origin (so it must arrive tagged
    valid); each rpki_invalid route keeps its foreign-origin ROA. A ROA covers every more
    specific prefix too, so one that covers another test route of any member or round (the
    shared-prefix scenarios reuse accepted prefixes) is left out: the accepted route is then
    only unknown, and an rpki_invalid route without its ROA is dropped.
    """
    # Routes refused by a check before the ROV check never meet a ROA, and blackhole requests
    # skip it: a ROA that covers one is what proves they do.
    before_rov = {r.name for r in RULES[:[r.name for r in RULES].index("rpki_invalid")]}
    every = [r for batch in routes.values() for r in batch] + [r for b in extra for r in b]
    exposed = [r for r in every if r.rule not in before_rov and not r.blackhole]

    def covers_another(route: TestRoute) -> bool:
        return any(other is not route and other.network.version == route.network.version
                   and other.network.subnet_of(route.network)  # type: ignore[arg-type]
                   for other in exposed)

    def adjusted(route: TestRoute) -> TestRoute | None:
        if route.rule == ACCEPT:
            if covers_another(route):
                return route
            return dataclasses.replace(route, roa_origin=route.member_asn, rpki_valid=True)
        if route.roa_origin is not None and covers_another(route):
            return None
        return route

    new_routes = {asn: [a for a in map(adjusted, batch) if a is not None]
                  for asn, batch in routes.items()}
    roas = [Roa(r.network, r.network.prefixlen, r.roa_origin)
            for batch in new_routes.values() for r in batch if r.roa_origin is not None]
    return new_routes, [list(b) for b in extra], roas


def rpki_change_routes(routes: Mapping[int, list[TestRoute]], exchange: Exchange,
                       avoid: frozenset[int],
                       ) -> tuple[list[TestRoute], list[TestRoute], Roa, Roa] | None:
    """A ROA change while the lab runs, as two rounds: a member's route with a valid ROA
    (RPKI_BEFORE_CHANGE: accepted, tagged valid), then, announced unchanged, the same route
    after its ROA names another origin (rpki_invalid: the route server must re-check it and
    withdraw it from every member, with no new UPDATE from the member; kept and tagged with
    rpki.invalid: tag). Returns the rounds and
    the ROA before and after; None without a route to use."""
    for asn in sorted(routes):
        valid = next((r for r in routes[asn] if r.rule == ACCEPT and r.rpki_valid), None)
        if valid is None:
            continue
        foreign = next(a for a in _FOREIGN_ASNS if a != asn and a not in avoid)
        before = dataclasses.replace(valid, rule=RPKI_BEFORE_CHANGE)
        after = _invalid_route(dataclasses.replace(valid, rpki_valid=False,
                                                   roa_origin=foreign), exchange)
        length = valid.network.prefixlen
        return [before], [after], Roa(valid.network, length, asn), \
            Roa(valid.network, length, foreign)
    return None


def avoid_asns(exchange: Exchange, never_via: frozenset[int] = frozenset()) -> frozenset[int]:
    """ASNs that no accepted test route may have behind its member (they break a rule)."""
    return frozenset(exchange.policy.transit_free_asns) | never_via


def _valid_prefixes(entries: Sequence[PrefixRange], low: int, high: int,
                    lan: IPNetwork, cap: int = _MAX_VALID_PER_FAMILY) -> list[IPNetwork]:
    """Prefixes the member's IRR list accepts and no earlier check rejects."""
    found: list[IPNetwork] = []
    for entry in entries:
        base = entry.network
        for length in range(max(entry.ge, low), min(entry.le, high) + 1):
            subnets = [base] if length == base.prefixlen else \
                list(_first_subnets(base, length, 2))
            for network in subnets:
                if not is_bogon_prefix(network) and not network.overlaps(lan) \
                        and network not in found:
                    found.append(network)
            if len(found) >= cap:
                return found
    return found


def _first_subnets(network: IPNetwork, length: int, count: int) -> Iterator[IPNetwork]:
    subnets: Iterator[IPNetwork] = network.subnets(new_prefix=length)
    for index, subnet in enumerate(subnets):
        if index >= count:
            return
        yield subnet


def _outside_prefixes(entries: Sequence[PrefixRange], version: int, low: int, high: int,
                      lan: IPNetwork, taken: set[IPNetwork]) -> Iterator[IPNetwork]:
    """Public prefixes that no IRR entry of the member matches, in a fixed order."""
    length = min(max(24 if version == 4 else 48, low), high)
    for first in range(1, 224) if version == 4 else range(0x2400, 0x2c00, 0x10):
        for second in range(0, 256, 37):
            text = f"{first}.{second}.0.0" if version == 4 else f"{first:x}:{second:x}00::"
            network = ipaddress.ip_network(f"{text}/{length}")
            if is_bogon_prefix(network) or network.overlaps(lan) or network in taken:
                continue
            if any(entry.matches(network) for entry in entries):
                continue
            yield network
    raise RuntimeError("no public prefix outside the member's IRR list")  # pragma: no cover


def _more_specific(network: IPNetwork, length: int) -> IPNetwork | None:
    if length > network.max_prefixlen:
        return None
    subnets: Iterator[IPNetwork] = network.subnets(new_prefix=length)
    return next(subnets) if length > network.prefixlen else None


def _foreign_next_hop(member: Member, exchange: Exchange, version: int,
                      lan: IPNetwork) -> IPAddress:
    """An address on the peering LAN that is not the member's (nor a route server's)."""
    used = {s.ip for s in member.sessions} | set(member.extra_next_hops) | \
        {a for rs in exchange.route_servers for a in rs.addresses()}
    for candidate in reversed(list(_last_hosts(lan, 64))):
        if candidate not in used:
            return candidate
    raise RuntimeError("peering LAN too small for a foreign next hop")  # pragma: no cover


def _last_hosts(lan: IPNetwork, count: int) -> list[IPAddress]:
    top = int(lan.broadcast_address) - (1 if lan.version == 4 else 0)
    return [ipaddress.ip_address(top - i) if lan.version == 4 else
            ipaddress.IPv6Address(top - i) for i in range(count)][::-1]


# --- scenarios across members and limits: each is announced in a round of its own ---

_MAX_LIMIT_ROUTES = 16  # the import-limit scenario runs for limits below this


def alternative_path_routes(members: Sequence[Member], irr: Mapping[int, IrrData],
                            regular: Mapping[int, list[TestRoute]],
                            avoid: frozenset[int] = frozenset()) -> list[TestRoute]:
    """Path hiding by the member's own ASN, for each member M with several routers in a family.

    M's first router and another member X announce the same prefix, M with the shorter path,
    so the route server's best path holds M's ASN. Every other member must receive M's route
    (MULTI_ROUTER_BEST); M's routers must receive X's (ALTERNATIVE_PATH), not M's own path,
    which they would drop as a loop, leaving them without any route. The prefix is X's
    accepted test route where M's IRR data admits it too (a customer's prefix in its
    transit's AS-SET, the common case); without one, M gets no such scenario.
    """
    routes: list[TestRoute] = []
    used: set[IPNetwork] = set()
    for member in members:
        own = irr[member.asn]
        for version in (4, 6):
            addresses = [s.ip for s in member.sessions if s.ip.version == version]
            if len(addresses) < 2:
                continue
            entries = own.prefixes(version)
            for other in members:
                candidate = next((r for r in regular.get(other.asn, ())
                                  if r.rule == ACCEPT and r.family == version), None)
                if other.asn == member.asn or candidate is None or \
                        candidate.network in used or \
                        not any(e.matches(candidate.network) for e in entries):
                    continue
                origin = candidate.as_path[-1]
                best = (member.asn,) if member.asn in own.origins else \
                    (member.asn, origin) if origin in own.origins and origin not in avoid \
                    else None
                if best is None:
                    continue
                used.add(candidate.network)
                routes.append(TestRoute(member.asn, MULTI_ROUTER_BEST, candidate.network, best,
                                        None, True, sender=addresses[0]))
                routes.append(TestRoute(other.asn, ALTERNATIVE_PATH, candidate.network,
                                        (other.asn,) * (len(best) + 1), None, True,
                                        receiver_asn=member.asn))
                break
    return routes


def graceful_shutdown_routes(members: Sequence[Member], irr: Mapping[int, IrrData],
                             regular: Mapping[int, list[TestRoute]],
                             avoid: frozenset[int] = frozenset()) -> list[TestRoute]:
    """GRACEFUL_SHUTDOWN (RFC 8326), one scenario per family where the data allows: member X
    announces its accepted prefix with 65535:0 and its own short path, and its transit M
    (whose AS-SET holds X and admits the prefix) the same prefix with the longer path M X.
    The route server must prefer M's path (X's gets local preference 0), so every other
    member receives M X (GRACEFUL_SHUTDOWN_ALTERNATIVE); M's routers, whose own path is
    refused to them, get X's route with the community intact (GRACEFUL_SHUTDOWN)."""
    routes: list[TestRoute] = []
    for version in (4, 6):
        found = None
        for transit in members:
            own = irr[transit.asn]
            if not any(s.ip.version == version for s in transit.sessions):
                continue
            for customer in members:
                candidate = next((r for r in regular.get(customer.asn, ())
                                  if r.rule == ACCEPT and r.family == version), None)
                if customer.asn == transit.asn or candidate is None or \
                        customer.asn not in own.origins or customer.asn in avoid or \
                        not any(e.matches(candidate.network) for e in own.prefixes(version)):
                    continue
                found = (transit, customer, candidate.network)
                break
            if found:
                break
        if found is None:
            continue
        transit, customer, network = found
        routes.append(TestRoute(customer.asn, GRACEFUL_SHUTDOWN, network, (customer.asn,),
                                None, True, communities=(GSHUT,), receiver_asn=transit.asn))
        routes.append(TestRoute(transit.asn, GRACEFUL_SHUTDOWN_ALTERNATIVE, network,
                                (transit.asn, customer.asn), None, True,
                                not_to=(customer.asn,)))
    return routes


def _asn(value: int, rs_asn: int) -> int:
    return rs_asn if value == RS else value


def announcement_control_routes(members: Sequence[Member],
                                regular: Mapping[int, list[TestRoute]], *,
                                standard: bool | None) -> list[TestRoute]:
    """Announcement control (RFC 8195 style), in a round of its own: members announce their
    own accepted prefixes again (from `regular`, each prefix once, spread over the members and
    preferring those of the scenarios beside ACCEPT) with control communities for the route
    servers and with their own: a large (member, 7, 7) and, where the member's ASN fits 16
    bits, member:100, which receivers must get while the control communities are gone.

    One route each: (RS, 0, X) withheld from X (X 32-bit where a member is); (RS, 0, 0) +
    (RS, 1, X) only to X; (RS, 101..103, X) the member's ASN 1..3 times more towards X only;
    (RS, 103, 0) 3 times more towards everyone (with NO_EXPORT, which must stay). `standard`
    True (every route server's ASN fits 16 bits): also 0:X withheld from X and 0:RS + RS:X
    only to X (X 16-bit); False (none does): 0:X is an ordinary community, which X must get
    like everyone; None (some do): neither, as 0:X means something else to each.
    A scenario needs a sender with two other members in the family; X rotates over them.
    """
    peering = {v: [m.asn for m in members if any(s.ip.version == v for s in m.sessions)]
               for v in (4, 6)}
    per_member = [sorted((r for r in regular.get(m.asn, ())
                          if r.accepted and r.as_path == (m.asn,) and not r.crafted
                          and not r.blackhole and not r.rs_tags),
                         key=lambda r: (r.rule == ACCEPT, r.family))
                  for m in members]
    pool: list[TestRoute] = []
    for index in range(max(map(len, per_member), default=0)):
        pool += [c[index] for c in per_member if index < len(c)]
    used: set[IPNetwork] = set()
    routes: list[TestRoute] = []
    turn = 0

    def add(rule: str, prefer: int, pick: Callable[[list[int]], int | None],
            make: Callable[[int, list[int]], dict[str, Any]]) -> None:
        nonlocal turn
        for candidate in sorted(pool, key=lambda r: r.family != prefer):
            others = [a for a in peering[candidate.family] if a != candidate.member_asn]
            if candidate.network in used or len(others) < 2:
                continue
            target = pick(others[turn % len(others):] + others[:turn % len(others)])
            if target is None:
                continue
            used.add(candidate.network)
            turn += 1
            asn = candidate.member_asn
            fields = make(target, others)
            own = ((asn, 100),) if asn <= 0xFFFF else ()
            routes.append(TestRoute(
                asn, rule, candidate.network, (asn,), None, True,
                communities=own + fields.pop("communities", ()),
                large_communities=((asn, 7, 7),), **fields))
            return

    def first(asns: list[int]) -> int | None:
        return asns[0]

    def sixteen_bit(asns: list[int]) -> int | None:
        return next((a for a in asns if a <= 0xFFFF), None)

    def thirty_two_bit(asns: list[int]) -> int | None:
        return next((a for a in asns if a > 0xFFFF), asns[0])

    add(NOT_TO_MEMBER, 4, thirty_two_bit, lambda x, others: {
        "control_large_communities": ((RS, 0, x),), "withheld_from": (x,)})
    add(ONLY_TO_MEMBER, 6, first, lambda x, others: {
        "control_large_communities": ((RS, 0, 0), (RS, 1, x)),
        "withheld_from": tuple(a for a in others if a != x)})
    def prepend(times: int) -> Callable[[int, list[int]], dict[str, Any]]:
        return lambda x, others: {"control_large_communities": ((RS, 100 + times, x),),
                                  "prepends": ((x, times),)}

    for times in (1, 2, 3):
        add(PREPEND_TO_MEMBER, 6 if times == 2 else 4, first, prepend(times))
    add(PREPEND_TO_ALL, 4, first, lambda x, others: {
        "control_large_communities": ((RS, 103, 0),), "prepends": ((0, 3),),
        "communities": (NO_EXPORT,)})
    if standard is True:
        add(STANDARD_NOT_TO_MEMBER, 4, sixteen_bit, lambda x, others: {
            "control_communities": ((0, x),), "withheld_from": (x,)})
        add(STANDARD_ONLY_TO_MEMBER, 6, sixteen_bit, lambda x, others: {
            "control_communities": ((0, RS), (RS, x)),
            "withheld_from": tuple(a for a in others if a != x)})
    elif standard is False:
        add(STANDARD_NOT_CONTROL, 4, sixteen_bit, lambda x, others: {"communities": ((0, x),)})
    return routes


def import_limit_routes(member: Member, irr: IrrData, exchange: Exchange,
                        limits: Mapping[int, tuple[int, str]]) -> list[TestRoute]:
    """One route more than the member's import limit, each one the route server would accept.

    `limits`: IP version -> (the planned import limit, its action). For each family whose
    limit is small (below _MAX_LIMIT_ROUTES) and whose IRR data offers that many prefixes;
    the first route carries the check (`limit`), the others are only announced. With rsgen's
    headroom only member-file limits are that small.
    """
    routes: list[TestRoute] = []
    policy = exchange.policy
    for version, (limit, action) in sorted(limits.items()):
        lan = exchange.peering_lan.network(version)
        served = any(s.address(version) for s in exchange.route_servers)
        if lan is None or not served or limit >= _MAX_LIMIT_ROUTES or \
                member.asn not in irr.origins or \
                not any(s.ip.version == version for s in member.sessions):
            continue
        low = policy.min_length(version)
        high = policy.max_length(version)
        entries = irr.prefixes(version)
        valid = _valid_prefixes(entries, low, high, lan, cap=limit + 1)
        if len(valid) <= limit:
            continue
        routes += [TestRoute(member.asn, IMPORT_LIMIT, network, (member.asn,), None, True,
                             limit=(limit, action) if index == 0 else None)
                   for index, network in enumerate(valid[:limit + 1])]
    return routes
