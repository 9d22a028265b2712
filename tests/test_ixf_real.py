"""rsgen import ixf over every real IX-F export of 2016 in shared/data/ixf/real-2016 (18
exchanges, schema 0.4 and 0.5 and DE-CIX's date as a version, with their real quirks): what is
sound is imported and passes rsgen check, every other record is reported with its reason.

Run with -s to see the per-file summary (members imported, skipped, left out, and why).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rsgen.load import load_checked
from rsgen.onboard import import_ixf
from tests.helpers import build_tree

REAL = Path("/work/shared/data/ixf/real-2016")
if not REAL.is_dir():  # the same data, wherever the shared directory is mounted
    REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ixf" / "real-2016"

# Each exchange's peering LAN as it published it (the export's ixp_list[].vlan where it has
# one, else the exchange's website and PeeringDB): the exchange.yml an operator of that
# exchange would have. The first (unicast) LAN where an export lists several.
LANS = {
    "CATNIX": ("193.242.98.0/24", "2001:7f8:2a::/64"),
    "DE-CIX-FRA": ("80.81.192.0/22", "2001:7f8::/64"),
    "ECIX-BER": ("194.9.117.0/24", "2001:7f8:8:5::/64"),
    "ECIX-DUS": ("194.146.118.0/24", "2001:7f8:8::/64"),
    "ECIX-FRA": ("62.69.146.0/23", "2001:7f8:8:20::/64"),
    "ECIX-HAM": ("193.42.155.0/24", "2001:7f8:8:10::/64"),
    "ECIX-MUC": ("194.59.190.0/24", "2001:7f8:2c:1000::/64"),
    "FranceIX-MRS": ("37.49.232.0/24", "2001:7f8:54:5::/64"),
    "FranceIX-PAR": ("37.49.236.0/23", "2001:7f8:54::/64"),
    "GIGAPIX": ("193.136.250.0/24", "2001:7f8:a:1::/64"),
    "INEX": ("193.242.111.0/25", "2001:7f8:18::/64"),
    "IX-SYD": ("103.26.68.0/23", "2001:dea:0:10::/64"),
    "LONAP": ("5.57.80.0/22", "2001:7f8:17::/64"),
    "NIX.CZ": ("91.210.16.0/22", "2001:7f8:14::/64"),
    "NIX.SK": ("194.30.187.0/24", "2001:7f8:91::/64"),
    "RIX": ("195.130.211.0/26", "2001:7f8:48::/64"),
    "SFMIX": ("206.197.187.0/24", "2001:504:30::/64"),
    "TREX": ("195.140.192.0/24", "2001:7f8:1d:4::/64"),
}
EXPORTS = sorted(REAL.glob("*.json"))


def test_every_real_export_has_its_lan() -> None:
    """The table covers every file, and agrees with each LAN an export declares itself."""
    assert {p.stem for p in EXPORTS} == set(LANS)
    for path in EXPORTS:
        declared = {str(ipaddress.ip_network(f"{v[f]['prefix']}/{v[f]['mask_length']}"))
                    for x in json.loads(path.read_bytes())["ixp_list"]
                    for v in x.get("vlan") or [] for f in ("ipv4", "ipv6") if f in v}
        if declared:
            assert set(LANS[path.stem]) <= declared, path.name


def _exchange(directory: Path, stem: str, lan: tuple[str, str] | None = None) -> Path:
    v4, v6 = (ipaddress.ip_network(n) for n in lan or LANS[stem])
    # The route server on the LAN's last host addresses, which no member in these files has.
    rs4, rs6 = v4.broadcast_address - 1, v6.broadcast_address - 1
    return build_tree(directory, {
        "exchange.yml": f"name: {stem} test\nroute_servers:\n"
                        f"  - {{name: rs1, asn: 64500, router_id: {rs4}, ipv4: \"{rs4}\", "
                        f"ipv6: \"{rs6}\"}}\n"
                        f"peering_lan: {{ipv4: \"{v4}\", ipv6: \"{v6}\"}}\n",
        "members/README.md": "members\n"})


_ADDRESS_RE = re.compile(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:/[0-9]+)?"
                         r"|\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F.]{0,4}){2,}(?:/[0-9]+)?")


def _kind(reason: str) -> str:
    """A skip reason with addresses and numbers blanked, to count skips of each kind."""
    first = reason.partition("; ")[0]
    return re.sub(r"AS[0-9]+|[0-9]+ more", "N", _ADDRESS_RE.sub("ADDR", first))


def _sound_sessions(member: dict[str, Any], lan: tuple[str, str]) -> set[str]:
    """The test's own reading of what may become a session: an address of the right family
    inside the LAN with routeserver true, on a connection that is not marked otherwise."""
    networks = [ipaddress.ip_network(n) for n in lan]
    found = set()
    for connection in member.get("connection_list") or []:
        state = str(connection.get("state", "active")).lower()
        if state not in ("active", "operational", "connected"):
            continue
        for vlan in connection.get("vlan_list") or []:
            for family, network in zip(("ipv4", "ipv6"), networks, strict=True):
                entry = vlan.get(family)
                if not isinstance(entry, dict) or entry.get("routeserver") is not True:
                    continue
                try:
                    address = ipaddress.ip_address(str(entry.get("address")).strip())
                except ValueError:
                    continue
                if address.version == network.version and address in network:
                    found.add(str(address))
    return found


@pytest.mark.parametrize("path", EXPORTS, ids=[p.stem for p in EXPORTS])
def test_a_real_export_imports_what_is_sound(path: Path, tmp_path: Path) -> None:
    directory = _exchange(tmp_path, path.stem)
    export = json.loads(path.read_bytes())
    listed = export["member_list"]

    report = import_ixf(directory, str(path))

    reasons = Counter(_kind(n.reason) for n in report.skipped)
    print(f"\n{path.stem}: version {report.version}: {len(listed)} members listed, "
          f"{report.imported} imported, {len(report.skipped)} skipped, {len(report.dropped)} "
          f"address(es) or field(s) left out")
    for reason, count in reasons.most_common():
        print(f"    skipped {count:4}: {reason}")
    for warning in report.warnings:
        print(f"    warning: {warning}")

    # Every member of the file is accounted for, once: imported or skipped with a reason.
    assert report.imported + len(report.skipped) == len(listed)
    assert all(n.reason.strip() and n.where.startswith("member_list[") for n in report.skipped)
    assert len({n.where for n in report.skipped}) == len(report.skipped)
    # What was written is an exchange rsgen check accepts, with exactly the imported members.
    config = load_checked(directory)
    assert len(config.members) == report.imported == len(report.written)
    by_asn = {}
    for index, member in enumerate(listed):
        by_asn.setdefault(member.get("asnum"), (index, member))
    for member in config.members:
        index, record = by_asn[member.asn]
        # Sessions only where the export says routeserver: true, on this LAN.
        sessions = {str(s.ip) for s in member.sessions}
        assert sessions and sessions <= _sound_sessions(record, LANS[path.stem]), member.asn
        if isinstance(record.get("name"), str) and record["name"].strip():
            assert member.name == record["name"].strip()
    # A member skipped for want of a session had none the test can find either.
    skipped_at = {int(n.where.partition("[")[2].partition("]")[0]): n.reason
                  for n in report.skipped}
    for index, reason in skipped_at.items():
        if reason.startswith("no route-server session"):
            assert not _sound_sessions(listed[index], LANS[path.stem]), (index, reason)
    # An export that never says routeserver: true gives no sessions at all.
    if not any(_sound_sessions(m, LANS[path.stem]) for m in listed if isinstance(m, dict)):
        assert report.imported == 0


def test_a_second_import_of_the_same_export_writes_nothing(tmp_path: Path) -> None:
    """Existing member files are never overwritten: each is reported as skipped."""
    path = REAL / "LONAP.json"
    directory = _exchange(tmp_path, "LONAP")
    first = import_ixf(directory, str(path))
    before = {p.name: p.read_bytes() for p in (directory / "members").iterdir()}
    second = import_ixf(directory, str(path))
    assert first.imported > 100 and second.imported == 0 and not second.written
    assert sum("exists already" in n.reason for n in second.skipped) == first.imported
    assert {p.name: p.read_bytes() for p in (directory / "members").iterdir()} == before


def test_assume_routeserver_reads_an_export_that_never_says(tmp_path: Path) -> None:
    """ECIX's exports have no routeserver flags: with --assume-routeserver each member with an
    address on the LAN is imported, and the files pass rsgen check."""
    path = REAL / "ECIX-DUS.json"
    listed = json.loads(path.read_bytes())["member_list"]
    assert not any("routeserver" in json.dumps(m) for m in listed)
    directory = _exchange(tmp_path, "ECIX-DUS")
    report = import_ixf(directory, str(path), assume_routeserver=True)
    assert report.imported + len(report.skipped) == len(listed)
    assert report.imported > len(listed) // 2
    assert len(load_checked(directory).members) == report.imported


@pytest.mark.parametrize(("name", "lan"), [
    ("bcix.json", ("193.178.185.0/24", "2001:7f8:19:1::/64")),
    ("gr-ix.json", ("176.126.38.0/24", "2001:7f8:6e::/64")),
])
def test_route_server_client_lists_carry_their_as_macros_and_limits(
        tmp_path: Path, name: str, lan: tuple[str, str]) -> None:
    """arouteserver's IX-F 0.6 client lists (BCIX, GR-IX: every entry a route-server client,
    no routeserver flag): with --assume-routeserver each member's as_macro becomes its as_set
    and max_prefix its limit, per family."""
    path = REAL.parent / name
    directory = _exchange(tmp_path, name, lan)
    listed = json.loads(path.read_bytes())["member_list"]
    report = import_ixf(directory, str(path), assume_routeserver=True)
    print(f"\n{name}: {len(listed)} listed, {report.imported} imported, "
          f"{len(report.skipped)} skipped, {len(report.dropped)} left out")
    assert report.imported + len(report.skipped) == len(listed)
    members = {m.asn: m for m in load_checked(directory).members}
    assert len(members) == report.imported > len(listed) // 2
    for record in listed:
        member = members.get(record["asnum"])
        if member is None:
            continue
        entries = [v[f] for c in record["connection_list"] for v in c["vlan_list"]
                   for f in ("ipv4", "ipv6") if f in v]
        macros = {s.upper() for e in entries for s in e.get("as_macro", "").split()}
        assert {str(s) for s in member.as_sets} == macros
        for version, family in ((4, "ipv4"), (6, "ipv6")):
            limits = [e["max_prefix"] for c in record["connection_list"]
                      for v in c["vlan_list"] if family in v
                      for e in [v[family]] if e.get("max_prefix")]
            assert member.max_prefixes.of(version) == (max(limits) if limits else None)
