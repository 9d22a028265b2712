"""An RTR cache for the lab: stayrtr serving a VRP file that verify writes.

The route servers' `protocol rpki` sessions (RFC 8210) connect to the exchange's configured RTR
addresses; in the lab a stayrtr runs at each of them, confined like every lab program, and
serves the ROAs of the scenario from a JSON file in its host directory:

    vrps = start_stayrtr(lab, "rtr1", roas, ip_address("192.0.2.250"), 3323, log=path)
    update_roas(lab, "rtr1", other_roas)   # picked up within RELOAD_SECONDS

Facts about stayrtr 0.5.1 (Debian bookworm) that this relies on, from its source and from
tests/test_rpki_lab.py:

* `-cache` takes a URL or a plain file path; the file is re-read every `-refresh` seconds and
  on SIGHUP, and a changed file (sha256) becomes a new serial that stayrtr announces to its
  clients with a Serial Notify, so BIRD asks for the change at once.
* SIGHUP is not used here: Go's default action for it is to exit, and stayrtr installs its
  handler only after the first load, with no outward sign of when. A short `-refresh` has no
  such race.
* Without `-checktime=false` a file needs `metadata.buildtime` (or `generated`) within the
  last 24 hours, or it is refused; a lab file has no business carrying a clock.
* It opens a Prometheus/HTTP listener on :9847 unless `-metrics.addr` is empty; TLS and SSH
  listen only when `-tls.bind`/`-ssh.bind` are given, both emptied anyway.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rsgen.atomic import write_atomic
from rsgen.sources.proc import missing_tool
from rsgen.values import IPAddress, IPNetwork
from rsgen.verification.lab import Lab, LabError

VRP_FILE = "vrps.json"
# How often stayrtr re-reads the file: the delay of a ROA change, and one log line each time.
RELOAD_SECONDS = 2
# How long stayrtr may take to load its file and listen.
START_TIMEOUT = 30.0
RTR_VERSION = 1  # RFC 8210, what BIRD 2.0.12 speaks (stayrtr's default is the draft version 2)
_MAX_ASN = 2**32 - 1



@dataclass(frozen=True)
class Roa:
    """One validated ROA payload (VRP): prefix, maximum length, origin ASN (0: AS0, never valid)."""

    prefix: IPNetwork
    max_length: int
    asn: int

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, ipaddress.IPv4Network | ipaddress.IPv6Network):
            raise TypeError(f"ROA prefix {self.prefix!r}: an IPv4Network or IPv6Network")
        bits = self.prefix.max_prefixlen
        if not self.prefix.prefixlen <= self.max_length <= bits:
            raise ValueError(f"ROA {self.prefix}: max length {self.max_length} is outside "
                             f"{self.prefix.prefixlen}..{bits}")
        if not 0 <= self.asn <= _MAX_ASN:
            raise ValueError(f"ROA {self.prefix}: ASN {self.asn} is outside 0..{_MAX_ASN}")

    def sort_key(self) -> tuple[int, int, int, int, int]:
        return (self.prefix.version, int(self.prefix.network_address), self.prefix.prefixlen,
                self.max_length, self.asn)


def vrp_json(roas: Iterable[Roa]) -> str:
    """The VRP file stayrtr reads: `{"roas": [{"prefix", "maxLength", "asn"}]}`, sorted and
    without duplicates, so the same ROAs always give the same bytes (and serial)."""
    unique = sorted(set(roas), key=Roa.sort_key)
    return json.dumps({"roas": [
        {"prefix": str(roa.prefix), "maxLength": roa.max_length, "asn": roa.asn}
        for roa in unique]}, indent=1) + "\n"


def stayrtr_argv(vrp_path_inside: str, address: IPAddress, port: int, *,
                 stayrtr: str = "stayrtr", refresh: int = RELOAD_SECONDS,
                 loglevel: str = "info") -> list[str]:
    """stayrtr serving plain RTR on address:port only, from the VRP file at vrp_path_inside
    (the path as stayrtr sees it)."""
    if not vrp_path_inside.startswith("/"):
        raise ValueError(f"VRP file {vrp_path_inside!r}: an absolute path (stayrtr would "
                         "take anything else with a scheme for a URL)")
    if not 0 < port < 65536:
        raise ValueError(f"RTR port {port} is outside 1..65535")
    if refresh < 1:
        raise ValueError(f"refresh {refresh}: at least 1 second")
    host = f"[{address}]" if address.version == 6 else str(address)
    return [stayrtr, "-bind", f"{host}:{port}", "-cache", vrp_path_inside,
            "-refresh", str(refresh), "-checktime=false", "-protocol", str(RTR_VERSION),
            # No HTTP (metrics, JSON export), TLS or SSH listener: RTR on bind only.
            "-metrics.addr=", "-tls.bind=", "-ssh.bind=", "-loglevel", loglevel]


def start_stayrtr(lab: Lab, host: str, roas: Iterable[Roa], address: IPAddress, port: int,
                  log: Path, *, refresh: int = RELOAD_SECONDS,
                  timeout: float = START_TIMEOUT) -> Path:
    """Write the VRP file into the host's directory, start stayrtr on it in the host's
    namespace (killed with the lab) and wait until it listens; the file's path on this side.

    Start it before the route servers: a BIRD that finds no cache waits its `retry` interval
    before it tries again.
    """
    program = shutil.which("stayrtr")
    if program is None:
        raise missing_tool("stayrtr")
    path = _write_vrps(lab, host, roas)
    process = lab.spawn(host, stayrtr_argv(lab.inside(host, VRP_FILE), address, port,
                                           stayrtr=program, refresh=refresh), log=log)
    deadline = time.monotonic() + timeout
    while (address, port) not in listening(process.pid):
        if process.poll() is not None:
            raise LabError(f"stayrtr on {host} exited with status {process.returncode}",
                           hint=f"see {log}")
        if time.monotonic() > deadline:
            raise LabError(f"stayrtr on {host} is not listening on {address} port {port} "
                           f"after {timeout:g} s", hint=f"see {log}")
        time.sleep(0.05)
    return path


def listening(pid: int) -> set[tuple[IPAddress, int]]:
    """The TCP sockets listening in the network namespace of process pid (any process in it:
    the kernel's /proc/PID/net/tcp{,6} list the namespace's sockets)."""
    found: set[tuple[IPAddress, int]] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text(encoding="ascii").splitlines()
        except OSError:  # the process is gone, or no IPv6
            continue
        for line in lines[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                hex_address, hex_port = fields[1].split(":")
                raw = bytes.fromhex(hex_address)
                # Each 32-bit word is printed in the machine's byte order.
                if sys.byteorder == "little":
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((ipaddress.ip_address(raw), int(hex_port, 16)))
    return found


def update_roas(lab: Lab, host: str, roas: Iterable[Roa]) -> Path:
    """Replace the host's VRP file; its stayrtr serves the new ROAs after its next refresh."""
    return _write_vrps(lab, host, roas)


def _write_vrps(lab: Lab, host: str, roas: Iterable[Roa]) -> Path:
    lab.inside(host, VRP_FILE)  # validates the host
    path = lab.directory(host) / VRP_FILE
    # Atomic, so stayrtr never reads half a file; world-readable (ROAs are public data), so
    # the unprivileged stayrtr can read it whoever wrote it, from the rename on.
    write_atomic(path, vrp_json(roas), mode=0o644)
    return path
