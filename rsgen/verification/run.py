"""`rsgen verify`: build offline, start the configs in BIRD on an emulated peering LAN, announce
test routes from simulated members, and compare what happened with what the policy promises.

The route servers run the generated configs unmodified, each in its own network namespace with
its real peering-LAN addresses; each member is a BIRD in another namespace on the same bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from rsgen.birdcheck import BIRD_PARSE_TIMEOUT
from rsgen.builder import build
from rsgen.errors import BirdRejected, InvalidInput, VerifyFailed
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.model import Config, Member, RouteServer, Snapshot
from rsgen.policy import max_prefixes, protocol_name, receive_limit
from rsgen.render import default_templates_dir, make_environment, session_password
from rsgen.snapshot import read_snapshot
from rsgen.sources.proc import missing_tool
from rsgen.values import IPAddress, Secret, safe_comment
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
from rsgen.verification.scenarios import (
    IMPORT_LIMIT,
    TestRoute,
    alternative_path_routes,
    import_limit_routes,
    member_routes,
)

log = logging.getLogger(__name__)
PEER_TEMPLATE = "verify/peer.conf.j2"
# The files of each lab host, in its own directory (rsgen.verification.lab.Lab.directory).
CONFIG, CONFIG_NEW, CONTROL, PID = "bird.conf", "bird.conf.new", "bird.ctl", "bird.pid"
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
    bird: str = "bird"
    birdc: str = "birdc"


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


@dataclass(frozen=True)
class PeerSession:
    name: str  # BIRD protocol name in the peer's config
    version: int
    local: IPAddress
    remote: IPAddress
    remote_asn: int
    route_server: str
    password: Secret | None = None  # the member session's BGP password, if it has one


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


@dataclass(frozen=True)
class Router:
    """One simulated router of a member: its k-th IPv4 and k-th IPv6 session address.

    A member with two addresses per family gets two routers, as in real life: one BIRD cannot
    hold two sessions to the same route server from two addresses of one interface.
    """

    member: Member
    name: str  # also its lab host name
    addresses: tuple[IPAddress, ...]


def routers(member: Member) -> list[Router]:
    by_family = [[s.ip for s in member.sessions if s.ip.version == v] for v in (4, 6)]
    count = max(len(f) for f in by_family)
    return [Router(member, f"AS{member.asn}" if count == 1 else f"AS{member.asn}-{k + 1}",
                   tuple(f[k] for f in by_family if k < len(f)))
            for k in range(count)]


def peer_sessions(router: Router, servers: Sequence[RouteServer]) -> list[PeerSession]:
    by_address = {s.ip: s for s in router.member.sessions}
    sessions = []
    for address in router.addresses:
        password = session_password(router.member, by_address[address], os.environ)
        for server in servers:
            remote = server.address(address.version)
            if remote is None:
                continue
            name = f"{_symbol(server.name)}_{_symbol(address.compressed)}"
            sessions.append(PeerSession(name, address.version, address, remote, server.asn,
                                        server.name, password))
    return sessions


def expectations(config: Config, members: Sequence[Member],
                 routes: dict[int, list[TestRoute]]) -> list[Expectation]:
    servers = config.exchange.route_servers
    sessions = {r.name: (r, peer_sessions(r, servers)) for m in members for r in routers(m)}
    result = []
    for member in members:
        for route in routes[member.asn]:
            if route.rule == IMPORT_LIMIT and route.limit is None:
                continue  # only announced: the group's first route carries the check
            family_sessions = [s for s in member.sessions if s.ip.version == route.family
                               and route.sender in (None, s.ip)]
            protocols = {server.name: tuple(protocol_name(member, s) for s in family_sessions)
                         for server in servers
                         if server.address(route.family) is not None}
            receivers = {name: tuple(p.name for p in peers if p.version == route.family)
                         for name, (router, peers) in sessions.items()
                         if router.member.asn != member.asn
                         and route.receiver_asn in (None, router.member.asn)}
            result.append(Expectation(
                route, protocols, frozenset(str(s.ip) for s in family_sessions),
                {name: names for name, names in receivers.items() if names}))
    return result


def render_peer(env: jinja2.Environment, router: Router, sessions: Sequence[PeerSession],
                routes: Sequence[TestRoute], round_number: int) -> str:
    v4 = [a for a in router.addresses if a.version == 4]
    router_id = v4[0] if v4 else ipaddress.IPv4Address(router.member.asn or 1)
    return env.get_template(PEER_TEMPLATE).render(
        asn=router.member.asn, name=safe_comment(router.member.name), router_id=router_id,
        sessions=sessions, routes=routes, round=round_number)


def rounds(config: Config, snapshot: Snapshot, members: Sequence[Member],
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
    policy = config.exchange.policy
    batches: dict[int, list[list[TestRoute]]] = {}
    for member in members:
        per_family: list[list[list[TestRoute]]] = []
        for version in (4, 6):
            family = [r for r in routes[member.asn] if r.family == version]
            limit, _ = max_prefixes(member, snapshot.peeringdb.get(member.asn), policy, version)
            per_family.append(_split(family, limit, receive_limit(limit, policy)))
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


def scenario_routes(config: Config, snapshot: Snapshot, members: Sequence[Member],
                    routes: dict[int, list[TestRoute]]) -> list[list[TestRoute]]:
    """The rounds after the per-member ones: the same prefix from two members (path hiding by
    the receiving member's own ASN), then the import limit tripped (last: it may take
    sessions down). Empty rounds are left out."""
    policy = config.exchange.policy
    alternative = alternative_path_routes(members, snapshot.irr, routes)
    limited = [r for m in members for r in import_limit_routes(
        m, snapshot.irr[m.asn], config.exchange,
        {v: max_prefixes(m, snapshot.peeringdb.get(m.asn), policy, v)[0] for v in (4, 6)},
        policy.max_prefix_action.value)]
    return [batch for batch in (alternative, limited) if batch]


def _hosts(config: Config, members: Sequence[Member]) -> list[HostSpec]:
    lan = config.exchange.peering_lan

    def interface(address: IPAddress) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        network = lan.network(address.version)
        assert network is not None  # load() checked every address is inside the LAN
        return ipaddress.ip_interface(f"{address}/{network.prefixlen}")

    hosts = [HostSpec(s.name, tuple(interface(a) for a in s.addresses()))
             for s in config.exchange.route_servers]
    hosts += [HostSpec(r.name, tuple(interface(a) for a in r.addresses))
              for m in members for r in routers(m)]
    return hosts


def _check_tools(options: VerifyOptions) -> None:
    for tool in (options.bird, options.birdc):
        if shutil.which(tool) is None:
            raise missing_tool(tool)


def verify(options: VerifyOptions, progress: Progress | None = None) -> VerifyReport:
    """Run the whole check; the lab is always torn down, also on errors and signals."""
    started = time.monotonic()
    report_progress = progress or (lambda stage, done, total: None)
    _check_tools(options)
    check_privileges()
    confine = confinement()
    for name in cleanup_stale():
        log.info("removed namespace %s left by an earlier, killed run", name)
    config = load_checked(options.directory)
    workdir = Path(tempfile.mkdtemp(prefix="rsgen-verify-"))
    output = options.output or workdir / "configs"
    # The same code path as `rsgen build`, offline: verify tests what would be deployed. The
    # lock keeps a concurrent refresh from slipping between the build and the snapshot read
    # that derives the test routes (build re-enters it).
    with exchange_lock(options.directory, "verify"):
        build(options.directory, output, offline=True, templates=options.templates,
              bird=options.bird)
        snapshot = read_snapshot(options.directory)
    members = select_members(config, options.members, options.sample)

    taken: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    routes = {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken)
              for m in members}
    extra = scenario_routes(config, snapshot, members, routes)
    plans = expectations(config, members, {
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
        with terminate_on_signals(), Lab(_hosts(config, members), workdir,
                                         confine=confine) as lab:
            rs_control = {}
            for server in servers:
                # The config build checked and wrote, byte for byte, in the host's directory.
                lab.place(server.name, CONFIG,
                          (output / f"{server.name}.conf").read_text(encoding="utf-8"))
                _spawn_bird(lab, server.name, options, workdir)
                rs_control[server.name] = Birdc(lab.directory(server.name) / CONTROL,
                                                birdc=options.birdc)
            schedule = rounds(config, snapshot, members, routes)
            for batch in extra:
                schedule.append({m.asn: [r for r in batch if r.member_asn == m.asn]
                                 for m in members})
            peer_control: dict[str, Birdc] = {}
            all_routers = [r for m in members for r in routers(m)]
            for router in all_routers:
                _write_peer(env, lab, router, servers, schedule, 0, options)
                _spawn_bird(lab, router.name, options, workdir)
                peer_control[router.name] = Birdc(lab.directory(router.name) / CONTROL,
                                                  birdc=options.birdc)
            _wait_for_sessions(config, members, rs_control, options, report_progress, workdir)
            rs_asns = {s.name: s.asn for s in servers}
            for number, announced in enumerate(schedule):
                if number:
                    for router in all_routers:
                        _write_peer(env, lab, router, servers, schedule, number, options)
                        peer_control[router.name].command("configure")
                current = {r for batch in announced.values() for r in batch}
                report_progress("test rounds", number, len(schedule))
                report.outcomes += _settle([p for p in plans if p.route in current],
                                           rs_control, peer_control, rs_asns, options,
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


def _spawn_bird(lab: Lab, host: str, options: VerifyOptions, workdir: Path) -> None:
    lab.spawn(host, [options.bird, "-f", "-c", lab.inside(host, CONFIG),
                     "-s", lab.inside(host, CONTROL), "-P", lab.inside(host, PID)],
              log=workdir / f"{host}.log")


def _write_peer(env: jinja2.Environment, lab: Lab, router: Router,
                servers: Sequence[RouteServer], schedule: Sequence[dict[int, list[TestRoute]]],
                number: int, options: VerifyOptions) -> None:
    """Render a simulated member's config for round `number`, check it with `bird -p` (in the
    lab's sandbox), and only then put it where its BIRD reads it."""
    announced = [r for r in (schedule[number].get(router.member.asn, [])
                             if number < len(schedule) else [])
                 if r.sender is None or r.sender in router.addresses]
    text = render_peer(env, router, peer_sessions(router, servers), announced, number)
    staged = lab.place(router.name, CONFIG_NEW, text)
    checked = lab.run(router.name, [options.bird, "-p", "-c", lab.inside(router.name,
                                                                         CONFIG_NEW)],
                      timeout=BIRD_PARSE_TIMEOUT)
    if checked.returncode != 0:
        message = " ".join((checked.stderr or checked.stdout).split())[:300] or \
            f"exit code {checked.returncode}"
        raise BirdRejected(f"bird -p rejected the lab config of simulated member "
                           f"{router.name}: {message}",
                           hint="the lab config is rendered from member data; this is an "
                                "rsgen bug: please report it")
    staged.replace(staged.with_name(CONFIG))


def _wait_for_control(controls: dict[str, Birdc], deadline: float) -> None:
    for name, control in controls.items():
        while not control.socket.exists():
            if time.monotonic() > deadline:
                raise VerifyFailed(f"BIRD for {name} did not start (no control socket)")
            time.sleep(0.05)


def _wait_for_sessions(config: Config, members: Sequence[Member], rs_control: dict[str, Birdc],
                       options: VerifyOptions, progress: Progress, workdir: Path) -> None:
    deadline = time.monotonic() + options.session_timeout
    wanted = {server.name: {protocol_name(m, s) for m in members for s in m.sessions
                            if server.address(s.ip.version) is not None}
              for server in config.exchange.route_servers}
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


def _observe(rs_control: dict[str, Birdc], peer_control: dict[str, Birdc], *,
             limits: bool = False) -> Observation:
    """What the route servers and the simulated members show now; with `limits`, also which
    sessions' import limits are hit (one `show protocols all` per route server)."""
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
    received = {name: control.routes() for name, control in peer_control.items()}
    return Observation(accepted, filtered, received, protocols, limits_hit)


def _settle(plans: Sequence[Expectation], rs_control: dict[str, Birdc],
            peer_control: dict[str, Birdc], rs_asns: dict[str, int], options: VerifyOptions,
            progress: Progress) -> list[Outcome]:
    """Poll until every outcome is as expected, or the same mismatches persist."""
    deadline = time.monotonic() + options.settle_timeout
    limits = any(plan.route.rule == IMPORT_LIMIT for plan in plans)
    previous: list[tuple[str, ...]] | None = None
    stable = 0
    while True:
        observation = _observe(rs_control, peer_control, limits=limits)
        outcomes = [compare(plan, observation, rs_asns) for plan in plans]
        progress("routes as expected", sum(o.ok for o in outcomes), len(outcomes))
        if all(o.ok for o in outcomes):
            return outcomes
        current = [o.problems for o in outcomes]
        stable = stable + 1 if current == previous else 0
        previous = current
        nothing_absent = not any("absent" in o.seen for o in outcomes)
        if (stable >= STABLE_POLLS and nothing_absent) or time.monotonic() > deadline:
            return outcomes
        time.sleep(POLL_SECONDS)


def _hold_for_inspection(lab: Lab, workdir: Path) -> None:
    print(f"lab kept for inspection; files in {workdir}")
    for host in lab.hosts:
        print(f"  {host.name}: ip netns exec {lab.netns(host.name)} ... ; "
              f"birdc -s {lab.directory(host.name) / CONTROL}")
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        input("press Enter (or Ctrl-C) to tear the lab down ")
