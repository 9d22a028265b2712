"""`rsgen refresh`: PeeringDB + IRR -> snapshot, member by member, never losing good data.

A member whose sources fail keeps its previous snapshot files and is reported; the others
are updated. An IRR answer that would shrink a member's filter too much (rsgen.guard) is
treated as a failure unless the operator accepts it.

A run holds the exchange lock (rsgen.lock) from start to end, and its snapshot changes land
together (SnapshotTransaction): killed at any instant, it leaves the old snapshot or the new.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rsgen import guard
from rsgen.errors import SourceFailed
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.model import Config, IrrSettings, PeeringDbNet, Snapshot
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
from rsgen.sources.proc import missing_tool
from rsgen.values import AsSetName


@dataclass
class RefreshReport:
    updated: list[int] = field(default_factory=list)  # ASNs whose IRR data was refreshed
    failed: dict[int, str] = field(default_factory=dict)  # ASN -> why its old data was kept
    warnings: dict[int, str] = field(default_factory=dict)
    peeringdb_error: str | None = None
    changed_files: list[Path] = field(default_factory=list)
    shrunk: list[int] = field(default_factory=list)  # ASNs whose new data the guard refused
    hints: list[str] = field(default_factory=list)  # distinct advice for the failures


def refresh(directory: Path, *, peeringdb_url: str | None = None, irr_host: str | None = None,
            only: Sequence[int] | None = None, bgpq4: str = "bgpq4",
            progress: Callable[[int], None] | None = None,
            accept_shrink: Collection[int] = (),
            max_shrink: float | None = None) -> RefreshReport:
    """Fetch PeeringDB and IRR data for the members (or `only` these ASNs) into the snapshot.

    A member whose new IRR data would shrink a list by more than `max_shrink` (default: the
    exchange's irr.max_shrink_percent) keeps its old data unless its ASN is in `accept_shrink`.
    Raises SourceFailed after committing everything that succeeded when any member failed, and
    Locked when another run holds the exchange directory.
    """
    config = load_checked(directory)
    # Before any PeeringDB query: a missing bgpq4 would waste the anonymous rate limit.
    if shutil.which(bgpq4) is None:
        raise missing_tool(bgpq4)
    limit = guard.check_max_shrink(config.exchange.irr.max_shrink if max_shrink is None
                                   else max_shrink)
    with exchange_lock(directory, "refresh"):
        recover_snapshot(directory)
        report = _refresh(directory, config, peeringdb_url=peeringdb_url, irr_host=irr_host,
                          only=only, bgpq4=bgpq4, progress=progress,
                          accepted=frozenset(accept_shrink), max_shrink=limit)
    if report.failed or report.peeringdb_error:
        raise RefreshFailed(report)
    return report


def _refresh(directory: Path, config: Config, *, peeringdb_url: str | None,
             irr_host: str | None, only: Sequence[int] | None, bgpq4: str,
             progress: Callable[[int], None] | None, accepted: frozenset[int],
             max_shrink: float) -> RefreshReport:
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
        report.peeringdb_error = exc.message
        if exc.hint:
            report.hints.append(exc.hint)
        nets = {m.asn: previous.peeringdb.get(m.asn) for m in members}

    requests: dict[int, tuple[AsSetName, ...]] = {}
    for member in members:
        choice = choose_as_sets(member, nets[member.asn])
        requests[member.asn] = choice.objects
        if choice.warning:
            report.warnings[member.asn] = choice.warning

    settings = _irr_settings(config, irr_host)
    policy = config.exchange.policy
    hints: dict[int, str] = {}
    results, failures = irr_source.fetch_many(
        requests, settings, max_length4=policy.ipv4_max_length,
        max_length6=policy.ipv6_max_length, bgpq4=bgpq4, on_done=progress, hints=hints)
    report.failed.update(failures)
    for hint in hints.values():
        if hint not in report.hints:
            report.hints.append(hint)
    members_here = {m.asn for m in members}
    for asn in sorted(accepted - members_here):
        report.warnings[asn] = "--accept-shrink names an ASN that is not refreshed here"

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
            shrinks = guard.shrinkage(asn, previous.irr.get(asn), data, max_shrink=max_shrink)
            if shrinks and asn not in accepted:
                report.failed[asn] = guard.describe(shrinks)
                report.shrunk.append(asn)
                continue
            if shrinks:
                report.warnings[asn] = "; ".join(filter(None, [
                    report.warnings.get(asn),
                    "accepted by --accept-shrink: " + guard.describe(shrinks)]))
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
        summary = []
        if report.failed:
            summary.append(f"{len(report.failed)} member(s) failed and keep their previous "
                           "IRR data")
        if report.peeringdb_error:
            summary.append("PeeringDB failed: every member keeps its previous PeeringDB data")
        summary.append(f"IRR data refreshed for {len(report.updated)} member(s)")
        hints = list(report.hints)
        if report.shrunk:
            hints.append(guard.accept_hint(report.shrunk))
        hints.append("run rsgen refresh again once the source is fixed")
        super().__init__("refresh incomplete: " + "; ".join(summary), hint="; ".join(hints))
        self.report = report
        self.details = parts


def _previous_snapshot(directory: Path) -> Snapshot:
    if read_meta(directory) is None:
        return Snapshot(False, {}, {})
    return read_snapshot(directory)


def _irr_settings(config: Config, irr_host: str | None) -> IrrSettings:
    settings = config.exchange.irr
    return dataclasses.replace(settings, host=irr_host) if irr_host else settings

