"""A route server under deploy for tests/test_deploy.py: the example's rs1 config running in a
real BIRD in the verify lab, with real BIRD member routers announcing accepted routes.

The route server's BIRD runs unconfined here (deploy needs BIRD and rsgen to see the target at
the same path, as on a route-server host); the member routers run the same way. The configs
are the example's, built by rsgen, so nothing untrusted reaches them.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rsgen.builder import build
from rsgen.load import load_checked
from rsgen.plan import ExchangePlan
from rsgen.render import default_templates_dir, make_environment
from rsgen.settings import Settings
from rsgen.verification.birdc import Birdc
from rsgen.verification.lab import HostSpec, Lab, check_privileges, cleanup_stale
from rsgen.verification.peers import BirdPeer, routers
from rsgen.verification.run import peer_sessions
from rsgen.verification.scenarios import member_routes
from tests.helpers import copy_example, eventually

ROUTE_SERVER = "rs1"
# Three members, with IPv4 and IPv6 sessions: AS9541 one router, AS17557 two.
MEMBERS = (9541, 17557, 23674)
ROUTES_PER_FAMILY = 2


@dataclass
class RouteServerLab:
    directory: Path  # the exchange copy
    target: Path  # the file the route server's BIRD runs (-c)
    socket: Path
    control: Birdc
    config: str  # the built rs1.conf, which BIRD runs at the start
    sessions: frozenset[str]  # the BGP protocols of the simulated members, all Established
    log: Path

    def established(self) -> frozenset[str] | None:
        """The simulated members' sessions once all are Established with their routes in;
        None before that."""
        rows = {p.name: p for p in self.control.protocols()}
        if not all(name in rows and rows[name].established for name in self.sessions):
            return None
        routes = self.control.routes()
        with_routes = {r.protocol for r in routes}
        return self.sessions if self.sessions <= with_routes else None

    def import_updates(self) -> dict[str, int]:
        """Per simulated session, the route updates its import filter has run on (`show
        protocols all`, "Import updates:" received): a reload re-runs the filter on every
        route held, so the number grows although the member sent nothing new."""
        counts: dict[str, int] = {}
        current = None
        for line in self.control.command("show", "protocols", "all").splitlines():
            if line and not line[0].isspace():
                current = line.split()[0]
            elif current in self.sessions and line.strip().startswith("Import updates:"):
                counts[current] = counts.get(current, 0) + int(line.split()[2])
        return counts

    def build_variant(self, name: str, edit: dict[str, tuple[str, str]]) -> str:
        """rs1's config after editing exchange.yml (file -> (old, new)), built by rsgen."""
        variant = self.directory.parent / name
        shutil.copytree(self.directory, variant)
        for file, (old, new) in edit.items():
            path = variant / file
            text = path.read_text()
            assert old in text, f"{old!r} not in {file}"
            path.write_text(text.replace(old, new, 1))
        build(variant, variant / "out", offline=True, settings=Settings())
        return (variant / "out" / f"{ROUTE_SERVER}.conf").read_text()


def _hosts(plan: ExchangePlan, config_routers: list) -> list[HostSpec]:  # type: ignore[type-arg]
    server = next(s for s in plan.route_servers if s.name == ROUTE_SERVER)
    addresses = tuple(ipaddress.ip_interface(f"{a}/{24 if a.version == 4 else 64}")
                      for a in (server.ipv4, server.ipv6) if a is not None)
    hosts = [HostSpec(ROUTE_SERVER, addresses)]
    hosts += [HostSpec(r.name, tuple(ipaddress.ip_interface(
        f"{a}/{24 if a.version == 4 else 64}") for a in r.addresses)) for r in config_routers]
    return hosts


@contextmanager
def route_server_lab(tmp_path: Path) -> Iterator[RouteServerLab]:
    """rs1 in BIRD with three members' routers, every session Established with routes."""
    check_privileges()
    cleanup_stale()
    directory = copy_example(tmp_path / "exchange")
    result = build(directory, directory / "out", offline=True, settings=Settings())
    assert result.plan is not None and result.snapshot is not None
    plan, snapshot = result.plan, result.snapshot
    config = load_checked(directory)
    members = [m for m in config.members if m.asn in MEMBERS]
    all_routers = [r for m in members for r in routers(m)]
    bird, birdc = shutil.which("bird"), shutil.which("birdc")
    assert bird is not None and birdc is not None
    env = make_environment(default_templates_dir())
    workdir = tmp_path / "lab"
    taken: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    with Lab(_hosts(plan, all_routers), workdir) as lab:
        host = lab.directory(ROUTE_SERVER)
        target, socket = host / "bird.conf", host / "bird.ctl"
        text = (directory / "out" / f"{ROUTE_SERVER}.conf").read_text()
        target.write_text(text)
        target.chmod(0o640)
        log = workdir / "rs1.log"
        lab.spawn(ROUTE_SERVER, [bird, "-f", "-c", str(target), "-s", str(socket),
                                 "-P", str(host / "bird.pid")], log=log)
        names: set[str] = set()
        for member in members:
            routes = member_routes(member, snapshot.irr[member.asn], config.exchange, taken)
            chosen = [r for version in (4, 6)
                      for r in [r for r in routes if r.accepted and r.family == version
                                and not r.blackhole and r.next_hop is None
                                and r.sender is None and not r.communities
                                and r.roa_origin is None][:ROUTES_PER_FAMILY]]
            for router in routers(member):
                sessions = [s for s in peer_sessions(router, plan)
                            if s.route_server == ROUTE_SERVER]
                server = next(s for s in plan.route_servers if s.name == ROUTE_SERVER)
                planned = server.member(member.asn)
                assert planned is not None
                names |= {p.protocol for f in planned.families for p in f.sessions
                          if p.address in router.addresses}
                peer = BirdPeer(lab, router, env, bird=bird, birdc=birdc,
                                log=workdir / f"{router.name}.log")
                peer.write(sessions, chosen, 0)
                peer.start()
        running = RouteServerLab(directory, target, socket, Birdc(socket, birdc=birdc), text,
                                 frozenset(names), log)
        eventually(running.established, "every simulated member's session Established with "
                   "its routes", timeout=120)
        yield running
