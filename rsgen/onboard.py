"""`rsgen member add` (one member from PeeringDB) and `rsgen import ixf` (many, from an IX-F
member export): new member files, checked as `rsgen check` checks them, never overwriting one.

Both hold the exchange lock from reading the exchange to writing the files, and write every
accepted file or none (rsgen.memberfile.write_members): an import is one reviewable change,
and a failure half-way (disk full) leaves the members/ directory as it was, so the run can
simply be repeated.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from rsgen.errors import InvalidInput, SourceFailed
from rsgen.ixf import ExportMembers, Notice, parse_json, read_members
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.memberfile import Checked, MemberDraft, check_drafts, write_members
from rsgen.model import PeeringLan
from rsgen.scaffold import ScaffoldRefused
from rsgen.settings import Settings
from rsgen.values import IPAddress, printable


@dataclass
class ImportReport:
    """What an import or a member add did; every text in it is untrusted (printable() it)."""

    source: str
    version: str = ""
    written: list[Path] = field(default_factory=list)
    would_write: list[MemberDraft] = field(default_factory=list)  # --dry-run
    skipped: list[Notice] = field(default_factory=list)  # members not imported, with why
    dropped: list[Notice] = field(default_factory=list)  # parts left out of imported members
    warnings: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.written) + len(self.would_write)


def import_ixf(directory: Path, source: str, *, ixp_id: int | None = None,
               assume_routeserver: bool = False, dry_run: bool = False,
               allow_http: bool = False, timeout: float = 30.0) -> ImportReport:
    """Import the members of the IX-F export at `source` (a file, or an https:// URL)."""
    from rsgen.sources.ixf import fetch_export, is_url, read_export_file

    shown = printable(source)
    raw = fetch_export(source, timeout=timeout, allow_http=allow_http) if is_url(source) \
        else read_export_file(Path(source))
    document = parse_json(raw, shown)
    config = load_checked(directory)  # first, as build and refresh: names a missing directory
    with exchange_lock(directory, "import ixf"):
        members = read_members(document, config.exchange.peering_lan,
                               config.exchange.route_servers, ixp_id=ixp_id,
                               assume_routeserver=assume_routeserver)
        checked = check_drafts(directory, config, list(members.drafts), _origin(source))
        report = _report(source, members, checked)
        if dry_run:
            report.would_write = [draft for draft, _ in checked.accepted]
        else:
            report.written = write_members(directory, checked)
    return report


def _origin(source: str) -> str:
    """Where the data came from, for the files' first comment: a URL without its query, or
    the file's name."""
    if "://" in source:
        return "IX-F export " + source.partition("?")[0].rpartition("@")[2]
    return "IX-F export " + Path(source).name


def _report(source: str, members: ExportMembers, checked: Checked) -> ImportReport:
    report = ImportReport(source, members.version, warnings=list(members.warnings))
    report.skipped = list(members.skipped) + [Notice(r.where, r.reason) for r in checked.refused]
    report.skipped.sort(key=lambda n: _index(n.where))
    report.dropped = list(members.dropped)
    return report


def _index(where: str) -> int:
    """member_list[12] ... -> 12, to list skipped members in the export's order."""
    digits = where.partition("[")[2].partition("]")[0]
    return int(digits) if digits.isdigit() else -1


def add_member(directory: Path, asn: int, settings: Settings, *,
               dry_run: bool = False) -> ImportReport:
    """Write members/AS<asn>.yml from PeeringDB: the network's name, and its addresses on this
    exchange's LAN (netixlan of peeringdb.ixlan_id) as sessions."""
    from rsgen.sources.peeringdb_source import open_peeringdb

    config = load_checked(directory)
    with exchange_lock(directory, "member add"):
        exchange = config.exchange
        report = ImportReport(f"PeeringDB AS{asn}")
        if (directory / f"members/AS{asn}.yml").exists() or \
                any(m.asn == asn for m in config.members):
            raise ScaffoldRefused(f"members/AS{asn}.yml exists already: not overwritten",
                                  hint="edit it, or rsgen member remove it first")
        ixlan_id = exchange.peeringdb.ixlan_id
        if ixlan_id is None:
            raise InvalidInput("exchange.yml has no peeringdb.ixlan_id: rsgen cannot tell "
                               "which PeeringDB peering LAN is this exchange's",
                               hint="set peeringdb: {ixlan_id: N}, the id in the URL of the "
                                    "exchange's LAN on www.peeringdb.com")
        client = open_peeringdb(exchange.peeringdb, settings)
        if client.key_withheld:
            report.warnings.append(client.key_withheld)
        net = client.fetch_nets([asn]).get(asn)
        if net is None:
            raise SourceFailed(f"PeeringDB has no network AS{asn}",
                               hint="check the ASN; the network must have a PeeringDB entry")
        sessions: list[IPAddress] = []
        for entry in client.fetch_netixlan(asn, ixlan_id):
            for text in (entry.ipaddr4, entry.ipaddr6):
                if text is None:
                    continue
                where = f"PeeringDB netixlan {printable(text)[:64]}"
                address = _lan_address(text, config.exchange.peering_lan)
                if isinstance(address, str):
                    report.dropped.append(Notice(where, address))
                elif address not in sessions:
                    sessions.append(address)
                    if not entry.is_rs_peer:
                        report.warnings.append(f"AS{asn} {address}: PeeringDB says it does "
                                               "not peer with the route servers (is_rs_peer "
                                               "false); added as a session all the same")
                    if not entry.operational:
                        report.warnings.append(f"AS{asn} {address}: PeeringDB says the "
                                               "connection is not operational yet")
        if not sessions:
            raise InvalidInput(f"PeeringDB lists no address of AS{asn} on ixlan {ixlan_id} "
                               "inside the peering LAN: no member file written",
                               hint="check peeringdb.ixlan_id, or write the file by hand")
        draft = MemberDraft(asn, net.name.strip(), tuple(sessions))
        checked = check_drafts(directory, config, [(f"PeeringDB AS{asn}", draft)],
                               f"PeeringDB (net AS{asn}, netixlan of ixlan {ixlan_id})")
        if checked.refused:
            raise InvalidInput(f"the member file made from PeeringDB's AS{asn} would not pass "
                               f"rsgen check: {checked.refused[0].reason}",
                               hint="write the file by hand")
        if dry_run:
            report.would_write = [draft]
        else:
            report.written = write_members(directory, checked)
    return report


def _lan_address(text: str, lan: PeeringLan) -> IPAddress | str:
    """The address, or why it cannot be a session (not an address, outside the LAN)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return "not an IP address"
    if not lan.contains(address):
        return f"{address} is outside the peering LAN"
    return address
