"""`rsgen refresh`: PeeringDB + IRR -> snapshot, member by member, never losing good data.

A member whose sources fail keeps its previous snapshot files and is reported; the others
are updated. An IRR answer that would empty a member's filter is treated as a failure.

A run holds the exchange lock (rsgen.lock) from start to end, and its snapshot changes land
together (SnapshotTransaction): killed at any instant, it leaves the old snapshot or the new.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rsgen.errors import SourceFailed
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.model import Config, IrrData, IrrSettings, PeeringDbNet, Snapshot
from rsgen.policy import choose_as_sets
from rsgen.snapshot import (
    SnapshotMeta,
    SnapshotTransaction,
    read_meta,
    read_snapshot,
    recover_snapshot,
)
from rsgen.sources import irr as irr_source
from rsgen.sources.peeringdb import PeeringDbClient, api_key_from_env
from rsgen.values import AsSetName


@dataclass
class RefreshReport:
    updated: list[int] = field(default_factory=list)  # ASNs whose IRR data was refreshed
    failed: dict[int, str] = field(default_factory=dict)  # ASN -> why its old data was kept
    warnings: dict[int, str] = field(default_factory=dict)
    peeringdb_error: str | None = None
    changed_files: list[Path] = field(default_factory=list)


def refresh(directory: Path, *, peeringdb_url: str | None = None, irr_host: str | None = None,
            only: Sequence[int] | None = None, bgpq4: str = "bgpq4",
            progress: Callable[[int], None] | None = None) -> RefreshReport:
    """Fetch PeeringDB and IRR data for the members (or `only` these ASNs) into the snapshot.

    Raises SourceFailed after committing everything that succeeded when any member failed, and
    Locked when another run holds the exchange directory.
    """
    config = load_checked(directory)
    with exchange_lock(directory, "refresh"):
        recover_snapshot(directory)
        report = _refresh(directory, config, peeringdb_url=peeringdb_url, irr_host=irr_host,
                          only=only, bgpq4=bgpq4, progress=progress)
    if report.failed or report.peeringdb_error:
        raise RefreshFailed(report)
    return report


def _refresh(directory: Path, config: Config, *, peeringdb_url: str | None,
             irr_host: str | None, only: Sequence[int] | None, bgpq4: str,
             progress: Callable[[int], None] | None) -> RefreshReport:
    members = [m for m in config.members if only is None or m.asn in set(only)]
    previous = _previous_snapshot(directory)
    report = RefreshReport()

    url = peeringdb_url or config.exchange.peeringdb.url
    client = PeeringDbClient(url, api_key=api_key_from_env(),
                             timeout=config.exchange.peeringdb.timeout_seconds)
    nets: dict[int, PeeringDbNet | None] = {}
    try:
        fetched = client.fetch_nets(m.asn for m in members)
        nets = {m.asn: fetched.get(m.asn) for m in members}
    except SourceFailed as exc:
        # Keep going on the last known PeeringDB data: IRR data can still be refreshed.
        report.peeringdb_error = str(exc)
        nets = {m.asn: previous.peeringdb.get(m.asn) for m in members}

    requests: dict[int, tuple[AsSetName, ...]] = {}
    for member in members:
        choice = choose_as_sets(member, nets[member.asn])
        requests[member.asn] = choice.objects
        if choice.warning:
            report.warnings[member.asn] = choice.warning

    settings = _irr_settings(config, irr_host)
    policy = config.exchange.policy
    results, failures = irr_source.fetch_many(
        requests, settings, max_length4=policy.ipv4_max_length,
        max_length6=policy.ipv6_max_length, bgpq4=bgpq4, on_done=progress)
    report.failed.update(failures)

    # Everything fetched: only now touch the disk, all at once. The successes are committed
    # even when others failed; the caller raises RefreshFailed after the commit.
    with SnapshotTransaction(directory) as transaction:
        for member in members:
            asn = member.asn
            if report.peeringdb_error is None:
                transaction.write_member(asn, peeringdb=nets[asn])
            data = results.get(asn)
            if data is None:
                continue
            problem = _suspicious(data, previous.irr.get(asn))
            if problem:
                report.failed[asn] = problem
                continue
            transaction.write_member(asn, irr=data)
            report.updated.append(asn)
        transaction.write_meta(read_meta(directory) or SnapshotMeta())
    report.changed_files = transaction.changed
    return report


class RefreshFailed(SourceFailed):
    """Some sources failed; the report says which members kept their old data."""

    def __init__(self, report: RefreshReport) -> None:
        parts = []
        if report.peeringdb_error:
            parts.append(f"PeeringDB: {report.peeringdb_error}")
        parts += [f"AS{asn}: {why}" for asn, why in sorted(report.failed.items())]
        super().__init__(f"refresh failed for {len(report.failed)} member(s)"
                         + (" and PeeringDB" if report.peeringdb_error else ""),
                         hint="their previous snapshot data was kept; fix the source and "
                              "run rsgen refresh again")
        self.report = report
        self.details = parts


def _previous_snapshot(directory: Path) -> Snapshot:
    if read_meta(directory) is None:
        return Snapshot(False, {}, {})
    return read_snapshot(directory)


def _irr_settings(config: Config, irr_host: str | None) -> IrrSettings:
    settings = config.exchange.irr
    return dataclasses.replace(settings, host=irr_host) if irr_host else settings


def _suspicious(new: IrrData, old: IrrData | None) -> str | None:
    """Why a new IRR answer must not replace the old one (it would empty a filter)."""
    if old is None:
        return None
    for family, before, after in (("IPv4", old.ipv4, new.ipv4), ("IPv6", old.ipv6, new.ipv6)):
        if before and not after:
            return (f"IRR now returns no {family} prefixes (had {len(before)}); "
                    "keeping the old list")
    return None
