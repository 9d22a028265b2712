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
from collections.abc import Iterator
from dataclasses import dataclass

from rsgen.model import Exchange, IrrData, Member
from rsgen.rules import RULE_BY_NAME
from rsgen.values import IPAddress, IPNetwork, PrefixRange, is_bogon_prefix

ACCEPT = "accept"
# Public ASNs used as foreign first AS or foreign origin: large transit networks.
_FOREIGN_ASNS = (3356, 174, 1299, 2914, 6939, 6453, 3257, 6762)
_BOGON_ASN = 64512
_BOGON_CANDIDATES = {4: ("10.0.0.0/16", "172.16.0.0/16", "100.64.0.0/16", "198.18.0.0/16"),
                     6: ("3fff:100::/32", "2001:db8:1234::/48", "fc00:1234::/32")}
_MAX_VALID_PER_FAMILY = 8


@dataclass(frozen=True)
class TestRoute:
    """One route a simulated member announces to every route server."""

    member_asn: int
    rule: str  # ACCEPT, or the name of the rule it breaks (rsgen.rules)
    network: IPNetwork
    as_path: tuple[int, ...]  # as the route server receives it
    next_hop: IPAddress | None  # None: the announcing session's own address
    isolated: bool  # breaks only this rule (else it is also outside the IRR list)

    @property
    def expected_reason(self) -> int | None:
        return None if self.rule == ACCEPT else RULE_BY_NAME[self.rule].code

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
        lan = exchange.peering_lan.ipv4 if version == 4 else exchange.peering_lan.ipv6
        served = any(s.ipv4 if version == 4 else s.ipv6 for s in exchange.route_servers)
        if lan is None or not served or not any(s.ip.version == version
                                                for s in member.sessions):
            continue
        routes += _family_routes(member, irr, exchange, version, lan, taken)
    return routes


def _family_routes(member: Member, irr: IrrData, exchange: Exchange, version: int,
                   lan: IPNetwork, taken: set[IPNetwork]) -> list[TestRoute]:
    policy = exchange.policy
    low = policy.ipv4_min_length if version == 4 else policy.ipv6_min_length
    high = policy.ipv4_max_length if version == 4 else policy.ipv6_max_length
    entries = irr.ipv4 if version == 4 else irr.ipv6
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
            isolated: bool) -> None:
        routes.append(TestRoute(asn, rule, network, path, next_hop, isolated))

    own_path = (asn,)
    if valid:
        network, _ = claim(True)
        taken.add(network)
        add(ACCEPT, network, own_path, None, True)
        longer = _more_specific(network, high + 1)
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
                    lan: IPNetwork) -> list[IPNetwork]:
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
            if len(found) >= _MAX_VALID_PER_FAMILY:
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
