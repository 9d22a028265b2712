"""The simulated members' routers in the verify lab: BIRD, or rsgen's own BGP speaker.

A BIRD peer announces test routes with the AS path, next hop and communities each scenario
needs; the speaker (rsgen.verification.speaker) also sends what BIRD cannot: AS_SET segments,
and a link-local next hop beside the global one. Both receive what the route servers send
them, which verify reads as BgpRoutes: BIRD's over its control socket, the speaker's from the
file it keeps of its received routes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2

from rsgen.birdcheck import BIRD_PARSE_TIMEOUT
from rsgen.errors import BirdRejected, VerifyFailed
from rsgen.model import Member
from rsgen.sources.proc import missing_tool
from rsgen.values import IPAddress, Secret, safe_comment
from rsgen.verification import speaker
from rsgen.verification.birdc import BgpRoute, Birdc
from rsgen.verification.lab import Lab, pids_in
from rsgen.verification.scenarios import TestRoute

PEER_TEMPLATE = "verify/peer.conf.j2"
# The files of each lab host, in its own directory (rsgen.verification.lab.Lab.directory).
CONFIG, CONFIG_NEW, CONTROL, PID = "bird.conf", "bird.conf.new", "bird.ctl", "bird.pid"
SPEAKER, SPEAKER_CONFIG, RECEIVED = "speaker.py", "speaker.json", "received.json"
# The speaker runs as the lab's unprivileged user, who cannot read a Python under /root (a
# virtual environment, pyenv): Debian's python3 can, and the speaker needs only its stdlib.
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class PeerSession:
    name: str  # BIRD protocol name in the peer's config (the speaker's session name)
    version: int
    local: IPAddress
    remote: IPAddress
    remote_asn: int
    route_server: str
    password: Secret | None = None  # the member session's BGP password, if it has one


@dataclass(frozen=True)
class Router:
    """One simulated router of a member: its k-th IPv4 and k-th IPv6 session address.

    A member with two addresses per family gets two routers, as in real life: one BIRD cannot
    hold two sessions to the same route server from two addresses of one interface.
    """

    member: Member
    name: str  # also its lab host name
    addresses: tuple[IPAddress, ...]

    @property
    def router_id(self) -> ipaddress.IPv4Address:
        v4 = [a for a in self.addresses if isinstance(a, ipaddress.IPv4Address)]
        return v4[0] if v4 else ipaddress.IPv4Address(self.member.asn or 1)


def routers(member: Member) -> list[Router]:
    by_family = [[s.ip for s in member.sessions if s.ip.version == v] for v in (4, 6)]
    count = max(len(f) for f in by_family)
    return [Router(member, f"AS{member.asn}" if count == 1 else f"AS{member.asn}-{k + 1}",
                   tuple(f[k] for f in by_family if k < len(f)))
            for k in range(count)]


class SimulatedRouter(Protocol):
    """What verify does with a simulated router, whichever program plays it."""

    router: Router

    def write(self, sessions: Sequence[PeerSession], routes: Sequence[TestRoute],
              round_number: int) -> None: ...

    def start(self) -> None: ...

    def reload(self) -> None: ...

    def routes(self) -> list[BgpRoute]: ...


class BirdPeer:
    """A simulated router played by BIRD (verify/peer.conf.j2)."""

    def __init__(self, lab: Lab, router: Router, env: jinja2.Environment, *, bird: str,
                 birdc: str, log: Path) -> None:
        self.lab, self.router, self.env = lab, router, env
        self.bird, self.log = bird, log
        self.control = Birdc(lab.directory(router.name) / CONTROL, birdc=birdc)

    def write(self, sessions: Sequence[PeerSession], routes: Sequence[TestRoute],
              round_number: int) -> None:
        """Render the config for a round, check it with `bird -p` (in the lab's sandbox),
        and only then put it where BIRD reads it."""
        host = self.router.name
        text = render_peer(self.env, self.router, sessions, routes, round_number)
        staged = self.lab.place(host, CONFIG_NEW, text)
        checked = self.lab.run(host, [self.bird, "-p", "-c", self.lab.inside(host, CONFIG_NEW)],
                               timeout=BIRD_PARSE_TIMEOUT)
        if checked.returncode != 0:
            message = " ".join((checked.stderr or checked.stdout).split())[:300] or \
                f"exit code {checked.returncode}"
            raise BirdRejected(f"bird -p rejected the lab config of simulated member "
                               f"{host}: {message}",
                               hint="the lab config is rendered from member data; this is an "
                                    "rsgen bug: please report it")
        staged.replace(staged.with_name(CONFIG))

    def start(self) -> None:
        spawn_bird(self.lab, self.router.name, self.bird, self.log)

    def reload(self) -> None:
        self.control.command("configure")

    def routes(self) -> list[BgpRoute]:
        return self.control.routes()


def render_peer(env: jinja2.Environment, router: Router, sessions: Sequence[PeerSession],
                routes: Sequence[TestRoute], round_number: int) -> str:
    return env.get_template(PEER_TEMPLATE).render(
        asn=router.member.asn, name=safe_comment(router.member.name),
        router_id=router.router_id, sessions=sessions, routes=routes, round=round_number,
        add_path=router.member.add_path)


def spawn_bird(lab: Lab, host: str, bird: str, log: Path) -> None:
    lab.spawn(host, [bird, "-f", "-c", lab.inside(host, CONFIG), "-s", lab.inside(host, CONTROL),
                     "-P", lab.inside(host, PID)], log=log)


class SpeakerPeer:
    """A simulated router played by rsgen's speaker: it sends any UPDATE a scenario needs and
    keeps what it receives in a file (received.json) that verify reads."""

    def __init__(self, lab: Lab, router: Router, *, log: Path) -> None:
        self.lab, self.router, self.log = lab, router, log

    def write(self, sessions: Sequence[PeerSession], routes: Sequence[TestRoute],
              round_number: int) -> None:
        if any(s.password is not None for s in sessions):
            raise VerifyFailed(f"{self.router.name}: the speaker cannot sign sessions (TCP MD5)",
                               hint="an rsgen bug: members with passwords are simulated by BIRD")
        text = json.dumps(speaker_config(self.router, sessions, routes, round_number,
                                         self.lab.inside(self.router.name, RECEIVED)),
                          indent=1)
        self.lab.place(self.router.name, SPEAKER_CONFIG, text + "\n")

    def start(self) -> None:
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            raise missing_tool(SYSTEM_PYTHON)
        host = self.router.name
        # A copy in the host's own directory: the lab user may not read rsgen's installation.
        self.lab.place(host, SPEAKER, Path(speaker.__file__).read_text(encoding="utf-8"))
        self.lab.spawn(host, [SYSTEM_PYTHON, self.lab.inside(host, SPEAKER),
                              self.lab.inside(host, SPEAKER_CONFIG)], log=self.log)

    def reload(self) -> None:
        """SIGHUP: the speaker re-reads its config, withdraws and announces the difference.
        Sent to the speaker itself, which runs inside the sandbox process the lab started."""
        for pid in pids_in([self.lab.netns(self.router.name)]):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if len(argv) > 1 and argv[1].endswith(SPEAKER.encode()):
                    os.kill(pid, signal.SIGHUP)
                    return
        raise VerifyFailed(f"the speaker of simulated member {self.router.name} is not running",
                           hint=f"see its log, {self.log} (run with --keep)")

    def routes(self) -> list[BgpRoute]:
        path = self.lab.directory(self.router.name) / RECEIVED
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return received_routes(data)


def speaker_config(router: Router, sessions: Sequence[PeerSession],
                   routes: Sequence[TestRoute], round_number: int,
                   received_file: str) -> dict[str, Any]:
    """The speaker's CONFIG.json for one round: every session announces the round's routes
    of its family, with the path, next hops and communities of each."""
    def announced(session: PeerSession) -> list[dict[str, Any]]:
        listed = []
        for route in routes:
            if route.family != session.version:
                continue
            path = " ".join(str(asn) for asn in route.as_path)
            if route.as_set:
                path += " {" + " ".join(str(asn) for asn in route.as_set) + "}"
            entry: dict[str, Any] = {
                "prefix": str(route.network), "as_path": path,
                "next_hop": str(route.next_hop or session.local),
                "communities": [list(c) for c in route.communities_for(session.remote_asn)],
                "large_communities": [list(c) for c in
                                      route.large_communities_for(session.remote_asn)]}
            if route.link_local is not None:
                entry["link_local"] = str(route.link_local)
            if route.otc is not None:
                entry["otc"] = route.otc
            listed.append(entry)
        return listed

    return {
        "round": round_number,
        "local_asn": router.member.asn,
        "router_id": str(router.router_id),
        "received_file": received_file,
        "sessions": [{"name": s.name, "local": str(s.local), "remote": str(s.remote),
                      "remote_asn": s.remote_asn, "routes": announced(s)} for s in sessions],
    }


def received_routes(data: Any) -> list[BgpRoute]:
    """The speaker's received.json as BgpRoutes, one per session and prefix (the speaker's
    session names are the peer sessions' names, as verify's expectations use them)."""
    found = []
    for session, listed in sorted(data.get("sessions", {}).items()):
        for entry in listed:
            found.append(BgpRoute(
                network=ipaddress.ip_network(entry["prefix"]),
                protocol=session,
                table="",
                as_path=tuple(int(a) for a in entry["as_path_asns"]),
                next_hop=tuple(str(h) for h in entry["next_hops"]),
                large_communities=tuple((int(a), int(b), int(c))
                                        for a, b, c in entry["large_communities"]),
                communities=tuple((int(a), int(b)) for a, b in entry["communities"]),
                preferred=True,
                filtered=False,
                as_path_has_set=bool(entry["as_path_has_set"]),
            ))
    return found
