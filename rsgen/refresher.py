"""`rsgen refresh`: PeeringDB + IRR -> snapshot, member by member, never losing good data.

A member whose sources fail keeps its previous snapshot files and is reported; the others
are updated. An IRR answer that would shrink a member's filter too much (rsgen.guard) is
treated as a failure unless the operator accepts it.

A run holds the exchange lock (rsgen.lock) from start to end (refresh() takes it; refresh_stage,
which a build also runs, never locks), and its snapshot changes land together
(SnapshotTransaction): killed at any instant, it leaves the old snapshot or the new.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsgen import guard, plausible, provenance
from rsgen.errors import ExitCode, SourceFailed
from rsgen.load import load_checked
from rsgen.lock import exchange_lock
from rsgen.model import Config, IrrData, IrrSettings, PeeringDbNet, Snapshot
from rsgen.policy import choose_as_sets, max_prefix_warnings
from rsgen.settings import Settings
from rsgen.snapshot import (
    NEVER_VIA_FILE,
    SnapshotMeta,
    SnapshotTransaction,
    read_meta,
    read_snapshot_files,
    recover_snapshot,
)
from rsgen.sources import irr as irr_source
from rsgen.sources.proc import missing_tool
from rsgen.values import AsSetName, PrefixList, Secret, brief


@dataclass
class RefreshReport:
    updated: list[int] = field(default_factory=list)  # ASNs whose IRR data was refreshed
    failed: dict[int, str] = field(default_factory=dict)  # ASN -> why its old data was kept
    warnings: dict[int, str] = field(default_factory=dict)
    peeringdb_error: str | None = None
    changed_files: list[Path] = field(default_factory=list)
    shrunk: list[int] = field(default_factory=list)  # ASNs whose new data the guard refused
    hints: list[str] = field(default_factory=list)  # distinct advice for the failures
    notices: list[str] = field(default_factory=list)  # warnings about the run, not a member
    # PeeringDB's never-via-route-servers list: how many ASNs were written, or why the old
    # list was kept (the shrink guard refused the new one).
    never_via_written: int | None = None
    never_via_kept: str | None = None
    irr_cost: str | None = None  # what the IRR expansion cost (IrrStats.describe)
    pruned: list[int] = field(default_factory=list)  # ASNs no longer members: files deleted
    # ASNs written as pending (IrrData.pending): the IRR has nothing for their objects, and
    # they have no earlier data for them (new members), or a reviewed shrink to empty.
    pending: list[int] = field(default_factory=list)


def refresh(directory: Path, *, only: Sequence[int] | None = None,
            progress: Callable[[int], None] | None = None,
            accept_shrink: Collection[int] = (),
            max_shrink: float | None = None,
            accept_never_via_shrink: bool = False,
            settings: Settings | None = None) -> RefreshReport:
    """Fetch PeeringDB and IRR data for the members (or `only` these ASNs) into the snapshot.

    The command: reads the environment once (`settings`, default Settings.from_environment()),
    takes the exchange lock, recovers an interrupted snapshot commit, then runs refresh_stage.
    Raises Locked when another run holds the exchange directory, and what refresh_stage raises.
    """
    settings = Settings.from_environment() if settings is None else settings
    config = load_checked(directory)
    with exchange_lock(directory, "refresh"):
        recover_snapshot(directory)
        return refresh_stage(directory, config, settings, only=only, progress=progress,
                             accept_shrink=accept_shrink, max_shrink=max_shrink,
                             accept_never_via_shrink=accept_never_via_shrink)


def _pending(asn: int, objects: Sequence[AsSetName], reason: str, old: IrrData | None,
             state: provenance.Status | None, accepted: frozenset[int],
             report: RefreshReport) -> IrrData | None:
    """What to write for a member whose objects the IRR expands to nothing: a pending state
    (sessions configured, nothing accepted) when it has no data yet for these objects from an
    earlier refresh (a new member; one still pending), or when an operator accepted the shrink
    to empty; otherwise None, and the member keeps its data, failed or held for review."""
    pending = IrrData(tuple(objects), (), PrefixList(()), PrefixList(()), pending=reason)
    recorded = old is not None and state is provenance.Status.RECORDED
    if old is not None and old.objects == pending.objects and not old.pending and recorded:
        if asn not in accepted:  # the guard's "shrink to empty", as for one list
            report.failed[asn] = f"IRR now expands {reason.partition(': ')[0]} to nothing " \
                                 f"(had {len(old.origins)} origin(s)): {reason}"
            report.shrunk.append(asn)
            return None
        _warn(report, asn, "accepted by --accept-shrink: pending, every route rejected: "
                           + reason)
    elif old is not None and not old.pending:
        return None  # data for other objects, or a hand edit: the failure stands
    else:
        _warn(report, asn, f"PENDING: {reason}; its sessions are configured and every route "
                           "it sends is rejected until its route objects are registered and a "
                           "refresh finds them")
    report.failed.pop(asn, None)
    return pending


def refresh_stage(directory: Path, config: Config, settings: Settings, *,
                  only: Sequence[int] | None = None,
                  progress: Callable[[int], None] | None = None,
                  accept_shrink: Collection[int] = (),
                  max_shrink: float | None = None,
                  accept_never_via_shrink: bool = False) -> RefreshReport:
    """refresh() under a lock its caller holds (refresh, or a build refreshing missing members),
    on a recovered snapshot; never locks, never reads the environment.

    A member whose new IRR data would shrink a list by more than `max_shrink` (default: the
    exchange's irr.max_shrink_percent) keeps its old data unless its ASN is in `accept_shrink`;
    the same guard keeps PeeringDB's never-via-route-servers list (fetched whole when every
    member is refreshed) unless `accept_never_via_shrink`.
    `settings.peeringdb_url` is the operator's (--peeringdb-url, RSGEN_PEERINGDB_URL):
    PEERINGDB_API_KEY may go there over HTTPS. exchange.yml's peeringdb.url gets the key only
    when it is PeeringDB's own https://www.peeringdb.com; otherwise the query is anonymous and
    `report.notices` says why.
    Raises SourceFailed (RefreshFailed) after committing everything that succeeded when any
    member failed.

    Every snapshot file written or confirmed is recorded in snapshot/provenance.json, signed
    with `settings.snapshot_key` (RSGEN_SNAPSHOT_KEY) when there is one. The shrink guard only
    protects previous data whose provenance is recorded.
    """
    bgpq4 = settings.tools.bgpq4
    # Before any PeeringDB query: a missing bgpq4 would waste the anonymous rate limit.
    if shutil.which(bgpq4) is None:
        raise missing_tool(bgpq4)
    limit = guard.check_max_shrink(config.exchange.irr.max_shrink if max_shrink is None
                                   else max_shrink)
    report = _refresh(directory, config, settings, only=only, progress=progress,
                      accepted=frozenset(accept_shrink), max_shrink=limit,
                      accept_never_via=accept_never_via_shrink)
    if report.failed or report.peeringdb_error or report.never_via_kept:
        raise RefreshFailed(report)
    return report


def _refresh(directory: Path, config: Config, settings: Settings, *,
             only: Sequence[int] | None, progress: Callable[[int], None] | None,
             accepted: frozenset[int], max_shrink: float,
             accept_never_via: bool = False) -> RefreshReport:
    key, bgpq4 = settings.snapshot_key, settings.tools.bgpq4
    members = [m for m in config.members if only is None or m.asn in set(only)]
    previous, origin_of = _previous_snapshot(directory, key)
    report = RefreshReport()

    # A URL passed in (--peeringdb-url, RSGEN_PEERINGDB_URL) is the operator's; exchange.yml's
    # is the pull request author's, and gets the API key only if it is PeeringDB's own. A
    # mirror's path is always the operator's (rsgen.sources.peeringdb_source).
    # httpx (a quarter of a second to import) only where PeeringDB is asked: not for builds.
    from rsgen.sources.peeringdb_mirror import PeeringDbMirror
    from rsgen.sources.peeringdb_source import open_peeringdb

    client = open_peeringdb(config.exchange.peeringdb, settings)
    if client.key_withheld:
        report.notices.append(client.key_withheld)
    nets: dict[int, PeeringDbNet | None] = {}
    unused: dict[int, str] = {}  # ASN -> why its previous PeeringDB data cannot be used
    never_via: frozenset[int] | None = None  # None: keep the snapshot's list as it is
    try:
        fetched = client.fetch_nets(m.asn for m in members)
        nets = {m.asn: fetched.get(m.asn) for m in members}
        if only is None:  # exchange-wide data: with a whole refresh only
            never_via = _never_via(client.fetch_never_via_route_servers(), previous,
                                   origin_of, report, max_shrink, accept_never_via)
        if isinstance(client, PeeringDbMirror) and members:
            stale = client.stale_notice(datetime.now(UTC))
            if stale:
                report.notices.append(stale)
    except SourceFailed as exc:
        # Keep going on the last known PeeringDB data: IRR data can still be refreshed.
        report.peeringdb_error = exc.message
        if exc.hint:
            report.hints.append(exc.hint)
        nets = {m.asn: previous.peeringdb.get(m.asn) for m in members}
        for member in members:  # only data refresh wrote may choose what to query
            state = origin_of.get(f"peeringdb/AS{member.asn}.json")
            if nets[member.asn] is not None and state is not provenance.Status.RECORDED:
                nets[member.asn] = None
                unused[member.asn] = (f"PeeringDB failed, and the previous PeeringDB data for "
                                      f"AS{member.asn} was not written by refresh ({state}): "
                                      "its IRR data is not refreshed either")

    requests: dict[int, tuple[AsSetName, ...]] = {}
    for member in members:
        choice = choose_as_sets(member, nets[member.asn])
        requests[member.asn] = choice.objects
        said = [choice.warning] if choice.warning else []
        said += max_prefix_warnings(member, nets[member.asn], config.exchange.policy)
        if said:
            report.warnings[member.asn] = "; ".join(said)

    for asn, why in unused.items():  # keeps its old data, rather than query the wrong sets
        requests.pop(asn)
        report.failed[asn] = why
    irr = _irr_settings(config, settings.irr_host)
    policy = config.exchange.policy
    hints: dict[int, str] = {}
    stats = irr_source.IrrStats()
    started = time.monotonic()
    nothing: dict[int, str] = {}  # ASN -> why its objects expand to nothing
    results, failures = irr_source.fetch_many(
        requests, irr, max_length4=policy.ipv4_max_length,
        max_length6=policy.ipv6_max_length, bgpq4=bgpq4, on_done=progress, hints=hints,
        stats=stats, nothing=nothing)
    report.irr_cost = stats.describe(time.monotonic() - started)
    report.failed.update(failures)
    for hint in hints.values():
        if hint not in report.hints:
            report.hints.append(hint)
    members_here = {m.asn for m in members}
    for asn in sorted(accepted - members_here):
        report.warnings[asn] = "--accept-shrink names an ASN that is not refreshed here"

    # Everything fetched: only now touch the disk, all at once. The successes are committed
    # even when others failed; refresh_stage raises RefreshFailed after the commit.
    with SnapshotTransaction(directory, key=key) as transaction:
        for member in members:
            asn = member.asn
            if report.peeringdb_error is None:
                transaction.write_member(asn, peeringdb=nets[asn])
            data = results.get(asn)
            if asn in nothing:
                data = _pending(asn, requests[asn], nothing[asn], previous.irr.get(asn),
                                origin_of.get(f"irr/AS{asn}.json"), accepted, report)
            if data is None:
                continue
            if data.pending:
                transaction.write_member(asn, irr=data)
                report.pending.append(asn)
                continue
            # Never write what build would refuse (rsgen.plausible): bgpq4 passes on route
            # objects shorter than the policy allows, and private origin ASNs.
            screened = plausible.screen(data, policy)
            if screened.failure is not None:
                report.failed[asn] = screened.failure
                continue
            if screened.dropped:
                _warn(report, asn, f"dropped {len(screened.dropped)} IRR entries build would "
                                   f"refuse: {brief(screened.dropped)}")
            data = screened.data
            old = previous.irr.get(asn)
            state = origin_of.get(f"irr/AS{asn}.json")
            if old is not None and state is not provenance.Status.RECORDED:
                # The guard must never protect data refresh did not write (a hand edit).
                _warn(report, asn, f"previous snapshot data for AS{asn} was not written by "
                                   f"refresh ({state}): shrink guard not applied")
                old = None
            shrinks = guard.shrinkage(asn, old, data, max_shrink=max_shrink)
            if shrinks and asn not in accepted:
                report.failed[asn] = guard.describe(shrinks)
                report.shrunk.append(asn)
                continue
            if shrinks:
                _warn(report, asn, "accepted by --accept-shrink: " + guard.describe(shrinks))
            transaction.write_member(asn, irr=data)
            report.updated.append(asn)
        if only is None:
            # A member file gone means a member gone: its data goes too (a full refresh only,
            # so an onboarding refresh of some members never touches the others).
            for asn in sorted((set(previous.irr) | set(previous.peeringdb)) - {
                    m.asn for m in config.members}):
                if transaction.remove_member(asn):
                    report.pruned.append(asn)
        if never_via is not None:
            transaction.write_never_via(never_via)
            report.never_via_written = len(never_via)
        transaction.write_meta(_meta(read_meta(directory) or SnapshotMeta(), report,
                                     whole=only is None,
                                     own_sources=_own_sources(config, settings)))
    report.changed_files = transaction.changed
    return report


def _meta(previous: SnapshotMeta, report: RefreshReport, *, whole: bool,
          own_sources: bool) -> SnapshotMeta:
    """The snapshot's meta.json after this refresh. An example snapshot (a copy of the bundled
    example) stops being one only when every member was refreshed, without a failure, from
    the sources exchange.yml names: then no made-up data is left in it."""
    if not previous.example:
        return previous
    if whole and own_sources and not report.failed and report.peeringdb_error is None:
        report.notices.append("snapshot/meta.json no longer marks the snapshot as example "
                              "data: every member was refreshed from exchange.yml's sources")
        return SnapshotMeta()
    report.notices.append("the snapshot is still marked as example data (snapshot/meta.json): "
                          "a refresh of every member without a failure, from exchange.yml's "
                          "sources (no --irr-host, --peeringdb-url or their variables), clears "
                          "the mark")
    return previous


def _own_sources(config: Config, settings: Settings) -> bool:
    """Whether this run read the sources exchange.yml names: no --irr-host, no --peeringdb-url,
    and a mirror only where exchange.yml chose one (its path is always the operator's)."""
    return settings.irr_host is None and settings.peeringdb_url is None and (
        settings.peeringdb_mirror is None or config.exchange.peeringdb.source == "mirror")


def _never_via(new: frozenset[int], previous: Snapshot, origin_of: Mapping[str, Any],
               report: RefreshReport, max_shrink: float, accepted: bool) -> frozenset[int] | None:
    """The never-via list to write, or None to keep the old one (the guard refused the new)."""
    old = previous.never_via_route_servers
    if origin_of.get(NEVER_VIA_FILE) is not provenance.Status.RECORDED:
        old = frozenset()  # the guard protects only what refresh wrote
    shrink = guard.list_shrinkage(len(old), len(new), max_shrink)
    if shrink is None:
        return new
    what = f"PeeringDB's never-via-route-servers list {shrink}"
    if accepted:
        report.notices.append(f"{what}: accepted by --accept-shrink never-via")
        return new
    report.never_via_kept = f"{what}: the previous list was kept"
    report.hints.append("check PeeringDB; if the change is real, run rsgen refresh "
                        "--accept-shrink never-via")
    return None


class RefreshFailed(SourceFailed):
    """Some sources failed; the report says which members kept their old data."""

    def __init__(self, report: RefreshReport) -> None:
        parts = []
        if report.peeringdb_error:
            parts.append(f"PeeringDB: {report.peeringdb_error}")
        if report.never_via_kept:
            parts.append(report.never_via_kept)
        parts += [f"AS{asn}: {why}" for asn, why in sorted(report.failed.items())]
        summary = []
        if report.failed:
            summary.append(f"{len(report.failed)} member(s) failed and keep their previous "
                           "IRR data")
        if report.peeringdb_error:
            summary.append("PeeringDB failed: every member keeps its previous PeeringDB data")
        if report.never_via_kept:
            summary.append("the never-via-route-servers list was kept")
        summary.append(f"IRR data refreshed for {len(report.updated)} member(s)")
        hints = list(report.hints)
        if report.shrunk:
            hints.append(guard.accept_hint(report.shrunk))
        # Held for review, nothing down: retrying changes nothing, a reviewer must decide.
        held = not report.peeringdb_error and set(report.failed) <= set(report.shrunk)
        if not held:
            hints.append("run rsgen refresh again once the source is fixed")
        super().__init__("refresh incomplete: " + "; ".join(summary), hint="; ".join(hints))
        if held:
            self.exit_code = ExitCode.HELD_FOR_REVIEW
        self.report = report
        self.details = parts


def _previous_snapshot(directory: Path, key: Secret | None,
                       ) -> tuple[Snapshot, dict[str, provenance.Status]]:
    """The snapshot before this refresh, and the provenance status of each of its files."""
    if read_meta(directory) is None:
        return Snapshot(False, {}, {}), {}
    files = read_snapshot_files(directory)
    return files.snapshot, files.statuses(key)


def _warn(report: RefreshReport, asn: int, text: str) -> None:
    report.warnings[asn] = "; ".join(filter(None, [report.warnings.get(asn), text]))


def _irr_settings(config: Config, irr_host: str | None) -> IrrSettings:
    settings = config.exchange.irr
    # --irr-host names the one host to ask (a test server, a local mirror): no fallbacks.
    return dataclasses.replace(settings, host=irr_host, fallback_hosts=()) if irr_host \
        else settings

