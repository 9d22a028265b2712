"""Benchmark: rsgen at exchange scale (hundreds to thousands of members, a million prefixes).

Run as root from the repository:

    .venv/bin/python benchmarks/scale.py --members 1000 [--seed 1] [--work DIR] [--keep]
    .venv/bin/python benchmarks/scale.py --members 100,1000,3000 --arouteserver
    .venv/bin/python benchmarks/scale.py --members 1000 --irr-parallel 2,4,8,16

For each size it generates a synthetic dual-stack exchange (reproducible from the seed), serves
its RPSL with the tests' IRRd-protocol server (tests/fixtures/whoisd.py, to the real bgpq4) and
a PeeringDB record per member with the tests' PeeringDB server, then times each step as its own
subprocess of the installed `rsgen` CLI: cold refresh, warm build, rebuild unchanged, rebuild
after one member file changed, `bird -p` alone, BIRD start-up on rs1.conf in a network
namespace, and `birdc configure` with the changed member. Peak RSS comes from GNU time's %M
(the largest process of the step's tree: rsgen itself or a bgpq4/bird child it waited for),
or os.wait4 without /usr/bin/time (then at least this script's own size).
`--arouteserver` builds the same exchange with arouteserver (own venv, same whois server).
It prints tables, never asserts; benchmarks/README.md quotes them.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the fixtures live in the repository's tests/
    sys.path.insert(0, str(REPO))

from tests.fixtures.pdb_server import PeeringDbFixtureServer  # noqa: E402

# The CLI of the venv this script runs in (sys.executable is .venv/bin/python).
RSGEN = str(Path(sys.executable).parent / "rsgen")
TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None  # GNU time (Debian: time)
STEP_TIMEOUT = 3 * 3600.0  # seconds; a step that takes longer is killed and reported

RS_ASN = 64500  # as the bundled example (documentation ASN; rsgen accepts it for itself)
LAN4 = ipaddress.IPv4Network("10.0.0.0/16")  # 192.0.2.0/24 cannot hold 3,000 members
LAN6 = ipaddress.IPv6Network("2001:db8:ffff::/64")
ROUTE_SERVERS = (("rs1", "10.0.0.1", "2001:db8:ffff::1"), ("rs2", "10.0.0.2", "2001:db8:ffff::2"))
# 64496-131071 are bogon ASNs for rsgen (rsgen/values.py BOGON_ASN_RANGES), so members start
# above them; their customers (extra origins in the AS-SETs) further up.
MEMBER_ASN_BASE = 200_000
CUSTOMER_ASN_BASE = 400_000
IRR_SOURCE = "RADB"

# IPv4 first octets with no special-purpose (bogon) range anywhere inside (values.py
# BOGON_PREFIXES_V4): the prefixes are drawn from these /8s only.
CLEAN_OCTETS = tuple(o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203))
V4_LENGTHS = ((24, 0.60), (23, 0.12), (22, 0.13), (21, 0.08), (20, 0.07))
# IPv6: 2400::/12 to 2fff::/16 (APNIC, ARIN, RIPE, ... space), far from every IPv6 bogon.
V6_FIRST_HEXTETS = range(0x2400, 0x3000)
V6_LENGTHS = ((48, 0.60), (44, 0.10), (40, 0.12), (36, 0.06), (32, 0.12))
# Distinct prefixes to draw the members' lists from. Members' lists overlap beyond this, as
# transit carriers' customer cones do; each member's own list has no duplicates.
POOL_V4_MAX = 600_000
POOL_V6_MAX = 300_000
# Log-uniform prefix counts, skewed (u ** SKEW) so 1,000 members hold about 1.1 M IPv4 entries.
SKEW = 1.15


# --------------------------------------------------------------------------------------------
# The synthetic exchange
# --------------------------------------------------------------------------------------------

@dataclass
class Member:
    index: int  # 1-based
    asn: int
    ipv4: str
    ipv6: str
    v4: list[str]
    v6: list[str]
    origins: list[int]  # the member's ASN first, then its customers'

    @property
    def as_set(self) -> str:
        return f"AS-M{self.index}"


@dataclass
class Exchange:
    size: int
    seed: int
    members: list[Member]
    pool_v4: int
    pool_v6: int

    @property
    def total_v4(self) -> int:
        return sum(len(m.v4) for m in self.members)

    @property
    def total_v6(self) -> int:
        return sum(len(m.v6) for m in self.members)

    @property
    def total_origins(self) -> int:
        return sum(len(m.origins) for m in self.members)


def prefix_counts(size: int, rng: random.Random) -> list[int]:
    """Heavy-tailed IPv4 counts: 70 % of members 1-10, 2 % 10,000-100,000, the rest between.

    Stratified (one draw per quantile band) so that totals are stable across seeds."""
    heavy = max(1, round(size * 0.02))
    small = round(size * 0.70)
    middle = size - heavy - small
    counts = [round(10_000 * 10 ** (((k + rng.random()) / heavy) ** SKEW)) for k in range(heavy)]
    counts += [round(11 * (9_999 / 11) ** (((k + rng.random()) / middle) ** SKEW))
               for k in range(middle)]
    counts += [rng.randint(1, 10) for _ in range(small)]
    rng.shuffle(counts)
    return counts


def _length(rng: random.Random, weights: Sequence[tuple[int, float]]) -> int:
    return rng.choices([w[0] for w in weights], [w[1] for w in weights])[0]


def ipv4_pool(size: int, rng: random.Random) -> list[str]:
    """`size` prefixes, each alone in its own random /20 of clean space, at a random aligned
    place inside it: no two are adjacent halves of one block, so bgpq4 -A can hardly merge."""
    cells = rng.sample(range(len(CLEAN_OCTETS) * 4096), size)
    pool = []
    for cell in cells:
        base = (CLEAN_OCTETS[cell // 4096] << 24) | ((cell % 4096) << 12)
        length = _length(rng, V4_LENGTHS)
        address = base + rng.randrange(2 ** (length - 20)) * 2 ** (32 - length)
        pool.append(f"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.0/{length}")
    return pool


def ipv6_pool(size: int, rng: random.Random) -> list[str]:
    """`size` prefixes /32-/48, each in its own random /32 of 2400::/12-2fff::/16."""
    cells = rng.sample(range(len(V6_FIRST_HEXTETS) * 65536), size)
    pool = []
    for cell in cells:
        top32 = ((V6_FIRST_HEXTETS[0] + cell // 65536) << 16) | (cell % 65536)
        length = _length(rng, V6_LENGTHS)
        inner = rng.randrange(2 ** (length - 32)) << (48 - length)  # bits 32..47
        network = ipaddress.IPv6Network(((top32 << 96) | (inner << 80), length))
        pool.append(str(network))
    return pool


def make_exchange(size: int, seed: int) -> Exchange:
    # Reproducible test data, not secrets: the standard generator is what is wanted.
    rng = random.Random(f"rsgen-scale-{size}-{seed}")  # noqa: S311
    counts4 = prefix_counts(size, rng)
    # IPv6 is about 15 % of IPv4 (the global tables' ratio), every member at least one.
    counts6 = [max(1, round(c * rng.uniform(0.08, 0.22))) for c in counts4]
    pool_v4 = ipv4_pool(max(min(sum(counts4), POOL_V4_MAX), max(counts4)), rng)
    pool_v6 = ipv6_pool(max(min(sum(counts6), POOL_V6_MAX), max(counts6)), rng)
    members = []
    next_customer = CUSTOMER_ASN_BASE
    for number, (c4, c6) in enumerate(zip(counts4, counts6, strict=True), start=1):
        # Bigger members have customers: one more origin ASN per 20 prefixes.
        customers = c4 // 20
        origins = [MEMBER_ASN_BASE + number, *range(next_customer, next_customer + customers)]
        next_customer += customers
        members.append(Member(
            index=number, asn=MEMBER_ASN_BASE + number,
            ipv4=str(LAN4.network_address + 9 + number),
            ipv6=str(LAN6.network_address + 0xF + number),
            v4=[pool_v4[i] for i in rng.sample(range(len(pool_v4)), c4)],
            v6=[pool_v6[i] for i in rng.sample(range(len(pool_v6)), c6)],
            origins=origins))
    return Exchange(size, seed, members, len(pool_v4), len(pool_v6))


def write_exchange_dir(directory: Path, exchange: Exchange) -> None:
    """exchange.yml (the bundled example's structure, without rpki: no RTR cache here) and
    members/AS<asn>.yml."""
    directory.mkdir(parents=True)
    servers = "".join(
        f"  - name: {name}\n    asn: {RS_ASN}\n    router_id: {v4}\n    ipv4: {v4}\n"
        f"    ipv6: \"{v6}\"\n" for name, v4, v6 in ROUTE_SERVERS)
    (directory / "exchange.yml").write_text(
        f"# Synthetic exchange for benchmarks/scale.py: {exchange.size} members, seed "
        f"{exchange.seed}.\n"
        f"name: Synthetic scale IX ({exchange.size} members)\n\n"
        f"route_servers:\n{servers}\n"
        f"peering_lan:\n  ipv4: {LAN4}\n  ipv6: \"{LAN6}\"\n\n"
        # The sources are local fixture servers, given as --irr-host / --peeringdb-url.
        f"irr:\n  sources: [{IRR_SOURCE}]\n\n"
        "policy:\n  ipv4_max_length: 24\n  ipv6_max_length: 48\n  max_as_path_length: 32\n"
        "  max_prefix_action: restart\n  log_rejected_routes: false\n",
        encoding="utf-8")
    members_dir = directory / "members"
    members_dir.mkdir()
    for m in exchange.members:
        (members_dir / f"AS{m.asn}.yml").write_text(
            f"# Synthetic member {m.index}: {len(m.v4)} IPv4 and {len(m.v6)} IPv6 prefixes, "
            f"{len(m.origins)} origins.\n"
            f"asn: {m.asn}\nname: Synthetic member {m.index}\nas_set: {m.as_set}\n"
            f"sessions:\n  - ip: {m.ipv4}\n  - ip: \"{m.ipv6}\"\n",
            encoding="utf-8")


def write_rpsl(path: Path, exchange: Exchange) -> None:
    """as-set and route/route6 objects, as tests/fixtures/whoisd.py reads them. Each member's
    prefixes are spread over its origins, so origin and prefix lists both come from the set."""
    with path.open("w", encoding="utf-8") as out:
        for m in exchange.members:
            names = [f"AS{asn}" for asn in m.origins]
            lines = "".join(f"members:    {', '.join(names[i:i + 40])}\n"
                            for i in range(0, len(names), 40))
            out.write(f"as-set:     {m.as_set}\n{lines}source:     {IRR_SOURCE}\n\n")
            objects = []
            for cls, prefixes in (("route", m.v4), ("route6", m.v6)):
                for i, prefix in enumerate(prefixes):
                    origin = m.origins[i % len(m.origins)]
                    objects.append(f"{cls}: {prefix}\norigin: AS{origin}\nsource: {IRR_SOURCE}\n\n")
            out.write("".join(objects))


def peeringdb_records(exchange: Exchange) -> list[dict[str, Any]]:
    """One PeeringDB net per member: the import limits come from info_prefixes4/6."""
    return [{"asn": m.asn, "name": f"Synthetic member {m.index}", "irr_as_set": m.as_set,
             "info_prefixes4": len(m.v4), "info_prefixes6": len(m.v6),
             "info_never_via_route_servers": False, "status": "ok"} for m in exchange.members]


# --------------------------------------------------------------------------------------------
# Measured subprocesses
# --------------------------------------------------------------------------------------------

@dataclass
class Measured:
    wall: float
    max_rss_mb: float | None
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Runs one step at a time in its own session (so Ctrl-C reaches only this script, which
    then kills the step's whole process group) and reads its rusage with os.wait4."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.current: subprocess.Popen[bytes] | None = None
        self.counter = 0

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = STEP_TIMEOUT) -> Measured:
        self.counter += 1
        out_path = self.logs / f"{self.counter:02d}-{Path(argv[0]).name}.out"
        err_path = out_path.with_suffix(".err")
        rss_path = out_path.with_suffix(".rss")
        # GNU time forks the step from its own small process and reports the step's peak
        # (with the children it waited for): a child forked from this script would start
        # with this script's high-water RSS (Linux keeps it across exec), hundreds of MB here.
        wrapped = [TIME, "-q", "-f", "%M", "-o", str(rss_path), *argv] if TIME else list(argv)
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env, cwd=cwd,
                                    start_new_session=True)
            self.current = proc
            timer = threading.Timer(timeout, self._kill, args=(proc,))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.monotonic() - started
            proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it
            self.current = None
        rss_kb: float = usage.ru_maxrss
        if TIME:
            lines = rss_path.read_text(errors="replace").split() if rss_path.exists() else []
            rss_kb = float(lines[-1]) if lines and lines[-1].isdigit() else float("nan")
        return Measured(wall, rss_kb / 1024, proc.returncode,
                        out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def kill_current(self) -> None:
        if self.current is not None and self.current.returncode is None:
            self._kill(self.current)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.current.pid, 0)
            self.current = None


def tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Fixture servers
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def whois_server(rpsl: Path, log: Path) -> Iterator[tuple[str, float]]:
    """tests/fixtures/whoisd.py as its own process (its parsing and answering do not share
    this script's interpreter); yields its host:port and the seconds it needed to load."""
    port = free_port()
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.fixtures.whoisd", "--rpsl",
                                 str(rpsl), "--port", str(port)], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:  # it listens only once the whole RPSL is parsed
            if proc.poll() is not None:
                raise RuntimeError(f"whoisd exited with {proc.returncode}: {tail(log.read_text())}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --------------------------------------------------------------------------------------------
# BIRD in a network namespace
# --------------------------------------------------------------------------------------------

def run_quiet(argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


class BirdLab:
    """One namespace with lan0 holding rs1's addresses (BGP sessions then have their `local`
    address and simply fail to connect: nobody answers on the other end), and BIRD on a copy
    of rs1.conf. lan0 is one end of a veth pair: this kernel has no dummy interfaces."""

    def __init__(self, work: Path) -> None:
        self.namespace = f"rsgen-scale-{os.getpid()}"
        self.work = work
        self.config = work / "rs1.conf"
        self.socket = work / "bird.ctl"
        self.proc: subprocess.Popen[bytes] | None = None
        self.created = False

    def create(self) -> None:
        _, ipv4, ipv6 = ROUTE_SERVERS[0]
        ns = ["ip", "-n", self.namespace]
        steps = [["ip", "netns", "add", self.namespace], [*ns, "link", "set", "lo", "up"],
                 [*ns, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"],
                 [*ns, "link", "set", "lan1", "up"],
                 [*ns, "addr", "add", f"{ipv4}/{LAN4.prefixlen}", "dev", "lan0"],
                 [*ns, "addr", "add", f"{ipv6}/{LAN6.prefixlen}", "dev", "lan0", "nodad"],
                 [*ns, "link", "set", "lan0", "up"]]
        for argv in steps:
            done = run_quiet(argv)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
            self.created = True

    def birdc(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run_quiet(["birdc", "-s", str(self.socket), *command], timeout=timeout)

    def start(self, config: Path) -> float:
        """Start BIRD; seconds until `birdc show status` says it is up (BIRD answers only
        after it has read and committed the whole config)."""
        shutil.copy(config, self.config)
        log = (self.work / "bird.log").open("ab")
        started = time.monotonic()
        argv = ["ip", "netns", "exec", self.namespace, "bird", "-f", "-c", str(self.config),
                "-s", str(self.socket)]
        self.proc = subprocess.Popen(argv,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        while True:
            if self.proc.poll() is not None:
                text = (self.work / "bird.log").read_text(errors="replace")
                raise RuntimeError(f"bird exited with {self.proc.returncode}: {tail(text)}")
            if self.socket.exists():
                status = self.birdc("show", "status")
                if "Daemon is up and running" in status.stdout:
                    return time.monotonic() - started
            time.sleep(0.05)

    def memory_mb(self) -> tuple[float, float]:
        """BIRD's VmRSS and VmHWM (peak), from /proc (`ip netns exec` execs bird itself)."""
        assert self.proc is not None
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def protocol_states(self) -> dict[str, str]:
        """Protocol name -> "state since" from `show protocols`: a restarted protocol gets a
        new since-time (sessions that keep failing to connect stay in state start)."""
        shown = self.birdc("show", "protocols").stdout.splitlines()
        states = {}
        for line in shown:
            parts = line.split()
            if len(parts) >= 6 and parts[0] not in ("BIRD", "Name"):
                states[parts[0]] = " ".join(parts[3:6])  # state, since date and time
        return states

    def configure(self, config: Path) -> tuple[float, str]:
        """Copy the new config over the running one, `birdc configure`; seconds until done."""
        shutil.copy(config, self.config)
        started = time.monotonic()
        answer = self.birdc("configure", timeout=STEP_TIMEOUT)
        # The last line: "Reconfigured", "Reconfiguration in progress" or an error.
        lines = [line for line in answer.stdout.splitlines() if line.strip()]
        message = lines[-1] if lines else answer.stderr.strip()
        while "in progress" in message.lower():  # protocols still shutting down
            time.sleep(0.1)
            status = self.birdc("show", "status").stdout
            if "in progress" not in status.lower():
                break
        return time.monotonic() - started, message

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.created:
            run_quiet(["ip", "netns", "del", self.namespace])
            self.created = False


def config_blocks(path: Path) -> dict[str, int]:
    """A BIRD config as top-level blocks (protocol, filter, function, define ...), each keyed by
    its first line and hashed, to tell which ones an edit changed."""
    blocks: dict[str, int] = {}
    header, lines = "(header)", list[str]()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and line[0] not in "#}]" and not line.startswith(");"):
            blocks[header] = hash("\n".join(lines))
            header, lines = line.rstrip(" {"), []
        lines.append(line)
    blocks[header] = hash("\n".join(lines))
    return blocks


def changed_blocks(old: Path, new: Path) -> list[str]:
    before, after = config_blocks(old), config_blocks(new)
    return sorted(name for name in before.keys() | after.keys()
                  if name != "(header)" and before.get(name) != after.get(name))


# --------------------------------------------------------------------------------------------
# arouteserver
# --------------------------------------------------------------------------------------------

# rsgen's default transit-free list (README, reason 8), so both reject the same paths.
TRANSIT_FREE = ("174, 209, 286, 701, 1239, 1299, 2828, 2914, 3257, 3320, 3356, 3491, 5511, "
                "6453, 6461, 6762, 6830, 7018, 12956")
ARS_TARGET = "2.0.11"  # the newest arouteserver target not newer than Debian's BIRD 2.0.12


def arouteserver_venv(venv: Path) -> Path:
    """arouteserver from PyPI in its own venv (created once, kept for later runs)."""
    program = venv / "bin" / "arouteserver"
    if not program.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "arouteserver"], check=True)
    return program


def arouteserver_package(program: Path) -> Path:
    """Where its templates and config.d (bogons.yml) are installed."""
    python = program.parent / "python"
    done = run_quiet([str(python), "-c",
                      "import pierky.arouteserver as a, os; print(os.path.dirname(a.__file__))"])
    return Path(done.stdout.strip())


def write_arouteserver_config(directory: Path, exchange: Exchange, irr_host: str,
                              package: Path) -> Path:
    """The same exchange as arouteserver sees it: its arouteserver.yml (program), general.yml
    (policy as close to rsgen's as its options go) and clients.yml (same ASNs, addresses and
    AS-SETs; max-prefix limits written out, as PeeringDB is not reachable for it: its URL is
    fixed to www.peeringdb.com)."""
    (directory / "cache").mkdir(parents=True)
    router_ids = ", ".join(f'"{v4}"' for _, v4, _ in ROUTE_SERVERS)
    (directory / "general.yml").write_text(f"""\
cfg:
  rs_as: {RS_ASN}
  router_id: [{router_ids}]
  path_hiding: True
  passive: True
  filtering:
    next_hop:
      policy: "strict"
    ipv4_pref_len: {{min: 8, max: 24}}
    ipv6_pref_len: {{min: 12, max: 48}}
    global_black_list_pref:  # the peering LAN, as rsgen's reason 3
      - {{prefix: "{LAN4.network_address}", length: {LAN4.prefixlen}, le: 32}}
      - {{prefix: "{LAN6.network_address}", length: {LAN6.prefixlen}, le: 128}}
    max_as_path_len: 32
    reject_invalid_as_in_as_path: True
    transit_free:
      asns: "{TRANSIT_FREE}"
    never_via_route_servers:
      peering_db: False
    irrdb:
      enforce_origin_in_as_set: True
      enforce_prefix_in_as_set: True
      allow_longer_prefixes: False
      tag_as_set: False
      peering_db: False
    rpki_bgp_origin_validation:
      enabled: False
    max_prefix:
      action: "restart"
      peering_db:
        enabled: False
  graceful_shutdown:
    enabled: True
""", encoding="utf-8")
    clients = ["clients:"]
    for m in exchange.members:
        limit4 = round((len(m.v4) + 100) * 1.15)  # what rsgen derives from PeeringDB
        limit6 = round((len(m.v6) + 100) * 1.15)
        clients.append(f"""\
  - asn: {m.asn}
    ip: ["{m.ipv4}", "{m.ipv6}"]
    description: "Synthetic member {m.index}"
    cfg:
      filtering:
        irrdb:
          as_sets: ["{m.as_set}"]
        max_prefix:
          limit_ipv4: {limit4}
          limit_ipv6: {limit6}""")
    (directory / "clients.yml").write_text("\n".join(clients) + "\n", encoding="utf-8")
    (directory / "log.ini").write_text("""\
[loggers]
keys=root
[handlers]
keys=stderr
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=stderr
[handler_stderr]
class=StreamHandler
formatter=plain
args=(sys.stderr,)
[formatter_plain]
format=%(asctime)s %(levelname)s %(message)s
""", encoding="utf-8")
    program_cfg = directory / "arouteserver.yml"
    program_cfg.write_text(f"""\
cfg_dir: "{directory}"
logging_config_file: "log.ini"
cfg_general: "general.yml"
cfg_clients: "clients.yml"
cfg_bogons: "{package / 'config.d' / 'bogons.yml'}"
templates_dir: "{package / 'templates'}"
template_name: "main.j2"
cache_dir: "{directory / 'cache'}"
bgpq3_path: "{shutil.which('bgpq4') or 'bgpq4'}"
bgpq3_host: "{irr_host}"
bgpq3_sources: "{IRR_SOURCE}"
bgpq3_timeout: 600
threads: 4
check_new_release: False
""", encoding="utf-8")
    return program_cfg


# --------------------------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------------------------

@dataclass
class Row:
    step: str
    wall: float | None
    rss_mb: float | None
    note: str = ""


@dataclass
class SizeResult:
    exchange: Exchange
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


def require_ok(step: str, measured: Measured, result: SizeResult) -> bool:
    """Record a failed step plainly (its exit code and the end of its output)."""
    if measured.returncode == 0:
        return True
    result.rows.append(Row(step, measured.wall, measured.max_rss_mb,
                           f"FAILED, exit {measured.returncode}"))
    print(f"  {step} failed (exit {measured.returncode}):\n"
          f"{tail(measured.stderr or measured.stdout, 15)}")
    return False


def measure_size(size: int, seed: int, work: Path, runner: Runner, results: list[SizeResult],
                 *, ars_program: Path | None, stack: contextlib.ExitStack,
                 irr_parallel: Sequence[int] = ()) -> None:
    """All steps for one size; its rows go into `results` as they are measured, so a failure
    or Ctrl-C half-way still prints what was measured."""
    started = time.monotonic()
    exchange = make_exchange(size, seed)
    directory = work / "exchange"
    write_exchange_dir(directory, exchange)
    rpsl = work / "irr.rpsl"
    write_rpsl(rpsl, exchange)
    result = SizeResult(exchange)
    results.append(result)
    result.facts.append(f"generated in {time.monotonic() - started:.1f} s: "
                        f"{exchange.total_v4:,} IPv4 and {exchange.total_v6:,} IPv6 prefix entries "
                        f"(drawn from {exchange.pool_v4:,} / {exchange.pool_v6:,} distinct), "
                        f"{exchange.total_origins:,} origin ASNs, RPSL "
                        f"{rpsl.stat().st_size / 1e6:.0f} MB")
    print(f"  {result.facts[-1]}")

    irr_host, whois_seconds = stack.enter_context(whois_server(rpsl, work / "whoisd.log"))
    peeringdb = stack.enter_context(PeeringDbFixtureServer(peeringdb_records(exchange)))
    result.facts.append(f"whoisd loaded the RPSL in {whois_seconds:.1f} s")
    print(f"  {result.facts[-1]}")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RSGEN_", "RS_PW_", "PEERINGDB"))}

    def step(name: str, argv: Sequence[str], note: str = "") -> Measured | None:
        print(f"  {name} ...", flush=True)
        measured = runner.run(argv, env=env)
        if not require_ok(name, measured, result):
            return None
        result.rows.append(Row(name, measured.wall, measured.max_rss_mb, note))
        print(f"  {name}: {measured.wall:.1f} s, {measured.max_rss_mb:.0f} MB")
        return measured

    def rsgen(command: str, *options: str) -> list[str]:
        return [RSGEN, command, "-C", str(directory), *options]

    step("rsgen check", rsgen("check"))
    if step("cold refresh", rsgen("refresh", "--irr-host", irr_host, "--peeringdb-url",
                                  peeringdb.url), "bgpq4 x3 per member, irr.parallel 4") is None:
        return
    after_v4, after_v6 = snapshot_entries(directory / "snapshot")
    result.facts.append(f"snapshot after bgpq4 -A: {after_v4:,} IPv4 and {after_v6:,} IPv6 "
                        f"entries ({after_v4 / max(exchange.total_v4, 1):.1%} / "
                        f"{after_v6 / max(exchange.total_v6, 1):.1%} of the generated), "
                        f"{tree_mb(directory / 'snapshot'):.0f} MB")
    print(f"  {result.facts[-1]}")
    if step("warm build (build --offline)", rsgen("build", "--offline"),
            "renders rs1+rs2, bird -p each") is None:
        return
    out = directory / "out"
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB"
                      for p in sorted(out.glob("*.conf")))
    result.facts.append(f"output: {sizes}")
    print(f"  {result.facts[-1]}")
    unchanged = step("rebuild, nothing changed", rsgen("build", "--offline"))
    if unchanged is not None:  # rsgen.buildrecord: render and bird -p skipped, and said so
        said = "nothing changed since the last build" in unchanged.stdout
        result.rows[-1].note = "said nothing changed" if said else "NOT skipped"
    step("bird -p rs1.conf alone", ["bird", "-p", "-c", str(out / "rs1.conf")])

    lab = BirdLab(work / "bird")
    lab.work.mkdir()
    stack.callback(lab.close)
    lab.create()
    print("  BIRD start-up ...", flush=True)
    startup = lab.start(out / "rs1.conf")
    rss, hwm = lab.memory_mb()
    result.rows.append(Row("BIRD start-up on rs1.conf", startup, hwm,
                           f"until birdc answers; VmRSS {rss:.0f} MB, VmHWM {hwm:.0f} MB"))
    print(f"  BIRD start-up: {startup:.1f} s, VmRSS {rss:.0f} MB, VmHWM {hwm:.0f} MB")

    old_rs1 = work / "rs1.before.conf"

    def rebuild(name: str, note: str) -> bool:
        """Keep rs1.conf as it was, rebuild, and say whether the build was incremental."""
        shutil.copy(out / "rs1.conf", old_rs1)
        measured = step(name, rsgen("build", "--offline"), note)
        if measured is not None:
            result.rows[-1].note += _build_kind(measured)
        return measured is not None

    changed = change_one_member(directory, exchange)
    if not rebuild("rebuild, one member changed", f"max_prefixes added to AS{changed.asn}"):
        return
    blocks = changed_blocks(old_rs1, out / "rs1.conf")
    seconds, message, restarted, total, rss, hwm = configure_and_compare(lab, out / "rs1.conf")
    result.rows.append(Row("birdc configure, one member changed", seconds, hwm,
                           f"BIRD said {message!r}; {len(blocks)} config blocks changed; "
                           f"{len(restarted)} of {total} protocols restarted; "
                           f"VmRSS {rss:.0f} MB"))
    result.facts.append(f"config blocks the change touched: {', '.join(blocks) or 'none'}; "
                        f"protocols restarted by configure: {', '.join(restarted) or 'none'}")
    print(f"  birdc configure: {seconds:.1f} s, {message}; {result.facts[-1]}")

    # The other everyday change: a member's IRR data (its prefix list) after a refresh of it.
    # The lab has no sessions up, so which channels reload is rsgen's own reading of the two
    # configs (rsgen.deployer.impact, which tests/test_deploy.py checks against BIRD's
    # counters with sessions up).
    from rsgen.deployer.impact import reload_impact

    listed = change_one_prefix_list(directory, exchange)
    if not rebuild("rebuild, one member's prefix list changed",
                   f"one prefix added to AS{listed.asn}'s IRR data"):
        return
    impact = reload_impact(old_rs1.read_text(encoding="utf-8"),
                           (out / "rs1.conf").read_text(encoding="utf-8"))
    seconds, message, restarted, total, rss, hwm = configure_and_compare(lab, out / "rs1.conf")
    result.rows.append(Row("birdc configure, one prefix list changed", seconds, hwm,
                           f"BIRD said {message!r}; filters reloaded: "
                           f"{len(impact.filters_reloaded)} of {impact.sessions_total} "
                           f"sessions ({', '.join(impact.filters_reloaded)}); shared policy "
                           f"changed: {'yes' if impact.shared_policy_changed else 'no'}; "
                           f"{len(restarted)} protocols restarted; VmRSS {rss:.0f} MB"))
    print(f"  birdc configure: {seconds:.1f} s; {result.rows[-1].note}")
    lab.close()

    for parallel in irr_parallel:
        # Cold again, with only irr.parallel changed: what the default should be.
        shutil.rmtree(directory / "snapshot")
        set_irr_parallel(directory, parallel)
        measured = step(f"cold refresh, irr.parallel {parallel}",
                        rsgen("refresh", "--irr-host", irr_host, "--peeringdb-url",
                              peeringdb.url))
        if measured is not None:
            cost = [line for line in measured.stdout.splitlines() if line.startswith("IRR:")]
            result.rows[-1].note = cost[0] if cost else ""

    if ars_program is not None:
        measure_arouteserver(ars_program, work / "ars", exchange, irr_host, runner, result)


def set_irr_parallel(directory: Path, parallel: int) -> None:
    path = directory / "exchange.yml"
    text = re.sub(r"\n  parallel: \d+\n", "\n", path.read_text(encoding="utf-8"))
    marker = f"irr:\n  sources: [{IRR_SOURCE}]\n"
    path.write_text(text.replace(marker, f"{marker}  parallel: {parallel}\n"), encoding="utf-8")


def snapshot_entries(snapshot: Path) -> tuple[int, int]:
    v4 = v6 = 0
    for path in (snapshot / "irr").glob("AS*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        v4 += len(data.get("ipv4", []))
        v6 += len(data.get("ipv6", []))
    return v4, v6


def tree_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def change_one_member(directory: Path, exchange: Exchange) -> Member:
    """The everyday pull request: the biggest member raises its limits in its member file."""
    member = max(exchange.members, key=lambda m: len(m.v4))
    path = directory / "members" / f"AS{member.asn}.yml"
    with path.open("a", encoding="utf-8") as out:
        out.write(f"max_prefixes:\n  ipv4: {len(member.v4) * 2}\n  ipv6: {len(member.v6) * 2}\n")
    return member


def configure_and_compare(lab: BirdLab, config: Path,
                          ) -> tuple[float, str, list[str], int, float, float]:
    """`birdc configure` onto `config`: its time and message, the protocols it restarted (of
    how many), and BIRD's VmRSS and VmHWM after."""
    time.sleep(1.1)  # `show protocols` times have 1 s resolution: a restart must show
    before = lab.protocol_states()
    print("  birdc configure ...", flush=True)
    seconds, message = lab.configure(config)
    after = lab.protocol_states()
    rss, hwm = lab.memory_mb()
    restarted = sorted(name for name in before if after.get(name) != before[name])
    return seconds, message, restarted, len(before), rss, hwm


def _build_kind(measured: Measured) -> str:
    """What the build said it did (rsgen.incremental), for the note."""
    return "; incremental" if "incremental build: 1 member(s)" in measured.stdout \
        else "; FULL build"


def change_one_prefix_list(directory: Path, exchange: Exchange) -> Member:
    """A member's IRR data gains one prefix, as a refresh of that member would write it:
    the snapshot file and its entry in the (unkeyed) provenance manifest."""
    import hashlib

    member = sorted(exchange.members, key=lambda m: len(m.v4))[len(exchange.members) // 2]
    relative = f"irr/AS{member.asn}.json"
    path = directory / "snapshot" / relative
    data = json.loads(path.read_text(encoding="utf-8"))
    taken = set(data["ipv4"])
    extra = next(f"{octet}.{third}.0.0/16" for octet in CLEAN_OCTETS for third in range(256)
                 if f"{octet}.{third}.0.0/16" not in taken)
    from rsgen.values import PrefixList, PrefixRange

    data["ipv4"] = list(PrefixList.sorted_from(
        PrefixRange.parse(p) for p in [*data["ipv4"], extra]).texts())  # rsgen's order
    content = json.dumps(data, indent=1, sort_keys=True) + "\n"
    path.write_text(content, encoding="utf-8")
    manifest_path = directory / "snapshot" / "provenance.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][relative] = {"sha256": hashlib.sha256(content.encode()).hexdigest()}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")
    return member


def measure_arouteserver(program: Path, directory: Path, exchange: Exchange, irr_host: str,
                         runner: Runner, result: SizeResult) -> None:
    package = arouteserver_package(program)
    cfg = write_arouteserver_config(directory, exchange, irr_host, package)
    output = directory / "out" / "rs.conf"
    output.parent.mkdir()
    argv = [str(program), "bird", "--cfg", str(cfg), "--target-version", ARS_TARGET,
            "-o", str(output)]
    env = {k: v for k, v in os.environ.items() if "PEERINGDB" not in k}
    for name in ("arouteserver cold build (IRR + build)", "arouteserver warm build (cache)"):
        print(f"  {name} ...", flush=True)
        measured = runner.run(argv, env=env)
        if not require_ok(name, measured, result):
            result.facts.append(f"arouteserver failed: {tail(measured.stderr, 3)}")
            return
        result.rows.append(Row(name, measured.wall, measured.max_rss_mb, "2 configs (rs1, rs2)"))
        print(f"  {name}: {measured.wall:.1f} s, {measured.max_rss_mb:.0f} MB")
    configs = sorted(output.parent.glob("rs-*.conf"))
    if not configs:
        result.facts.append("arouteserver wrote no per-router-id config")
        return
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in configs)
    result.facts.append(f"arouteserver output: {sizes}")
    print(f"  {result.facts[-1]}")
    name = "bird -p arouteserver rs1 config"
    measured = runner.run(["bird", "-p", "-c", str(configs[0])])
    if require_ok(name, measured, result):
        result.rows.append(Row(name, measured.wall, measured.max_rss_mb))
    ratios = []
    walls = {row.step: row.wall for row in result.rows if row.wall is not None}
    for ars, ours in (("arouteserver cold build (IRR + build)", "cold refresh"),
                      ("arouteserver warm build (cache)", "warm build (build --offline)"),
                      ("bird -p arouteserver rs1 config", "bird -p rs1.conf alone")):
        if ars in walls and ours in walls:
            ratios.append(f"{ars} / rsgen {ours}: {walls[ars] / walls[ours]:.2f}")
    if "arouteserver cold build (IRR + build)" in walls and "cold refresh" in walls and \
            "warm build (build --offline)" in walls:
        total = walls["cold refresh"] + walls["warm build (build --offline)"]
        ratios.append(f"arouteserver cold build / rsgen (cold refresh + warm build): "
                      f"{walls['arouteserver cold build (IRR + build)'] / total:.2f}")
    result.facts.extend(ratios)
    for ratio in ratios:
        print(f"  ratio {ratio}")


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def print_tables(results: Sequence[SizeResult]) -> None:
    print()
    print("| members | step | wall s | peak RSS MB | note |")
    print("|---:|---|---:|---:|---|")
    for result in results:
        for row in result.rows:
            wall = "" if row.wall is None else f"{row.wall:.1f}"
            rss = "" if row.rss_mb is None else f"{row.rss_mb:.0f}"
            print(f"| {result.exchange.size:,} | {row.step} | {wall} | {rss} | {row.note} |")
    for result in results:
        print(f"\n{result.exchange.size:,} members (seed {result.exchange.seed}):")
        for fact in result.facts:
            print(f"- {fact}")


def parse_sizes(text: str) -> list[int]:
    sizes = [int(s) for s in re.split(r"[,\s]+", text.strip()) if s]
    if not sizes or any(not 10 <= s <= 60_000 for s in sizes):
        raise argparse.ArgumentTypeError("member counts between 10 and 60000, comma-separated")
    return sizes


def parse_parallel(text: str) -> list[int]:
    values = [int(s) for s in re.split(r"[,\s]+", text.strip()) if s]
    if not values or any(not 1 <= v <= 64 for v in values):
        raise argparse.ArgumentTypeError("irr.parallel values between 1 and 64, comma-separated")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--members", type=parse_sizes, default=[1000],
                        help="member counts, comma-separated (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="directory for the work (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--irr-parallel", type=parse_parallel, default=[],
                        help="also refresh cold with each of these irr.parallel values "
                             "(comma-separated), after the other steps")
    parser.add_argument("--arouteserver", action="store_true",
                        help="also build the same exchange with arouteserver")
    parser.add_argument("--ars-venv", type=Path, default=Path(tempfile.gettempdir()) / "ars-venv",
                        help="venv for arouteserver (created with pip if missing; kept)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: BIRD start-up runs in a network namespace", file=sys.stderr)
        return 10
    for tool in ("bird", "birdc", "bgpq4", "ip"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 7

    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rsgen-scale-", dir=args.work))
    runner = Runner(work)
    results: list[SizeResult] = []
    ars_program = None
    try:
        if args.arouteserver:
            try:
                ars_program = arouteserver_venv(args.ars_venv)
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"arouteserver could not be installed ({exc}); skipping it")
        for size in args.members:
            print(f"{size} members, seed {args.seed}, in {work / f'n{size}'}", flush=True)
            size_work = work / f"n{size}"
            size_work.mkdir()
            with contextlib.ExitStack() as stack:
                measure_size(size, args.seed, size_work, runner, results,
                             ars_program=ars_program, stack=stack,
                             irr_parallel=args.irr_parallel)
            if not args.keep:  # the next size needs the disk more than this one's output
                shutil.rmtree(size_work, ignore_errors=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        runner.kill_current()
        print_tables(results)
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
