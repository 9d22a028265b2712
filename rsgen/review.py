"""The two plans a review compares, `rsgen diff`'s base and head, and the plan `rsgen docs`
publishes: each read as a build reads its exchange directory, with the same checked loaders.

A review runs where a pull request's files are (a CI job on its head), so it needs no BGP
password: the plan gets a stand-in for every variable the member files name, and what a diff
compares is the variable's name, never a value.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rsgen.builder import snapshot_gaps
from rsgen.errors import BadRevision, NoSnapshot, Problem, RsgenError
from rsgen.load import load_checked
from rsgen.model import Config
from rsgen.plan import ExchangePlan, FamilyPlan, MemberPlan, plan
from rsgen.settings import Settings
from rsgen.snapshot import read_checked_snapshot
from rsgen.sources.git import export_exchange
from rsgen.values import Secret

# A value check_password accepts; it reaches no config (a review renders none).
_STAND_IN = Secret("review-stand-in")


@dataclass(frozen=True)
class ReviewedPlan:
    """A plan and what it was made from, for the diff's header."""

    label: str  # "HEAD (1a2b3c4d5e6f)", a directory
    plan: ExchangePlan
    warnings: tuple[str, ...]  # the snapshot's provenance warnings
    # Members the snapshot has no data for yet, or data for other IRR objects (an onboarding
    # pull request before the refresh job ran), and why: not in `plan`, which would have to
    # guess their filters.
    behind: Mapping[int, str] = dataclasses.field(default_factory=dict)


def review_settings(config: Config, settings: Settings) -> Settings:
    """`settings` with a stand-in for each password variable the member files name."""
    names = {session.password_env for member in config.members for session in member.sessions
             if session.password_env is not None}
    return dataclasses.replace(settings, passwords=MappingProxyType(
        dict.fromkeys(sorted(names), _STAND_IN)))


def load_plan(directory: Path, settings: Settings, label: str, *,
              behind_ok: bool = False) -> ReviewedPlan:
    """The plan of the exchange in `directory`, read as `rsgen build --offline` reads it:
    InvalidInput (exit 3) for the member files, NoSnapshot (exit 6) for a damaged or
    unvouched-for snapshot. A member the snapshot is out of date for is NoSnapshot too,
    unless `behind_ok`: then it is left out of the plan and named in `behind`."""
    config = load_checked(directory)
    snapshot, warnings = read_checked_snapshot(directory, config.exchange.policy,
                                               settings.snapshot_key)
    gaps = snapshot_gaps(config, snapshot)
    if gaps and not behind_ok:
        raise NoSnapshot(f"the snapshot is missing or out of date for {len(gaps)} member(s)",
                         hint="run rsgen refresh (--members AS...) and commit the snapshot",
                         problems=tuple(Problem(f"AS{asn}: {why}", f"members/AS{asn}.yml")
                                        for asn, why in sorted(gaps.items())))
    config = dataclasses.replace(config, members=tuple(
        m for m in config.members if m.asn not in gaps))
    return ReviewedPlan(label, plan(config, snapshot, review_settings(config, settings)),
                        tuple(warnings), dict(sorted(gaps.items())))


def base_at_revision(directory: Path, rev: str, settings: Settings) -> ReviewedPlan:
    """The plan of `directory` as committed at `rev` (read from git's objects into a private
    temporary directory, removed afterwards); its errors name the base."""
    with tempfile.TemporaryDirectory(prefix="rsgen-base-") as temp:
        with as_the_base(rev):
            commit = export_exchange(directory, rev, Path(temp))
        label = f"{rev} ({commit[:12]})"
        with as_the_base(label):
            return load_plan(Path(temp), settings, label, behind_ok=True)


def base_in_directory(directory: Path, settings: Settings) -> ReviewedPlan:
    """The plan of another exchange directory (--base-dir), named as the base in errors."""
    label = str(directory)
    with as_the_base(label):
        return load_plan(directory, settings, label, behind_ok=True)


@contextmanager
def as_the_base(label: str) -> Iterator[None]:
    """Re-raise an error of the base's files with the base named, same class and exit code:
    the head's own errors must not be confused with the base's."""
    try:
        yield
    except BadRevision:
        raise  # about the revision itself, which the message names
    except RsgenError as error:
        error.message = f"the base ({label}): {error.message}"
        error.args = (error.message,)
        raise


@dataclass(frozen=True)
class MemberView:
    """A member across all route servers: its plan (the routing facts are the same on each
    server) and its sessions by "server address"."""

    plan: MemberPlan
    families: Mapping[int, FamilyPlan]
    sessions: Mapping[str, Mapping[str, Any]]


def member_views(exchange_plan: ExchangePlan) -> dict[int, MemberView]:
    """Each member of any route server, by ASN (what diff compares and docs list)."""
    views: dict[int, MemberView] = {}
    for server in exchange_plan.route_servers:
        for member in server.members:
            view = views.get(member.asn)
            families = dict(view.families) if view else {}
            sessions = dict(view.sessions) if view else {}
            for family in member.families:
                families.setdefault(family.version, family)
                for s in family.sessions:
                    sessions[f"{server.name} {s.address}"] = {
                        "description": s.description, "password variable": s.password_env}
            views[member.asn] = MemberView(view.plan if view else member, families, sessions)
    return views
