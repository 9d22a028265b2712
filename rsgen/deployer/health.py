"""The health check of a deploy: the BGP sessions and route counts BIRD shows after a new config,
judged against what it showed before.

Only what was working before counts: a session that was down already (a member's router
switched off) cannot fail a deploy, and one the new config removes is not missed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rsgen.verification.birdc import Birdc, parse_protocols

# `show protocols all`: each channel of a protocol has a line
# "    Routes:         3 imported, 0 filtered, 5 exported, 0 preferred".
_ROUTES = re.compile(r"\s+Routes:\s+(?P<imported>[0-9]+) imported,.*")
# What BIRD puts in a protocol's info column when it failed: "Error: ...", or BGP's last error
# ("Socket: Connection refused", "Received: Bad peer AS", "BGP Error: Hold timer expired").
_ERROR = re.compile(r"(?:^|\s)(?:Error|Socket|Received|BGP Error):\s*(?P<what>.*)")
POLL_SECONDS = 0.5
HEALTHY_LOOKS = 2


@dataclass(frozen=True)
class Session:
    """One BGP protocol as BIRD shows it."""

    name: str
    established: bool
    info: str
    imported: int  # routes accepted on all its channels

    @property
    def error(self) -> str | None:
        match = _ERROR.search(self.info)
        return match.group(0).strip() if match else None


@dataclass(frozen=True)
class Sessions:
    """Every BGP protocol of a running BIRD, by name."""

    by_name: Mapping[str, Session]

    @property
    def established(self) -> frozenset[str]:
        return frozenset(n for n, s in self.by_name.items() if s.established)


def parse_sessions(text: str) -> Sessions:
    """The BGP protocols in the output of `show protocols all`.

    >>> found = parse_sessions("Name Proto Table State Since Info\\n"
    ...     "m1 BGP --- up 2026-01-01 10:00:00 Established\\n"
    ...     "  Channel ipv4\\n"
    ...     "    Routes:         3 imported, 0 filtered, 5 exported, 0 preferred\\n"
    ...     "m2 BGP --- start 2026-01-01 10:00:00 Active Socket: Connection refused\\n"
    ...     "device1 Device --- up 2026-01-01 10:00:00\\n")
    >>> found.by_name["m1"].imported, sorted(found.established), found.by_name["m2"].error
    (3, ['m1'], 'Socket: Connection refused')
    """
    sessions: dict[str, Session] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            rows = parse_protocols(line)
            row = rows[0] if rows else None
            current = None
            if row is not None and row.proto == "BGP":
                current = row.name
                sessions[current] = Session(row.name, row.established, row.info, 0)
            continue
        match = _ROUTES.fullmatch(line)
        if match and current is not None:
            old = sessions[current]
            sessions[current] = Session(old.name, old.established, old.info,
                                        old.imported + int(match["imported"]))
    return Sessions(sessions)


def read_sessions(control: Birdc) -> Sessions:
    return parse_sessions(control.command("show", "protocols", "all"))


@dataclass(frozen=True)
class HealthPolicy:
    """How healthy a new config must be before it is confirmed (README, `rsgen deploy`)."""

    wait_seconds: float = 120.0  # how long sessions may take to come back (CLI: timeout - 30)
    max_missing_percent: float = 0.0  # of the sessions Established before
    max_route_drop_percent: float = 50.0  # per session, of the routes it had imported
    # Per session, above what it had imported (at least 1): off by default, since a member's
    # new IRR list may rightly accept more; set, it catches a filter that lets through what
    # it filtered before.
    max_route_growth_percent: float | None = None


@dataclass(frozen=True)
class Health:
    """The verdict on one look at BIRD after a configure."""

    missing: tuple[str, ...]  # were Established, exist in the new config, are not now
    allowed_missing: int
    route_drops: tuple[tuple[str, int, int], ...]  # (session, imported before, now)
    route_growth: tuple[tuple[str, int, int], ...]  # the same, for counts above the bound
    new_errors: tuple[tuple[str, str], ...]  # (session, BIRD's error text)
    removed: tuple[str, ...]  # were Established; the new config has no such protocol
    checked: int  # sessions Established before that the new config keeps
    seconds: float = 0.0
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return len(self.missing) <= self.allowed_missing and not self.route_drops \
            and not self.route_growth and not self.new_errors

    def problems(self) -> list[str]:
        lines = []
        if len(self.missing) > self.allowed_missing:
            lines.append(f"{len(self.missing)} of {self.checked} sessions that were "
                         f"Established are not (allowed: {self.allowed_missing}): "
                         + ", ".join(_with_detail(n, self.details.get(n, ""))
                                     for n in self.missing[:10])
                         + (f" and {len(self.missing) - 10} more" if len(self.missing) > 10
                            else ""))
        lines += [f"{name}: {now} routes imported, {before} before" for name, before, now
                  in (*self.route_drops, *self.route_growth)]
        shown = set(self.missing) if len(self.missing) > self.allowed_missing else set()
        lines += [f"{name}: {error}" for name, error in self.new_errors if name not in shown]
        return lines


def _with_detail(name: str, info: str) -> str:
    return f"{name} ({' '.join(info.split())})" if info.strip() else name


def judge(before: Sessions, after: Sessions, policy: HealthPolicy) -> Health:
    """Compare one look at BIRD after the configure with the one before it."""
    removed = sorted(before.established - set(after.by_name))
    checked = sorted(before.established & set(after.by_name))
    missing = [n for n in checked if not after.by_name[n].established]
    drops, growth = [], []
    for name in checked:
        old, new = before.by_name[name], after.by_name[name]
        if not new.established:
            continue
        floor = math.floor(old.imported * (1 - policy.max_route_drop_percent / 100))
        if new.imported < floor:
            drops.append((name, old.imported, new.imported))
        if policy.max_route_growth_percent is not None and new.imported > math.ceil(
                max(old.imported, 1) * (1 + policy.max_route_growth_percent / 100)):
            growth.append((name, old.imported, new.imported))
    errors = []
    for name, session in sorted(after.by_name.items()):
        error = session.error
        previous = before.by_name.get(name)
        if error is not None and (previous is None or previous.error != error) \
                and name in before.established:
            errors.append((name, error))
    return Health(
        missing=tuple(missing),
        allowed_missing=math.floor(len(checked) * policy.max_missing_percent / 100),
        route_drops=tuple(drops), route_growth=tuple(growth), new_errors=tuple(errors),
        removed=tuple(removed),
        checked=len(checked),
        details={n: after.by_name[n].info for n in missing})


def wait_for_health(control: Birdc, before: Sessions, policy: HealthPolicy,
                    progress: Callable[[Health], None] | None = None) -> Health:
    """Look at BIRD until the new config is healthy on HEALTHY_LOOKS looks in a row, or
    policy.wait_seconds have passed; the last verdict. Two looks, not one: a session BIRD is
    about to restart may still show Established on the first."""
    started = time.monotonic()
    deadline = started + policy.wait_seconds
    healthy = 0
    while True:
        health = judge(before, read_sessions(control), policy)
        health = dataclasses.replace(health, seconds=time.monotonic() - started)
        if progress is not None:
            progress(health)
        healthy = healthy + 1 if health.ok else 0
        if healthy >= HEALTHY_LOOKS or time.monotonic() >= deadline:
            return health
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
