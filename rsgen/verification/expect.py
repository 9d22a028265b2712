"""Compare what BIRD did with what the policy promised: pure functions over observations.

An observation is what `birdc` showed: the route servers' accepted and filtered routes, and
what each simulated member received. The comparison yields one Outcome per test route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rsgen.rules import REJECT_REASON_ID, RPKI_INFO_ID, RPKI_VALID, RULE_BY_CODE
from rsgen.verification.birdc import BgpRoute, IpNetwork, ProtocolStatus
from rsgen.verification.scenarios import (
    IMPORT_LIMIT,
    NO_EXPORT,
    ROUTE_LEAK,
    TestRoute,
)


@dataclass(frozen=True)
class Observation:
    """Routes seen at one moment: by route server name, and by simulated member router."""

    accepted: Mapping[str, Sequence[BgpRoute]]  # route server -> accepted routes
    filtered: Mapping[str, Sequence[BgpRoute]]  # route server -> filtered routes
    received: Mapping[str, Sequence[BgpRoute]]  # member router -> routes it received
    # route server -> its `show protocols` rows (the import-limit scenario reads them)
    protocols: Mapping[str, Sequence[ProtocolStatus]] = field(default_factory=dict)
    # route server -> protocols whose import limit BIRD marks as hit (read only when an
    # import-limit check runs): `block` and `warn` are judged by it, not by route counts
    # alone, which a lab still receiving the last route would also show.
    limits_hit: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # route server -> protocol -> the prefixes its export filter passes to that session (read
    # only for routes withheld from some members: the route server's own verdict, which
    # does not depend on how far an UPDATE has travelled)
    exported: Mapping[str, Mapping[str, frozenset[IpNetwork]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Expectation:
    """Where a test route should show up."""

    route: TestRoute
    protocols: Mapping[str, tuple[str, ...]]  # route server -> the member's BGP protocols
    sender_addresses: frozenset[str]  # the member's addresses in the route's family
    receivers: Mapping[str, tuple[str, ...]]  # other members' routers -> their sessions
    # Announcement control. Receiving router -> the AS path it must get, where that is not
    # the one sent (prepends); receiving session -> its route server's ASN (control
    # communities name it); routers that must NOT receive it -> their sessions; route
    # server -> those members' protocols, which it must not export it to.
    paths: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    session_asns: Mapping[str, int] = field(default_factory=dict)
    withheld: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    withheld_protocols: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    route: TestRoute
    expected: str  # "accepted" or "filtered (N reason)"
    seen: str  # summary of the route servers' handling
    receivers_expected: int  # accepted routes: sessions that should receive it; else 0
    receivers_seen: int  # sessions that received it (correctly, for accepted routes)
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def describe_reason(code: int | None) -> str:
    if code is None:
        return "accepted"
    rule = RULE_BY_CODE.get(code)
    return f"filtered ({code} {rule.name if rule else 'unknown'})"


def _reason_codes(route: BgpRoute, rs_asn: int) -> tuple[int, ...]:
    return tuple(sorted(c for a, b, c in route.large_communities
                        if a == rs_asn and b == REJECT_REASON_ID))


def _route_server_view(expectation: Expectation, observation: Observation,
                       rs_asns: Mapping[str, int]) -> tuple[dict[str, str], list[str]]:
    """For each (route server, protocol): 'accepted', 'filtered (N ...)' or 'absent'."""
    route = expectation.route
    seen: dict[str, str] = {}
    problems: list[str] = []
    want = "absent" if route.rule == ROUTE_LEAK else describe_reason(route.expected_reason)
    for server, protocols in sorted(expectation.protocols.items()):
        for protocol in protocols:
            key = f"{server}/{protocol}"
            accepted = [r for r in observation.accepted.get(server, ())
                        if r.protocol == protocol and r.network == route.network]
            filtered = [r for r in observation.filtered.get(server, ())
                        if r.protocol == protocol and r.network == route.network]
            missing = [(rs_asns[server], a, b) for a, b in route.rs_tags
                       if (rs_asns[server], a, b) not in accepted[0].large_communities] \
                if accepted else []
            if missing:
                state = "accepted without " + ", ".join(map(str, missing))
            elif accepted:
                state = "accepted"
            elif filtered:
                codes = _reason_codes(filtered[0], rs_asns[server])
                state = describe_reason(codes[0]) if len(codes) == 1 else \
                    f"filtered (reasons {list(codes)})"
            else:
                state = "absent"
            seen[key] = state
            if state != want:
                problems.append(f"{key}: expected {want}, seen {state}")
    return seen, problems


def _same_path(route: TestRoute, seen: BgpRoute) -> bool:
    """Whether `seen` has the AS path the route was sent with: the sequence, and the AS_SET
    after it (unordered) when it was sent with one."""
    if not route.as_set:
        return seen.as_path == route.as_path and not seen.as_path_has_set
    head, tail = seen.as_path[:len(route.as_path)], seen.as_path[len(route.as_path):]
    return seen.as_path_has_set and head == route.as_path and \
        sorted(tail) == sorted(route.as_set)


def _control_gone(route: TestRoute, seen: BgpRoute, rs_asns: frozenset[int]) -> bool:
    """Whether none of the route's control communities (with these route-server ASNs)
    reached the receiver, while its own large communities did."""
    standard = {c for asn in rs_asns for c in route.communities_for(asn)} - \
        set(route.communities)
    large = {c for asn in rs_asns for c in route.large_communities_for(asn)} - \
        set(route.large_communities)
    return not standard & set(seen.communities) and not large & set(seen.large_communities) \
        and set(route.large_communities) <= set(seen.large_communities)


def _received(route: TestRoute, routes: Sequence[BgpRoute], protocol: str,
              senders: frozenset[str] | None, rs_asns: frozenset[int] = frozenset(),
              path: tuple[int, ...] | None = None, session_asn: int | None = None) -> bool:
    """Whether a receiving session got this route with the AS path it was sent with (so the
    route server's ASN is absent, RFC 7947), with every community it was sent with and, when
    `senders` is given, with the sender's own next hop: first in the list, and for a route
    sent with a link-local next hop beside it, alone (the link-local one must be gone). An
    accepted blackhole request must also have gained NO_EXPORT."""
    wanted = set(route.communities) | ({NO_EXPORT} if route.blackhole else set())
    for seen in routes:
        if seen.protocol != protocol or seen.network != route.network:
            continue
        hops = set(seen.next_hop if route.link_local is not None else seen.next_hop[:1])
        tagged = not route.rpki_valid or any(
            a in rs_asns and (b, c) == (RPKI_INFO_ID, RPKI_VALID)
            for a, b, c in seen.large_communities)
        tagged = tagged and all(any((a, b, c) in seen.large_communities for a in rs_asns)
                                for b, c in route.rs_tags)
        same = _same_path(route, seen) if path is None else \
            seen.as_path == path and not seen.as_path_has_set
        control = frozenset(rs_asns) if session_asn is None else frozenset({session_asn})
        if same and wanted <= set(seen.communities) \
                and (senders is None or hops <= senders) and tagged \
                and _control_gone(route, seen, control):
            return True
    return False


def compare(expectation: Expectation, observation: Observation,
            rs_asns: Mapping[str, int]) -> Outcome:
    route = expectation.route
    if route.rule == IMPORT_LIMIT:
        return _compare_limit(expectation, observation)
    seen, problems = _route_server_view(expectation, observation, rs_asns)
    states = sorted(set(seen.values()))
    summary = states[0] if len(states) == 1 else "mixed: " + ", ".join(states)
    expected_sessions = [(router, p)
                         for router, protocols in sorted(expectation.receivers.items())
                         for p in protocols]
    senders = expectation.sender_addresses if route.accepted else None
    got = [(router, p) for router, p in expected_sessions
           if _received(route, observation.received.get(router, ()), p, senders,
                        frozenset(rs_asns.values()), expectation.paths.get(router),
                        expectation.session_asns.get(p))]
    if route.accepted:
        communities = "".join(f" and community ({a},{b})" for a, b in route.communities)
        if route.blackhole:
            communities += f" and community ({NO_EXPORT[0]},{NO_EXPORT[1]}) added"
        if route.link_local is not None:
            communities += f" and without the link-local next hop {route.link_local}"
        if route.rpki_valid:
            communities += f" and the RPKI valid tag (RS, {RPKI_INFO_ID}, {RPKI_VALID})"
        communities += "".join(f" and the tag (RS, {b}, {c})" for b, c in route.rs_tags)
        if route.large_communities:
            communities += "".join(f" and large community ({a}, {b}, {c})"
                                   for a, b, c in route.large_communities)
        if route.control_communities or route.control_large_communities:
            communities += " and without its control communities"
        for router, protocol in expected_sessions:
            if (router, protocol) not in got:
                path = expectation.paths.get(router, route.as_path)
                problems.append(f"{router} session {protocol} did not receive it with next hop "
                                f"{'/'.join(sorted(expectation.sender_addresses))} and AS path "
                                f"{' '.join(map(str, path))}{communities}")
        problems += _withheld_problems(expectation, observation)
        return Outcome(route, "accepted", summary, len(expected_sessions), len(got),
                       tuple(problems))
    for router, protocol in got:
        problems.append(f"leaked: {router} session {protocol} received it")
    expected = "absent (dropped as a leak)" if route.rule == ROUTE_LEAK else \
        describe_reason(route.expected_reason)
    return Outcome(route, expected, summary, 0, len(got), tuple(problems))


def _withheld_problems(expectation: Expectation, observation: Observation) -> list[str]:
    """A route withheld from some members: the route servers must not export it to them
    (judged by their export filters, so a route in flight cannot pass for withheld), and their
    routers must not have it."""
    route = expectation.route
    problems = []
    for server, protocols in sorted(expectation.withheld_protocols.items()):
        exported = observation.exported.get(server, {})
        for protocol in protocols:
            if protocol not in exported:
                problems.append(f"{server}/{protocol}: its export was not read")
            elif route.network in exported[protocol]:
                problems.append(f"withheld: {server} exports it to {protocol}")
    for router, protocols in sorted(expectation.withheld.items()):
        for protocol in protocols:
            if any(r.protocol == protocol and r.network == route.network
                   for r in observation.received.get(router, ())):
                problems.append(f"leaked: {router} session {protocol} received it")
    return problems


def describe_limit(limit: int, action: str) -> str:
    """What the route server must do with a session that offers limit + 1 acceptable routes."""
    what = {"warn": f"established, all {limit + 1} accepted (only a warning)",
            "block": f"established, {limit} accepted (the rest blocked)",
            "disable": "disabled (down), none accepted",
            "restart": f"restarted again and again, never more than {limit} accepted"}
    return f"import limit {limit}, action {action}: {what.get(action, action)}"


def _compare_limit(expectation: Expectation, observation: Observation) -> Outcome:
    """IMPORT_LIMIT: the member announced one acceptable route more than its import limit:
    each of its sessions must show the configured action."""
    route = expectation.route
    if route.limit is None:
        raise ValueError("an import-limit check needs its limit")
    limit, action = route.limit
    seen: dict[str, str] = {}
    problems: list[str] = []
    for server, protocols in sorted(expectation.protocols.items()):
        rows = {row.name: row for row in observation.protocols.get(server, ())}
        for protocol in protocols:
            count = sum(1 for r in observation.accepted.get(server, ()) if r.protocol == protocol)
            row = rows.get(protocol)
            up = row is not None and row.established
            state = "missing" if row is None else "established" if up else \
                " ".join(filter(None, (row.state, row.info)))
            key = f"{server}/{protocol}"
            hit = protocol in observation.limits_hit.get(server, frozenset())
            seen[key] = f"{count} accepted, {state}"
            if action in ("warn", "block") and not hit:
                seen[key] += ", limit not hit"
            if action == "warn":
                ok = up and hit and count == limit + 1
            elif action == "block":
                ok = up and hit and count == limit
            elif action == "disable":
                ok = row is not None and row.state == "down" and count == 0
            else:  # restart: torn down on every attempt, so never over the limit
                ok = count <= limit
            if not ok:
                problems.append(f"{key}: expected {describe_limit(limit, action)}, "
                                f"seen {seen[key]}")
    states = sorted(set(seen.values()))
    summary = states[0] if len(states) == 1 else "mixed: " + ", ".join(states)
    return Outcome(route, describe_limit(limit, action), summary, 0, 0, tuple(problems))
