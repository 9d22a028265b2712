"""Which test routes each simulated member announces, and what the route server must do.

Pure: from the loaded exchange and its snapshot to a list of TestRoutes. Every route is derived
from the member's own data: an accepted one from its IRR list, and one per policy rule that
breaks that rule. Where the member's IRR list offers enough distinct prefixes, a violating
route breaks only its rule (so a missing check would let it through); otherwise it uses a
prefix outside the IRR list, and the reason code still tells which check caught it, since the
IRR check runs last.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from rsgen.model import Exchange, IrrData, Member
from rsgen.rules import RULE_BY_NAME
from rsgen.values import IPAddress, IPNetwork, PrefixRange, is_bogon_prefix

ACCEPT = "accept"
# Accepted like ACCEPT, but carrying the well-known communities NO_EXPORT and NO_ADVERTISE
# (RFC 1997): meant for the receiving members, so the route server must pass the route on to
# every other member with them intact instead of acting on them itself.
WELL_KNOWN_COMMUNITIES = "well_known_communities"
# Two members announce the same prefix, one of them (M) with the shorter path and from only
# one of its routers. MULTI_ROUTER_BEST is M's route: the best, which every other member
# receives. ALTERNATIVE_PATH is the other member's: M's other routers must receive it, since
# the best path contains M's own ASN and they would drop it as a loop.
MULTI_ROUTER_BEST = "multi_router_best"
ALTERNATIVE_PATH = "alternative_path"
ACCEPTING = (ACCEPT, WELL_KNOWN_COMMUNITIES, MULTI_ROUTER_BEST, ALTERNATIVE_PATH)
# More routes the route server would accept than the member's import limit: the configured
# max-prefix action must happen (announced last: it may take the sessions down).
IMPORT_LIMIT = "import_limit"
NO_EXPORT, NO_ADVERTISE = (65535, 65281), (65535, 65282)
# Public ASNs used as foreign first AS or foreign origin: large transit networks.
_FOREIGN_ASNS = (3356, 174, 1299, 2914, 6939, 6453, 3257, 6762)
_BOGON_ASN = 64512
_BOGON_CANDIDATES = {4: ("10.0.0.0/16", "172.16.0.0/16", "100.64.0.0/16", "198.18.0.0/16"),
                     6: ("3fff:100::/32", "2001:db8:1234::/48", "2002:1234::/32")}
# Outside 2000::/3 but in no bogon list: only the global unicast check catches these.
_NON_GLOBAL_UNICAST_V6 = ("fd00:1234::/32", "4000:1234::/32")
_MAX_VALID_PER_FAMILY = 8


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
    # Only this member's routers must receive it (ALTERNATIVE_PATH); None: every other member.
    receiver_asn: int | None = None
    # IMPORT_LIMIT: (the sessions' import limit, the action) on the route that carries the
    # check; None on the others of the group, which are only announced.
    limit: tuple[int, str] | None = None

    @property
    def accepted(self) -> bool:
        """Whether the route server must accept it (ACCEPTING) rather than filter it."""
        return self.rule in ACCEPTING

    @property
    def expected_reason(self) -> int | None:
        return None if self.accepted else RULE_BY_NAME[self.rule].code

    @property
    def family(self) -> int:
        return self.network.version


def member_routes(member: Member, irr: IrrData, exchange: Exchange,
                  taken: set[IPNetwork]) -> list[TestRoute]:
    """The test routes of one member, for each family it has sessions in.

    `taken` holds the prefixes other members' accepted test routes use: those must be unique
    across the exchange, so a receiving member sees exactly one route per prefix. (Routes the
    route server must filter may share prefixes between members: it keeps them per session.)
    """
    routes: list[TestRoute] = []
    for version in (4, 6):
        lan = exchange.peering_lan.network(version)
        served = any(s.address(version) for s in exchange.route_servers)
        if lan is None or not served or not any(s.ip.version == version
                                                for s in member.sessions):
            continue
        routes += _family_routes(member, irr, exchange, version, lan, taken)
    return routes


def _family_routes(member: Member, irr: IrrData, exchange: Exchange, version: int,
                   lan: IPNetwork, taken: set[IPNetwork]) -> list[TestRoute]:
    policy = exchange.policy
    low = policy.min_length(version)
    high = policy.max_length(version)
    entries = irr.prefixes(version)
    asn = member.asn
    valid = [n for n in _valid_prefixes(entries, low, high, lan) if n not in taken]
    in_irr = set(valid)
    used = set(taken)  # this member's own prefixes must differ from each other, too
    outside = _outside_prefixes(entries, version, low, high, lan, used)

    def claim(from_valid: bool) -> tuple[IPNetwork, bool]:
        network = valid.pop(0) if from_valid and valid else next(outside)
        used.add(network)
        return network, network in in_irr

    routes: list[TestRoute] = []

    def add(rule: str, network: IPNetwork, path: tuple[int, ...], next_hop: IPAddress | None,
            isolated: bool, communities: tuple[tuple[int, int], ...] = ()) -> None:
        routes.append(TestRoute(asn, rule, network, path, next_hop, isolated, communities))

    own_path = (asn,)
    if valid:
        network, _ = claim(True)
        taken.add(network)
        add(ACCEPT, network, own_path, None, True)
        longer = _more_specific(network, high + 1)
        if valid:  # before the violating routes: a second registered prefix is rarer
            tagged, _ = claim(True)
            taken.add(tagged)
            add(WELL_KNOWN_COMMUNITIES, tagged, own_path, None, True,
                (NO_EXPORT, NO_ADVERTISE))
        isolated = True
    else:
        longer = _more_specific(next(outside), high + 1)
        isolated = False
    if longer is not None:
        used.add(longer)
        add("prefix_length", longer, own_path, None, isolated)

    add("peering_lan", lan, own_path, None, True)
    bogon = next(n for n in map(ipaddress.ip_network, _BOGON_CANDIDATES[version])
                 if not n.overlaps(lan))
    add("bogon_prefix", bogon, own_path, None, True)
    if version == 6:
        outside_unicast = next(n for n in map(ipaddress.ip_network, _NON_GLOBAL_UNICAST_V6)
                               if not n.overlaps(lan))
        add("ipv6_not_global_unicast", outside_unicast, own_path, None, True)

    foreign_first = next(a for a in _FOREIGN_ASNS if a != asn)
    foreign_origin = next((a for a in _FOREIGN_ASNS if a != asn and a not in irr.origins), None)
    checks: list[tuple[str, tuple[int, ...], IPAddress | None]] = [
        ("bogon_asn", (asn, _BOGON_ASN, asn), None),
        ("as_path_length", (asn,) * (policy.max_as_path_length + 1), None),
        ("first_as", (foreign_first, asn), None),
        ("next_hop", own_path, _foreign_next_hop(member, exchange, version, lan)),
    ]
    if foreign_origin is not None:
        checks.append(("origin_as", (asn, foreign_origin), None))
    for rule, path, next_hop in checks:
        network, isolated = claim(True)
        add(rule, network, path, next_hop, isolated)
    network, _ = claim(False)
    add("irr_prefix", network, own_path, None, True)
    return routes


def _valid_prefixes(entries: tuple[PrefixRange, ...], low: int, high: int,
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


def _outside_prefixes(entries: tuple[PrefixRange, ...], version: int, low: int, high: int,
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
    used = {s.ip for s in member.sessions} | {a for rs in exchange.route_servers
                                              for a in rs.addresses()}
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
                            regular: Mapping[int, list[TestRoute]]) -> list[TestRoute]:
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
                    (member.asn, origin) if origin in own.origins else None
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


def import_limit_routes(member: Member, irr: IrrData, exchange: Exchange,
                        limits: Mapping[int, int], action: str) -> list[TestRoute]:
    """One route more than the member's import limit, each one the route server would accept.

    For each family whose limit is small (below _MAX_LIMIT_ROUTES) and whose IRR data offers
    that many prefixes; the first route carries the check (`limit`), the others are only
    announced. With rsgen's headroom only member-file limits are that small.
    """
    routes: list[TestRoute] = []
    policy = exchange.policy
    for version, limit in sorted(limits.items()):
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
