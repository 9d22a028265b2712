"""Checks across files that a schema cannot express: duplicates, addresses, reserved ASNs."""

from __future__ import annotations

from rsgen.errors import Problem
from rsgen.model import Config, Session
from rsgen.values import IPAddress, bogon_asn_reason


def consistency_problems(config: Config) -> list[Problem]:
    """Every cross-file problem of a loaded exchange, in file order."""
    exchange = config.exchange
    problems: list[Problem] = []
    lan = exchange.peering_lan

    for server in exchange.route_servers:
        for address in server.addresses():
            if not lan.contains(address):
                problems.append(Problem(
                    f"route server {server.name} address {address} is outside the peering LAN",
                    exchange.location.file, None, "fix peering_lan or the route server address"))

    server_addresses = {a: s.name for s in exchange.route_servers for a in s.addresses()}
    server_asns = {s.asn for s in exchange.route_servers}
    first_owner: dict[IPAddress, str] = {}
    seen_asns: dict[int, str] = {}
    for member in config.members:
        file = member.location.file
        asn_line = member.location.line or 1  # the member's `asn:` line
        if member.asn in seen_asns:
            problems.append(Problem(f"AS{member.asn} is also defined in {seen_asns[member.asn]}",
                                    file, asn_line, "keep one file per member"))
        seen_asns.setdefault(member.asn, file)
        reason = bogon_asn_reason(member.asn)
        if reason:
            problems.append(Problem(f"AS{member.asn} is not a public ASN: {reason}; it cannot "
                                    "peer at an exchange", file, asn_line,
                                    "use the member's public ASN"))
        if member.asn in server_asns:
            problems.append(Problem(f"AS{member.asn} is the route servers' own ASN", file,
                                    asn_line,
                                    "use the member's own ASN; this one is the exchange's"))
        for session in member.sessions:
            line = session.location.line if session.location else None
            address = session.ip
            if address in server_addresses:
                problems.append(Problem(
                    f"session address {address} belongs to route server "
                    f"{server_addresses[address]}", file, line, "use the member's own address"))
            elif not lan.contains(address):
                networks = " or ".join(str(n) for n in (lan.ipv4, lan.ipv6) if n is not None)
                problems.append(Problem(f"session address {address} is outside the peering LAN",
                                        file, line, f"member addresses are in {networks}"))
            elif address in (lan.ipv4.network_address if lan.ipv4 else None,
                             lan.ipv4.broadcast_address if lan.ipv4 else None,
                             lan.ipv6.network_address if lan.ipv6 else None):
                # IPv6 has no broadcast; its network address is the Subnet-Router anycast.
                problems.append(Problem(f"session address {address} is the peering LAN's "
                                        "network or broadcast address", file, line))
            if address in first_owner:
                problems.append(Problem(f"session address {address} is also used in "
                                        f"{first_owner[address]}", file, line,
                                        "each address belongs to one member session"))
            else:
                first_owner[address] = file
        own = {s.ip for s in member.sessions}
        for address in member.extra_next_hops:
            if address in server_addresses:
                problems.append(Problem(f"next_hops: {address} belongs to route server "
                                        f"{server_addresses[address]}", file, asn_line))
            elif not lan.contains(address):
                problems.append(Problem(f"next_hops: {address} is outside the peering LAN",
                                        file, asn_line, "next hops are routers on the LAN"))
            elif address in own:
                problems.append(Problem(f"next_hops: {address} is already a session address "
                                        "of this member", file, asn_line,
                                        "list only routers without a route-server session"))
        first_of_family: dict[int, Session] = {}
        for session in member.sessions:
            first_of_family.setdefault(session.ip.version, session)
        for version, session in sorted(first_of_family.items()):
            if not any(server.address(version)
                       for server in exchange.route_servers):
                problems.append(Problem(
                    f"session address {session.ip}: an IPv{version} session, but no route "
                    f"server has an IPv{version} address", file,
                    session.location.line if session.location else asn_line,
                    f"remove the IPv{version} sessions or give a route server an "
                    f"IPv{version} address"))
    # The blackhole next hop is nobody's router: attack traffic must go nowhere.
    holes = exchange.blackhole
    for hole in (holes.ipv4, holes.ipv6) if holes else ():
        if hole is None:
            continue
        owner = first_owner.get(hole) or next(
            (m.location.file for m in config.members if hole in m.extra_next_hops), None)
        if owner is not None:
            problems.append(Problem(f"blackhole next hop {hole} is a router of a member "
                                    f"({owner})", exchange.location.file, None,
                                    "set blackhole to an address no router has"))
    # Another member's router is never a next hop of this member's routes, nor one router of
    # two members: traffic would go where the route's owner never asked.
    claimed: dict[IPAddress, str] = {}
    for member in config.members:
        for address in member.extra_next_hops:
            owner = first_owner.get(address) or claimed.get(address)
            if owner is not None and owner != member.location.file:
                problems.append(Problem(f"next_hops: {address} is a router of another member "
                                        f"({owner})", member.location.file,
                                        member.location.line or 1,
                                        "list only this member's own routers"))
            claimed.setdefault(address, member.location.file)
    return problems


def consistency_warnings(config: Config) -> list[Problem]:
    """What is allowed but probably a mistake: `rsgen check` says so, and exits 0."""
    exchange = config.exchange
    file = exchange.location.file
    warnings: list[Problem] = []
    by_id: dict[str, list[str]] = {}
    for server in exchange.route_servers:
        by_id.setdefault(str(server.router_id), []).append(server.name)
    for router_id, names in by_id.items():
        if len(names) > 1:
            warnings.append(Problem(
                f"route servers {', '.join(names)} share router_id {router_id}", file, None,
                "give each route server its own router_id (members see both in one AS; some "
                "routers refuse a second session with the same BGP identifier)"))
    asns = sorted({s.asn for s in exchange.route_servers})
    if len(asns) > 1:
        warnings.append(Problem(
            f"the route servers have different ASNs ({', '.join(f'AS{a}' for a in asns)})",
            file, None, "members configure one route-server ASN, and announcement-control "
                        "communities name it: use one ASN for every route server"))
    sources = set(exchange.irr.sources)
    for member in config.members:
        for as_set in member.as_sets:
            if as_set.source is not None and as_set.source not in sources:
                warnings.append(Problem(
                    f"{as_set} names the IRR source {as_set.source}, which is not in "
                    f"irr.sources ({', '.join(exchange.irr.sources)})",
                    member.location.file, member.location.line,
                    f"add {as_set.source} to irr.sources in exchange.yml, or check the name"))
    return warnings
