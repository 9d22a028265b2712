"""Compare what BIRD did with what the policy promised: pure functions over observations.

An observation is what `birdc` showed: the route servers' accepted and filtered routes, and
what each simulated member received. The comparison yields one Outcome per test route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rsgen.rules import REJECT_REASON_ID, RULE_BY_CODE
from rsgen.verification.birdc import BgpRoute, ProtocolStatus
from rsgen.verification.scenarios import IMPORT_LIMIT, TestRoute


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


@dataclass(frozen=True)
class Expectation:
    """Where a test route should show up."""

    route: TestRoute
    protocols: Mapping[str, tuple[str, ...]]  # route server -> the member's BGP protocols
    sender_addresses: frozenset[str]  # the member's addresses in the route's family
    receivers: Mapping[str, tuple[str, ...]]  # other members' routers -> their sessions


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
    want = describe_reason(route.expected_reason)
    for server, protocols in sorted(expectation.protocols.items()):
        for protocol in protocols:
            key = f"{server}/{protocol}"
            accepted = [r for r in observation.accepted.get(server, ())
                        if r.protocol == protocol and r.network == route.network]
            filtered = [r for r in observation.filtered.get(server, ())
                        if r.protocol == protocol and r.network == route.network]
            if accepted:
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


def _received(route: TestRoute, routes: Sequence[BgpRoute], protocol: str,
              senders: frozenset[str] | None) -> bool:
    """Whether a receiving session got this route with the AS path it was sent with (so the
    route server's ASN is absent, RFC 7947), with every community it was sent with and, when
    `senders` is given, with the sender's own next hop: first in the list, and for a route
    sent with a link-local next hop beside it, alone (the link-local one must be gone)."""
    for seen in routes:
        if seen.protocol != protocol or seen.network != route.network:
            continue
        hops = set(seen.next_hop if route.link_local is not None else seen.next_hop[:1])
        if _same_path(route, seen) and set(route.communities) <= set(seen.communities) \
                and (senders is None or hops <= senders):
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
           if _received(route, observation.received.get(router, ()), p, senders)]
    if route.accepted:
        communities = "".join(f" and community ({a},{b})" for a, b in route.communities)
        if route.link_local is not None:
            communities += f" and without the link-local next hop {route.link_local}"
        for router, protocol in expected_sessions:
            if (router, protocol) not in got:
                problems.append(f"{router} session {protocol} did not receive it with next hop "
                                f"{'/'.join(sorted(expectation.sender_addresses))} and AS path "
                                f"{' '.join(map(str, route.as_path))}{communities}")
        return Outcome(route, "accepted", summary, len(expected_sessions), len(got),
                       tuple(problems))
    for router, protocol in got:
        problems.append(f"leaked: {router} session {protocol} received it")
    return Outcome(route, describe_reason(route.expected_reason), summary, 0, len(got),
                   tuple(problems))


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
