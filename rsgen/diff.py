"""`rsgen diff`: what a change does to the route servers, from two plans (base and head).

Both sides are plans (rsgen.plan) made as a build makes them; nothing here decides policy
again. A member's routing facts (AS-SET, origins, prefix lists, limits and where they came
from, checks, its own settings) are the same on every route server it has sessions with, so
they are compared once per member; sessions are compared per route server.

`diff_as_json` is the machine-readable form (stable, sorted keys); the text and Markdown forms
(rsgen.diffformat) read the same PlanDiff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rsgen.plan import ExchangePlan, FamilyPlan, Limit, MemberPlan, plan_json
from rsgen.review import MemberView, member_views

SAMPLE = 5  # prefixes and ASNs shown of a list that changed ("the first few")
DIFF_FORMAT = 1  # the JSON's own version: bump on a change that breaks a consumer


@dataclass(frozen=True)
class Change:
    """One setting, before and after (JSON-ready values; None: not there)."""

    setting: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ListChange:
    """A list (prefixes, origin ASNs) before and after: counts, and the first few of what
    was added and removed, in list order."""

    before: int
    after: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    added_count: int
    removed_count: int

    @property
    def changed(self) -> bool:
        return bool(self.added_count or self.removed_count)


@dataclass(frozen=True)
class FamilyDiff:
    """One member's IPv4 or IPv6 routes: prefix list, limits, checks (None: no sessions of
    this family on that side)."""

    version: int
    prefixes: ListChange
    import_limit: tuple[Limit | None, Limit | None]
    receive_limit: tuple[Limit | None, Limit | None]
    changes: tuple[Change, ...]  # next hops, blackhole set

    @property
    def changed(self) -> bool:
        return self.prefixes.changed or self.import_limit[0] != self.import_limit[1] or \
            self.receive_limit[0] != self.receive_limit[1] or bool(self.changes)


@dataclass(frozen=True)
class AsSet:
    objects: tuple[str, ...]
    source: str  # "member file", "PeeringDB" or "ASN only"
    warning: str


@dataclass(frozen=True)
class MemberDiff:
    asn: int
    status: str  # "added", "removed" or "changed"
    name: tuple[str | None, str | None]
    sessions_added: tuple[str, ...]  # "rs1 192.0.2.10"
    sessions_removed: tuple[str, ...]
    session_changes: tuple[Change, ...]  # setting "rs1 192.0.2.10 description"
    as_set: tuple[AsSet | None, AsSet | None]
    origins: ListChange
    families: tuple[FamilyDiff, ...]
    settings: tuple[Change, ...]  # the member's own policy switches

    @property
    def label(self) -> str:
        return f"AS{self.asn} {self.name[1] if self.name[1] is not None else self.name[0]}"


@dataclass(frozen=True)
class NotCompared:
    asn: int
    side: str  # "base" or "head"
    why: str


@dataclass(frozen=True)
class PlanDiff:
    base: str
    head: str
    exchange: tuple[Change, ...]  # exchange-wide settings and route servers
    never_via: ListChange  # PeeringDB's never-via-route-servers networks
    members: tuple[MemberDiff, ...]  # by ASN; unchanged members left out
    members_before: int
    members_after: int
    # Members not compared: a side's snapshot is behind their member file (rsgen.review).
    not_compared: tuple[NotCompared, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.exchange or self.never_via.changed or self.members or
                    self.not_compared)

    def count(self, status: str) -> int:
        return sum(m.status == status for m in self.members)


def list_change(before: Iterable[Any], after: Iterable[Any]) -> ListChange:
    """Counts and the first few added and removed items (as text), in list order."""
    old = [str(x) for x in before]
    new = [str(x) for x in after]
    old_set, new_set = set(old), set(new)
    added = [x for x in new if x not in old_set]
    removed = [x for x in old if x not in new_set]
    return ListChange(len(old), len(new), tuple(added[:SAMPLE]), tuple(removed[:SAMPLE]),
                      len(added), len(removed))


def diff_plans(base: ExchangePlan, head: ExchangePlan, *, base_label: str = "base",
               head_label: str = "head", base_behind: Mapping[int, str] | None = None,
               head_behind: Mapping[int, str] | None = None) -> PlanDiff:
    """What changes between two plans of one exchange. A member a side's snapshot is behind
    for (ReviewedPlan.behind: no data yet, or for other IRR objects) is not compared; it is
    listed in not_compared instead."""
    not_compared = tuple(NotCompared(asn, side, why) for side, gaps in (
        ("base", base_behind or {}), ("head", head_behind or {}))
        for asn, why in sorted(gaps.items()))
    skip = {n.asn for n in not_compared}
    before, after = member_views(base), member_views(head)
    members = tuple(m for m in (_member_diff(asn, before.get(asn), after.get(asn))
                                for asn in sorted((set(before) | set(after)) - skip))
                    if m is not None)
    return PlanDiff(base_label, head_label, _changes("", _exchange_view(base),
                                                     _exchange_view(head)),
                    list_change(base.never_via_route_servers, head.never_via_route_servers),
                    members, len(before) + len(base_behind or {}),
                    len(after) + len(head_behind or {}), not_compared)


# --- what is compared ---


def _exchange_view(exchange_plan: ExchangePlan) -> dict[str, Any]:
    """The exchange-wide settings a change can touch, as JSON-ready values; the version of
    rsgen and the members (compared on their own) are left out."""
    servers = {}
    for server in exchange_plan.route_servers:
        data = plan_json(dataclasses.replace(server, members=()))
        data.pop("members")  # compared on their own
        # Prefix lengths are the policy's (compared there); checks by rule and code.
        data["families"] = {f"ipv{f['version']}": {
            **{k: v for k, v in f.items() if k not in ("min_length", "max_length")},
            "checks": [f"{c['rule']} ({c['code']})" for c in f["checks"]]}
            for f in data["families"]}
        servers[server.name] = data
    return {"exchange": exchange_plan.exchange, "example_data": exchange_plan.example_data,
            "peering_lan": plan_json(exchange_plan.peering_lan),
            "policy": plan_json(exchange_plan.policy), "rpki": plan_json(exchange_plan.rpki),
            "blackhole": plan_json(exchange_plan.blackhole), "route_servers": servers}


def _changes(prefix: str, before: Any, after: Any) -> tuple[Change, ...]:
    """Flattened differences of two JSON-ready values: dotted keys for objects, whole
    values for lists and scalars; an object that appears or goes is one change."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Change] = []
        for key in sorted(set(before) | set(after)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key in before and key in after:
                out.extend(_changes(name, before[key], after[key]))
            elif before.get(key) != after.get(key):
                out.append(Change(name, before.get(key), after.get(key)))
        return tuple(out)
    return () if before == after else (Change(prefix, before, after),)


def _limit(family: FamilyPlan | None, which: str) -> Limit | None:
    if family is None:
        return None
    limit: Limit = getattr(family, which)
    return limit


def _family_facts(family: FamilyPlan | None) -> dict[str, Any]:
    """A family's facts beside its prefixes and limits. Its checks and limit action are the
    exchange's (the route servers' checks, policy.max_prefix_action), compared there once
    rather than again for every member."""
    if family is None:
        return {}
    return {"next hops": [str(a) for a in family.next_hops],
            "blackhole prefixes": len(family.blackhole_prefixes)
            if family.blackhole_prefix_set else None}


def _family_diff(version: int, old: FamilyPlan | None, new: FamilyPlan | None) -> FamilyDiff:
    return FamilyDiff(
        version,
        list_change(old.prefixes.texts() if old else (), new.prefixes.texts() if new else ()),
        (_limit(old, "import_limit"), _limit(new, "import_limit")),
        (_limit(old, "receive_limit"), _limit(new, "receive_limit")),
        _changes("", _family_facts(old), _family_facts(new)))


def _as_set(member: MemberPlan | None) -> AsSet | None:
    if member is None:
        return None
    return AsSet(tuple(str(s) for s in member.as_sets), member.as_set_source,
                 member.as_set_warning)


def _settings(member: MemberPlan | None) -> dict[str, Any]:
    if member is None:
        return {}
    return {"pending": member.pending or None,  # the IRR expands its objects to nothing
            "irr.more_specifics": member.irr_more_specifics,
            "irr.mode": "tag" if member.irr_tag else "reject",
            "blackhole.receive": member.receives_blackholes, "add_path": member.add_path}


def _member_diff(asn: int, old: MemberView | None, new: MemberView | None,
                 ) -> MemberDiff | None:
    status = "added" if old is None else "removed" if new is None else "changed"
    old_plan = old.plan if old else None
    new_plan = new.plan if new else None
    old_sessions = old.sessions if old else {}
    new_sessions = new.sessions if new else {}
    session_changes = tuple(
        Change(f"{key} {c.setting}", c.before, c.after)
        for key in sorted(set(old_sessions) & set(new_sessions))
        for c in _changes("", dict(old_sessions[key]), dict(new_sessions[key])))
    versions = sorted(set(old.families if old else ()) | set(new.families if new else ()))
    families = tuple(_family_diff(v, old.families.get(v) if old else None,
                                  new.families.get(v) if new else None) for v in versions)
    diff = MemberDiff(
        asn, status, (old_plan.name if old_plan else None, new_plan.name if new_plan else None),
        tuple(k for k in new_sessions if k not in old_sessions),
        tuple(k for k in old_sessions if k not in new_sessions), session_changes,
        (_as_set(old_plan), _as_set(new_plan)),
        list_change(old_plan.origins if old_plan else (), new_plan.origins if new_plan else ()),
        tuple(f for f in families if f.changed or status != "changed"),
        _changes("", _settings(old_plan), _settings(new_plan)))
    unchanged = status == "changed" and diff.name[0] == diff.name[1] and not (
        diff.sessions_added or diff.sessions_removed or diff.session_changes or
        diff.as_set[0] != diff.as_set[1] or diff.origins.changed or diff.families or
        diff.settings)
    return None if unchanged else diff


# --- JSON ---


def diff_as_json(diff: PlanDiff) -> dict[str, Any]:
    """The diff as JSON-ready data with stable keys (print with sort_keys=True)."""
    return {
        "format": DIFF_FORMAT,
        "base": diff.base,
        "head": diff.head,
        "changed": diff.changed,
        "summary": {"members_before": diff.members_before, "members_after": diff.members_after,
                    "members_added": diff.count("added"),
                    "members_removed": diff.count("removed"),
                    "members_changed": diff.count("changed"),
                    "members_not_compared": len(diff.not_compared),
                    "exchange_settings_changed": len(diff.exchange)},
        "exchange": [_change_json(c) for c in diff.exchange],
        "never_via_route_servers": _list_json(diff.never_via),
        "members": [_member_json(m) for m in diff.members],
        "not_compared": [{"asn": n.asn, "side": n.side, "why": n.why}
                         for n in diff.not_compared],
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {"setting": change.setting, "before": change.before, "after": change.after}


def _list_json(change: ListChange) -> dict[str, Any]:
    return {"before": change.before, "after": change.after, "added": list(change.added),
            "removed": list(change.removed), "added_count": change.added_count,
            "removed_count": change.removed_count}


def _pair_json(pair: tuple[Any, Any]) -> dict[str, Any]:
    return {"before": plan_json(pair[0]), "after": plan_json(pair[1])}


def _member_json(member: MemberDiff) -> dict[str, Any]:
    return {
        "asn": member.asn,
        "status": member.status,
        "name": _pair_json(member.name),
        "sessions": {"added": list(member.sessions_added),
                     "removed": list(member.sessions_removed),
                     "changed": [_change_json(c) for c in member.session_changes]},
        "as_set": _pair_json(member.as_set),
        "origins": _list_json(member.origins),
        "families": {f"ipv{f.version}": {
            "prefixes": _list_json(f.prefixes), "import_limit": _pair_json(f.import_limit),
            "receive_limit": _pair_json(f.receive_limit),
            "changes": [_change_json(c) for c in f.changes]} for f in member.families},
        "settings": [_change_json(c) for c in member.settings],
    }
