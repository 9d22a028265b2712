"""`rsgen verify`: build offline, start the configs in BIRD on an emulated peering LAN, announce
test routes from simulated members, and compare what happened with what the policy promises.

The route servers run the generated configs unmodified, each in its own network namespace with
its real peering-LAN addresses; each member router is a BIRD, or rsgen's BGP speaker where a
scenario needs an UPDATE that BIRD cannot send (rsgen.verification.peers), in another
namespace on the same bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rsgen.builder import build_stage
from rsgen.errors import InvalidInput, VerifyFailed
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.model import Config, Member, RtrServer, Snapshot
from rsgen.plan import ExchangePlan, FamilyPlan, RpkiPlan
from rsgen.render import default_templates_dir, make_environment
from rsgen.settings import Settings
from rsgen.snapshot import recover_snapshot
from rsgen.sources.proc import missing_tool
from rsgen.values import IPAddress
from rsgen.verification.birdc import BgpRoute, Birdc, ProtocolStatus
from rsgen.verification.expect import Expectation, Observation, Outcome, compare
from rsgen.verification.lab import (
    HostSpec,
    Lab,
    check_privileges,
    cleanup_stale,
    confinement,
    terminate_on_signals,
)
from rsgen.verification.peers import (
    CONFIG,
    CONTROL,
    PEER_TEMPLATE,
    BirdPeer,
    PeerSession,
    Router,
    SimulatedRouter,
    SpeakerPeer,
    routers,
    spawn_bird,
)
from rsgen.verification.rtr import Roa, start_stayrtr, update_roas
from rsgen.verification.scenarios import (
    IMPORT_LIMIT,
    RPKI_INVALID_TAGGED,
    TestRoute,
    alternative_path_routes,
    announcement_control_routes,
    avoid_asns,
    graceful_shutdown_routes,
    import_limit_routes,
    member_routes,
    rpki_change_routes,
    rpki_roas,
)

log = logging.getLogger(__name__)
POLL_SECONDS = 0.3
STABLE_POLLS = 4  # identical observations in a row before a mismatch is final

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class VerifyOptions:
    directory: Path
    output: Path | None = None
    members: tuple[int, ...] | None = None
    sample: int | None = None
    keep: bool = False
    templates: Path | None = None  # a customised templates/ directory, as for build
    session_timeout: float = 60.0
    settle_timeout: float = 30.0


@dataclass
class VerifyReport:
    exchange: str
    route_servers: list[str]
    members: list[int]
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def select_members(config: Config, asns: Sequence[int] | None,
                   sample: int | None) -> list[Member]:
    """The members to simulate: the listed ASNs, an even sample, or all."""
    members = list(config.members)
    if asns:
        known = {m.asn: m for m in members}
        unknown = [a for a in asns if a not in known]
        if unknown:
            raise InvalidInput(f"not members of this exchange: "
                               f"{', '.join(f'AS{a}' for a in unknown)}")
        return [known[a] for a in sorted(set(asns))]
    if sample is not None and 0 < sample < len(members):
        # Evenly spaced over the ASN-sorted list: the same members on every run.
        step = len(members) / sample
        return [members[int(i * step)] for i in range(sample)]
    return members


def _symbol(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def peer_sessions(router: Router, exchange_plan: ExchangePlan) -> list[PeerSession]:
    """The simulated router's side of each session the plan gives its member: the same
    addresses, and the member session's password."""
    sessions = []
    for address in router.addresses:
        for server in exchange_plan.route_servers:
            member = server.member(router.member.asn)
            family = member.family(address.version) if member else None
            planned = next((s for s in family.sessions if s.address == address), None) \
                if family else None
            if planned is None:
                continue
            name = f"{_symbol(server.name)}_{_symbol(address.compressed)}"
            sessions.append(PeerSession(name, address.version, address, planned.local,
                                        server.asn, server.name, planned.password))
    return sessions


def planned_families(exchange_plan: ExchangePlan, asn: int,
                     version: int) -> dict[str, FamilyPlan]:
    """Route server name -> the plan for member `asn`'s routes of one IP version there."""
    found = {}
    for server in exchange_plan.route_servers:
        member = server.member(asn)
        family = member.family(version) if member else None
        if family is not None:
            found[server.name] = family
    return found


def expectations(exchange_plan: ExchangePlan, members: Sequence[Member],
                 routes: dict[int, list[TestRoute]]) -> list[Expectation]:
    """Where each test route must show up: the route servers' sessions and the receiving
    routers' sessions, all as the plan names them."""
    sessions = {r.name: (r, peer_sessions(r, exchange_plan))
                for m in members for r in routers(m)}
    # Members that take no blackhole routes, among those simulated (only their sessions are up).
    simulated = {m.asn for m in members}
    refusing = {m.asn for server in exchange_plan.route_servers for m in server.members
                if not m.receives_blackholes and m.asn in simulated}
    # Members with ADD-PATH also receive the paths that are not the best.
    every_path = {m.asn for server in exchange_plan.route_servers for m in server.members
                  if m.add_path}
    result = []
    for member in members:
        for route in routes[member.asn]:
            if route.rule == IMPORT_LIMIT and route.limit is None:
                continue  # only announced: the group's first route carries the check
            families = planned_families(exchange_plan, member.asn, route.family)
            protocols = {server: tuple(s.protocol for s in family.sessions
                                       if route.sender in (None, s.address))
                         for server, family in families.items()}
            senders = frozenset(str(s.address) for family in families.values()
                                for s in family.sessions if route.sender in (None, s.address))
            if route.accepted and route.next_hop is not None:
                senders = frozenset({str(route.next_hop)})  # an authorised other router
            withheld_from = set(route.withheld_from)
            if route.rule == RPKI_INVALID_TAGGED:  # kept by the route servers, sent to nobody
                withheld_from |= {m.asn for m in members if m.asn != member.asn}
            if route.accepted and route.blackhole:
                assert exchange_plan.blackhole is not None  # only then are there such routes
                senders = frozenset({str(exchange_plan.blackhole.next_hop(route.family))})
                withheld_from |= refusing
            receivers = {name: tuple(p.name for p in peers if p.version == route.family)
                         for name, (router, peers) in sessions.items()
                         if router.member.asn != member.asn
                         and (route.receiver_asn in (None, router.member.asn)
                              or router.member.asn in every_path)
                         and router.member.asn not in route.not_to}
            withheld = {name: receivers.pop(name) for name, (router, _) in sessions.items()
                        if name in receivers and router.member.asn in withheld_from}
            paths = {name: sessions[name][0].member.asn for name in receivers}
            result.append(Expectation(
                route, protocols, senders,
                {name: names for name, names in receivers.items() if names},
                paths={name: route.path_to(asn) for name, asn in paths.items()
                       if route.path_to(asn) != route.as_path},
                session_asns={p.name: p.remote_asn for _, peers in sessions.values()
                              for p in peers if p.version == route.family},
                withheld={name: names for name, names in withheld.items() if names},
                withheld_protocols=_withheld_protocols(exchange_plan, route.family,
                                                       withheld_from)))
    return result


def _withheld_protocols(exchange_plan: ExchangePlan, version: int,
                        asns: set[int]) -> dict[str, tuple[str, ...]]:
    """Route server -> the sessions of the members a route is withheld from, in its family."""
    found: dict[str, tuple[str, ...]] = {}
    for asn in sorted(asns):
        for server, family in planned_families(exchange_plan, asn, version).items():
            found[server] = found.get(server, ()) + tuple(s.protocol for s in family.sessions)
    return found


def rounds(exchange_plan: ExchangePlan, members: Sequence[Member],
           routes: dict[int, list[TestRoute]]) -> list[dict[int, list[TestRoute]]]:
    """Split each member's test routes into rounds that stay within its limits.

    The route server counts accepted routes against the import limit (the policy's
    max-prefix) and every route received, filtered ones included, against the receive limit.
    A round holds at most as many of a member's routes as its receive limit and at most as
    many acceptable ones as its import limit, so no limit trips here (the import-limit
    scenario trips one on purpose, in a round of its own). With the default receive limit (at
    least 1,000) all of a member's test routes fit one round: its filtered routes outnumber a
    small import limit at once, and its session must stay up all the same.
    """
    batches: dict[int, list[list[TestRoute]]] = {}
    for member in members:
        per_family: list[list[list[TestRoute]]] = []
        for version in (4, 6):
            family = [r for r in routes[member.asn] if r.family == version]
            planned = planned_families(exchange_plan, member.asn, version).values()
            if not planned:
                per_family.append([family] if family else [])
                continue
            per_family.append(_split(family, min(f.import_limit.value for f in planned),
                                     min(f.receive_limit.value for f in planned)))
        count = max(len(f) for f in per_family)
        batches[member.asn] = [[r for f in per_family if n < len(f) for r in f[n]]
                               for n in range(count)]
    total = max((len(b) for b in batches.values()), default=0)
    return [{asn: b[n] for asn, b in batches.items() if n < len(b)} for n in range(total)]


def _split(routes: Sequence[TestRoute], import_limit: int,
           received_limit: int) -> list[list[TestRoute]]:
    """Consecutive batches of at most received_limit routes, of which at most import_limit
    are routes the route server accepts."""
    batches: list[list[TestRoute]] = []
    accepted = 0
    for route in routes:
        if not batches or len(batches[-1]) >= received_limit or \
                (route.accepted and accepted >= import_limit):
            batches.append([])
            accepted = 0
        batches[-1].append(route)
        accepted += route.accepted
    return batches


def scenario_routes(config: Config, snapshot: Snapshot, exchange_plan: ExchangePlan,
                    members: Sequence[Member],
                    routes: dict[int, list[TestRoute]]) -> list[list[TestRoute]]:
    """The rounds after the per-member ones: the same prefix from two members (path hiding by
    the receiving member's own ASN), graceful shutdown, announcement control (the standard
    forms where every route server's ASN fits 16 bits), then the import limit tripped (last:
    it may take sessions down), with the limits and action the plan gives. Empty rounds are
    left out."""
    avoid = avoid_asns(config.exchange, snapshot.never_via_route_servers)
    alternative = alternative_path_routes(members, snapshot.irr, routes, avoid)
    limited = []
    for member in members:
        limits: dict[int, tuple[int, str]] = {}
        for version in (4, 6):
            planned = list(planned_families(exchange_plan, member.asn, version).values())
            if planned:
                limits[version] = (planned[0].import_limit.value, planned[0].limit_action)
        limited += import_limit_routes(member, snapshot.irr[member.asn], config.exchange, limits)
    shutdown = graceful_shutdown_routes(members, snapshot.irr, routes, avoid)
    standard = {s.standard_control_communities for s in exchange_plan.route_servers}
    control = announcement_control_routes(
        members, routes, standard=standard.pop() if len(standard) == 1 else None)
    return [batch for batch in (alternative, shutdown, control, limited) if batch]


def lab_hosts(config: Config, members: Sequence[Member]) -> list[HostSpec]:
    """Every host of the lab: route servers, member routers, RTR caches."""
    lan = config.exchange.peering_lan

    def interface(address: IPAddress) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        network = lan.network(address.version)
        assert network is not None  # load() checked every address is inside the LAN
        return ipaddress.ip_interface(f"{address}/{network.prefixlen}")

    caches = rtr_hosts(config)
    # RTR caches off the peering LAN (a management network, in real life) sit on the lab's
    # one LAN too, with their address alone; the route servers reach them by on-link routes.
    off_lan = tuple(ipaddress.ip_network(s.address) for _, s in caches
                    if not lan.contains(s.address))
    hosts = [HostSpec(s.name, tuple(interface(a) for a in s.addresses()),
                      on_link=tuple(n for n in off_lan
                                    if any(a.version == n.version for a in s.addresses())))
             for s in config.exchange.route_servers]
    hosts += [HostSpec(r.name, tuple(interface(a) for a in r.addresses))
              for m in members for r in routers(m)]
    for name, server in caches:
        if lan.contains(server.address):
            hosts.append(HostSpec(name, (interface(server.address),)))
        else:
            network = lan.network(server.address.version)
            assert network is not None  # rtr_hosts refused it otherwise
            hosts.append(HostSpec(name, (ipaddress.ip_interface(server.address),),
                                  on_link=(network,)))
    return hosts


def rtr_hosts(config: Config) -> list[tuple[str, RtrServer]]:
    """The lab host of each RTR cache (a name no route server or member router can have), at
    the address the route servers connect to: on the peering LAN, or off it on a network of
    its own that the route servers reach directly (any unicast address of a family the
    peering LAN has). One cache per address."""
    rpki = config.exchange.rpki
    if rpki is None:
        return []
    lan = config.exchange.peering_lan
    for server in rpki.rtr_servers:
        address = server.address
        if lan.network(address.version) is None:
            raise InvalidInput(
                f"rsgen verify cannot place the RTR cache {address}: the peering LAN has no "
                f"IPv{address.version}, so the lab's route servers have no such address",
                hint="verify an exchange.yml copy whose rpki.rtr_servers use the peering "
                     "LAN's address family (the route servers' configs are otherwise the same)")
        if address.is_loopback or address.is_link_local or address.is_multicast or \
                address.is_unspecified:
            raise InvalidInput(
                f"rsgen verify cannot place the RTR cache {address}: the lab runs caches on "
                f"hosts of their own, reached over the network (not loopback, link-local or "
                f"multicast addresses)",
                hint="verify an exchange.yml copy whose rpki.rtr_servers are unicast "
                     "addresses (the route servers' configs are otherwise the same)")
    addresses = [s.address for s in rpki.rtr_servers]
    twice = sorted({str(a) for a in addresses if addresses.count(a) > 1})
    if twice:
        raise InvalidInput(
            f"rsgen verify runs one RTR cache per address; {', '.join(twice)} has several "
            f"rpki.rtr_servers entries",
            hint="verify an exchange.yml copy with one rpki.rtr_servers entry per address")
    return [(f"RTR-{index + 1}", server) for index, server in enumerate(rpki.rtr_servers)]


def _check_tools(settings: Settings) -> None:
    for tool in (settings.tools.bird, settings.tools.birdc):
        if shutil.which(tool) is None:
            raise missing_tool(tool)


def speaking_members(members: Sequence[Member]) -> set[int]:
    """The members whose routers rsgen's speaker plays instead of BIRD, so that verify also
    sends what BIRD cannot (AS_SET paths, link-local next hops): one, the first (by ASN) with
    no BGP password (the speaker cannot sign TCP MD5) and no ADD-PATH (it cannot receive
    several paths), preferring one with IPv6 sessions. The others stay BIRD, which checks
    that both kinds of peer see the same route servers."""
    candidates = [m for m in members if all(s.password_env is None for s in m.sessions)
                  and not m.add_path]
    with_v6 = [m for m in candidates if any(s.ip.version == 6 for s in m.sessions)]
    chosen = (with_v6 or candidates)[:1]
    return {m.asn for m in chosen}


def verify(options: VerifyOptions, progress: Progress | None = None,
           settings: Settings | None = None) -> VerifyReport:
    """Run the whole check; the lab is always torn down, also on errors and signals."""
    started = time.monotonic()
    report_progress = progress or (lambda stage, done, total: None)
    settings = Settings.from_environment() if settings is None else settings
    _check_tools(settings)
    check_privileges()
    confine = confinement()
    for name in cleanup_stale():
        log.info("removed namespace %s left by an earlier, killed run", name)
    config = load_checked(options.directory)
    caches = rtr_hosts(config)  # refuses what the lab cannot place, before building anything
    workdir = Path(tempfile.mkdtemp(prefix="rsgen-verify-"))
    output = options.output or workdir / "configs"
    # The same code path as `rsgen build`, offline: verify tests what would be deployed. The
    # lock keeps a concurrent refresh from slipping between the build and the snapshot read
    # that derives the test routes: taken once here, build_stage does not lock.
    with exchange_lock(options.directory, "verify"):
        recover_snapshot(options.directory)
        built = build_stage(options.directory, config, settings, output,
                            templates=options.templates)
    # What build decided and the snapshot it decided from: the lab runs exactly those configs,
    # and every expectation below comes from the same plan.
    assert built.plan is not None and built.snapshot is not None
    exchange_plan, snapshot = built.plan, built.snapshot
    members = select_members(config, options.members, options.sample)
    speaking = speaking_members(members)

    taken: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    holes = exchange_plan.blackhole
    routes = {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken,
                                   crafted=m.asn in speaking,
                                   never_via=snapshot.never_via_route_servers,
                                   blackholes=frozenset(v for v in (4, 6)
                                                        if holes and holes.next_hop(v)))
              for m in members}
    extra = scenario_routes(config, snapshot, exchange_plan, members, routes)
    roas: list[Roa] = []
    change: tuple[int, list[Roa]] | None = None  # (round, ROAs from that round on)
    if config.exchange.rpki is not None:
        routes, extra, roas = rpki_roas(routes, extra)
        switch = rpki_change_routes(routes, config.exchange,
                                    avoid_asns(config.exchange, snapshot.never_via_route_servers))
        if switch is not None:
            before, after, old, new = switch
            # Before the import-limit round, which may take sessions down.
            at = next((i for i, batch in enumerate(extra)
                       if any(r.rule == IMPORT_LIMIT for r in batch)), len(extra))
            extra[at:at] = [before, after]
            change = (at + 1, [r for r in roas if r != old] + [new])
    plans = expectations(exchange_plan, members, {
        m.asn: routes[m.asn] + [r for batch in extra for r in batch if r.member_asn == m.asn]
        for m in members})
    # A customised templates/ directory may carry its own verify/ templates too.
    templates = options.templates
    if templates is None or not (templates / PEER_TEMPLATE).is_file():
        templates = default_templates_dir()
    env = make_environment(templates)
    servers = config.exchange.route_servers
    report = VerifyReport(config.exchange.name, [s.name for s in servers],
                          [m.asn for m in members], workdir=workdir)
    try:
        with terminate_on_signals(), Lab(lab_hosts(config, members), workdir,
                                         confine=confine) as lab:
            # The RTR caches first: a route server that finds none waits its retry interval.
            for name, rtr in caches:
                start_stayrtr(lab, name, roas, rtr.address, rtr.port, workdir / f"{name}.log")
            rs_control = {}
            for server in servers:
                # The config build checked and wrote, byte for byte, in the host's directory.
                lab.place(server.name, CONFIG,
                          (output / f"{server.name}.conf").read_text(encoding="utf-8"))
                spawn_bird(lab, server.name, settings.tools.bird, workdir / f"{server.name}.log")
                rs_control[server.name] = Birdc(lab.directory(server.name) / CONTROL,
                                                birdc=settings.tools.birdc)
            schedule = rounds(exchange_plan, members, routes)
            first_extra = len(schedule)
            for batch in extra:
                schedule.append({m.asn: [r for r in batch if r.member_asn == m.asn]
                                 for m in members})
            peers: list[SimulatedRouter] = [
                SpeakerPeer(lab, router, log=workdir / f"{router.name}.log")
                if member.asn in speaking else
                BirdPeer(lab, router, env, bird=settings.tools.bird, birdc=settings.tools.birdc,
                         log=workdir / f"{router.name}.log")
                for member in members for router in routers(member)]
            for peer in peers:
                _write_round(peer, exchange_plan, schedule, 0)
                peer.start()
            _wait_for_sessions(exchange_plan, members, rs_control, options, report_progress,
                               workdir)
            if exchange_plan.rpki is not None and roas:
                # Routes met before the caches answered were only "unknown": wait for the
                # ROAs (BIRD then checks those routes again by itself).
                _wait_for_roas(rs_control, exchange_plan.rpki, roas, options)
            rs_asns = {s.name: s.asn for s in servers}
            for number, announced in enumerate(schedule):
                if change is not None and number == first_extra + change[0]:
                    # The ROA change: the member's announcement stays as it was.
                    for name, _ in caches:
                        update_roas(lab, name, change[1])
                    assert exchange_plan.rpki is not None
                    _wait_for_roas(rs_control, exchange_plan.rpki, change[1], options)
                if number:
                    for peer in peers:
                        _write_round(peer, exchange_plan, schedule, number)
                        peer.reload()
                current = {r for batch in announced.values() for r in batch}
                report_progress("test rounds", number, len(schedule))
                report.outcomes += _settle([p for p in plans if p.route in current],
                                           rs_control, peers, rs_asns, options,
                                           report_progress)
            report_progress("test rounds", len(schedule), len(schedule))
            if options.keep:
                _hold_for_inspection(lab, workdir)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            report.workdir = None
    report.seconds = time.monotonic() - started
    return report


def _write_round(peer: SimulatedRouter, exchange_plan: ExchangePlan,
                 schedule: Sequence[dict[int, list[TestRoute]]], number: int) -> None:
    """Give a simulated router the routes it announces in round `number` (from the member's
    routes of the round, those its addresses send)."""
    router = peer.router
    announced = [r for r in (schedule[number].get(router.member.asn, [])
                             if number < len(schedule) else [])
                 if r.sender is None or r.sender in router.addresses]
    peer.write(peer_sessions(router, exchange_plan), announced, number)


def _wait_for_roas(rs_control: dict[str, Birdc], rpki: RpkiPlan, roas: Sequence[Roa],
                   options: VerifyOptions) -> None:
    """Until every route server's ROA tables hold these ROAs (stayrtr re-reads its file every
    few seconds, then BIRD fetches the change): only then is a verdict on the routes fair."""
    deadline = time.monotonic() + options.settle_timeout
    wanted = {(f"{roa.prefix}-{roa.max_length}", f"AS{roa.asn}") for roa in roas}
    for server, control in rs_control.items():
        while True:
            held = {tuple(line.split()[:2])
                    for table in (rpki.roa4_table, rpki.roa6_table)
                    for line in control.command("show", "route", "table", table).splitlines()}
            if wanted <= held:
                break
            if time.monotonic() > deadline:
                missing = ", ".join(" ".join(roa) for roa in sorted(wanted - held)[:3])
                raise VerifyFailed(f"{server} did not get the ROAs {missing} from its RTR "
                                   f"caches within {options.settle_timeout:g} s",
                                   hint="see the stayrtr and BIRD logs (run with --keep)")
            time.sleep(POLL_SECONDS)


def _wait_for_control(controls: dict[str, Birdc], deadline: float) -> None:
    for name, control in controls.items():
        while not control.socket.exists():
            if time.monotonic() > deadline:
                raise VerifyFailed(f"BIRD for {name} did not start (no control socket)")
            time.sleep(0.05)


def _wait_for_sessions(exchange_plan: ExchangePlan, members: Sequence[Member],
                       rs_control: dict[str, Birdc], options: VerifyOptions,
                       progress: Progress, workdir: Path) -> None:
    deadline = time.monotonic() + options.session_timeout
    simulated = {m.asn for m in members}
    wanted = {server.name: {s.protocol for m in server.members if m.asn in simulated
                            for f in m.families for s in f.sessions}
              for server in exchange_plan.route_servers}
    total = sum(len(v) for v in wanted.values())
    _wait_for_control(rs_control, deadline)
    while True:
        pending: dict[str, str] = {}
        for server, control in rs_control.items():
            states = {p.name: p for p in control.protocols()}
            for name in sorted(wanted[server]):
                status = states.get(name)
                if status is None or not status.established:
                    pending[f"{server}/{name}"] = status.info if status else "missing"
        progress("sessions established", total - len(pending), total)
        if not pending:
            return
        if time.monotonic() > deadline:
            listed = "; ".join(f"{k}: {v}" for k, v in sorted(pending.items())[:10])
            raise VerifyFailed(f"{len(pending)} of {total} BGP sessions did not come up within "
                               f"{options.session_timeout:g} s: {listed}",
                               hint=f"see the BIRD logs in {workdir} (run with --keep)")
        time.sleep(POLL_SECONDS)


def _observe(rs_control: dict[str, Birdc], peers: Sequence[SimulatedRouter], *,
             limits: bool = False,
             exports: Mapping[str, frozenset[str]] | None = None) -> Observation:
    """What the route servers and the simulated members show now; with `limits`, also which
    sessions' import limits are hit (one `show protocols all` per route server); `exports`:
    route server -> the sessions whose export to read (after the routes: a route seen
    accepted is then judged by the export filter, whatever the receivers have yet)."""
    accepted: dict[str, list[BgpRoute]] = {}
    filtered: dict[str, list[BgpRoute]] = {}
    protocols: dict[str, list[ProtocolStatus]] = {}
    limits_hit: dict[str, frozenset[str]] = {}
    for server, control in rs_control.items():
        accepted[server] = control.routes()
        filtered[server] = control.routes(filtered=True)
        protocols[server] = control.protocols()
        if limits:
            limits_hit[server] = control.import_limits_hit()
    exported = {server: {name: rs_control[server].exported(name) for name in sorted(names)}
                for server, names in (exports or {}).items()}
    received = {peer.router.name: peer.routes() for peer in peers}
    return Observation(accepted, filtered, received, protocols, limits_hit, exported)


def _settle(plans: Sequence[Expectation], rs_control: dict[str, Birdc],
            peers: Sequence[SimulatedRouter], rs_asns: dict[str, int], options: VerifyOptions,
            progress: Progress) -> list[Outcome]:
    """Poll until every outcome is as expected, or the same mismatches persist."""
    deadline = time.monotonic() + options.settle_timeout
    limits = any(plan.route.rule == IMPORT_LIMIT for plan in plans)
    exports: dict[str, frozenset[str]] = {}
    for plan in plans:
        for server, withheld in plan.withheld_protocols.items():
            exports[server] = exports.get(server, frozenset()) | frozenset(withheld)
    previous: list[tuple[str, ...]] | None = None
    stable = 0
    while True:
        observation = _observe(rs_control, peers, limits=limits, exports=exports)
        outcomes = [compare(plan, observation, rs_asns) for plan in plans]
        progress("routes as expected", sum(o.ok for o in outcomes), len(outcomes))
        if all(o.ok for o in outcomes):
            return outcomes
        current = [o.problems for o in outcomes]
        stable = stable + 1 if current == previous else 0
        previous = current
        nothing_absent = not any("absent" in o.seen for o in outcomes)
        # A route whose verdict hangs on its ROA may be judged again at any moment: BIRD
        # re-runs the filters some time after new ROAs arrive (at the start, after a ROA
        # change). A mismatch there is final only at the deadline, however stable it looks.
        waiting_for_rov = any(not o.ok and o.route.roa_origin is not None for o in outcomes)
        if (stable >= STABLE_POLLS and nothing_absent and not waiting_for_rov) or \
                time.monotonic() > deadline:
            return outcomes
        time.sleep(POLL_SECONDS)


def _hold_for_inspection(lab: Lab, workdir: Path) -> None:
    print(f"lab kept for inspection; files in {workdir}")
    for host in lab.hosts:
        print(f"  {host.name}: ip netns exec {lab.netns(host.name)} ... ; "
              f"birdc -s {lab.directory(host.name) / CONTROL}")
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        input("press Enter (or Ctrl-C) to tear the lab down ")
