"""`rsgen diff` as text for a terminal and as Markdown for a pull-request comment.

Both read a PlanDiff (rsgen.diff) and say the same things: the exchange-wide settings that
change, then each member that is added, removed or changed. Text lines go out through the
CLI's printable boundary; in Markdown every string a member or PeeringDB controls is a code
span (rsgen.markup.md_code), so it cannot become a link, an image, HTML or a mention.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rsgen.diff import AsSet, FamilyDiff, ListChange, MemberDiff, PlanDiff
from rsgen.markup import md_code
from rsgen.plan import Limit

# Members a Markdown comment details: GitHub takes comments of up to 65,536 characters, and a
# change of an exchange-wide limit can touch every member.
MARKDOWN_MEMBERS = 100


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _list(change: ListChange, noun: str, quote: Callable[[str], str]) -> str:
    """"IPv4 prefixes: 3 -> 4 (+1: a; -0)", naming the first few of each side."""
    text = f"{noun}: {change.before} -> {change.after}"
    parts = []
    for sign, items, count in (("+", change.added, change.added_count),
                               ("-", change.removed, change.removed_count)):
        if count:
            more = f" and {count - len(items)} more" if count > len(items) else ""
            parts.append(f"{sign}{count}: {', '.join(quote(i) for i in items)}{more}")
    return text + (f" ({'; '.join(parts)})" if parts else "")


def _limit(limit: Limit | None, quote: Callable[[str], str]) -> str:
    return "(none)" if limit is None else f"{limit.value} ({quote(limit.source)})"


def _as_set(as_set: AsSet | None, quote: Callable[[str], str]) -> str:
    if as_set is None:
        return "(none)"
    text = f"{' '.join(quote(o) for o in as_set.objects)} (from {as_set.source})"
    return text + (f", warning: {quote(as_set.warning)}" if as_set.warning else "")


def _member_lines(member: MemberDiff, quote: Callable[[str], str]) -> list[str]:
    """What changes for one member, one fact a line (all its facts when added or removed)."""
    whole = member.status != "changed"
    lines = []
    if member.name[0] != member.name[1] and not whole:
        lines.append(f"name: {quote(member.name[0] or '')} -> {quote(member.name[1] or '')}")
    lines += [f"session added: {quote(s)}" for s in member.sessions_added]
    lines += [f"session removed: {quote(s)}" for s in member.sessions_removed]
    lines += [f"{quote(c.setting)}: {quote(_value(c.before))} -> {quote(_value(c.after))}"
              for c in member.session_changes]
    if whole or member.as_set[0] != member.as_set[1]:
        old, new = member.as_set
        lines.append(f"AS-SET: {_as_set(new if old is None else old, quote)}" if whole else
                     f"AS-SET: {_as_set(old, quote)} -> {_as_set(new, quote)}")
    if whole or member.origins.changed:
        lines.append(_list(member.origins, "origin ASNs", quote))
    for family in member.families:
        lines += _family_lines(family, whole, quote)
    for c in member.settings:
        value = c.after if c.before is None else c.before
        if not whole:
            lines.append(f"{c.setting}: {quote(_value(c.before))} -> {quote(_value(c.after))}")
        elif value is not None:  # an added or removed member's own settings, as they are
            lines.append(f"{c.setting}: {quote(_value(value))}")
    return lines


def _family_lines(family: FamilyDiff, whole: bool,
                  quote: Callable[[str], str]) -> list[str]:
    ip = f"IPv{family.version}"
    lines = []
    if whole or family.prefixes.changed:
        lines.append(_list(family.prefixes, f"{ip} prefixes", quote))
    for noun, (old, new) in (("import limit (max-prefix)", family.import_limit),
                             ("receive limit", family.receive_limit)):
        if whole:
            lines.append(f"{ip} {noun}: {_limit(new if old is None else old, quote)}")
        elif old != new:
            lines.append(f"{ip} {noun}: {_limit(old, quote)} -> {_limit(new, quote)}")
    if not whole:
        lines += [f"{ip} {c.setting}: {quote(_value(c.before))} -> {quote(_value(c.after))}"
                  for c in family.changes]
    return lines


def _summary(diff: PlanDiff) -> str:
    if not diff.changed:
        return (f"no change: the route servers treat all {diff.members_after} members as "
                f"before")
    later = f", {len(diff.not_compared)} not compared yet" if diff.not_compared else ""
    return (f"{diff.count('added')} member(s) added, {diff.count('removed')} removed, "
            f"{diff.count('changed')} changed{later}; {len(diff.exchange)} exchange "
            f"setting(s) changed")


def _exchange_lines(diff: PlanDiff, quote: Callable[[str], str]) -> list[str]:
    lines = [f"{quote(c.setting)}: {quote(_value(c.before))} -> {quote(_value(c.after))}"
             for c in diff.exchange]
    if diff.never_via.changed:
        lines.append(_list(diff.never_via, "never-via-route-servers networks", quote))
    return lines


def _not_compared_lines(diff: PlanDiff, quote: Callable[[str], str]) -> list[str]:
    return [f"AS{p.asn}: not compared, the {p.side}'s snapshot is behind its member file "
            f"({quote(p.why)}): rsgen refresh --members AS{p.asn}, then commit the snapshot"
            for p in diff.not_compared]


def _plain(text: str) -> str:
    return text


def diff_text(diff: PlanDiff) -> str:
    """The diff for a terminal (the CLI prints it through rsgen.values.printable)."""
    lines = [f"rsgen diff: {diff.base} -> {diff.head}"]
    exchange = _exchange_lines(diff, _plain)
    if exchange:
        lines.append("exchange:")
        lines += [f"  {line}" for line in exchange]
    for member in diff.members:
        lines.append(f"{member.label}: {member.status}")
        lines += [f"  {line}" for line in _member_lines(member, _plain)]
    lines += _not_compared_lines(diff, _plain)
    lines.append(_summary(diff))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return md_code(text, table=True)


def diff_markdown(diff: PlanDiff) -> str:
    """The diff as a pull-request comment: a summary table, then one section per member."""
    lines = ["### Route servers: what this change does", "",
             f"Base {md_code(diff.base)}, head {md_code(diff.head)}: **{_summary(diff)}**."]
    exchange = _exchange_lines(diff, _md)
    if exchange:
        lines += ["", "#### Exchange settings", ""] + [f"- {line}" for line in exchange]
    shown = diff.members[:MARKDOWN_MEMBERS]
    if diff.members:
        lines += ["", "| member | name | change | IPv4 prefixes | IPv6 prefixes | origins |",
                  "|---|---|---|---|---|---|"]
        for member in shown:
            counts = {f.version: f"{f.prefixes.before} → {f.prefixes.after}"
                      for f in member.families}  # a family left out did not change
            lines.append(f"| AS{member.asn} | {_md(member.name[1] or member.name[0] or '')} "
                         f"| {member.status} | {counts.get(4, 'unchanged')} "
                         f"| {counts.get(6, 'unchanged')} "
                         f"| {member.origins.before} → {member.origins.after} |")
        if len(diff.members) > len(shown):
            lines += ["", f"And {len(diff.members) - len(shown)} more member(s), left out to "
                      "keep this comment within a pull request's limits: `rsgen diff` lists "
                      "them all."]
        for member in shown:
            name = md_code(member.name[1] or member.name[0] or "")
            lines += ["", f"#### AS{member.asn} {name}"
                      f" ({member.status})", ""]
            lines += [f"- {line}" for line in _member_lines(member, _md)]
    if diff.not_compared:
        lines += ["", "#### Not compared yet", ""]
        lines += [f"- {line}" for line in _not_compared_lines(diff, _md)]
    lines += ["", "<sub>rsgen diff: from the plans the configs are built from.</sub>"]
    return "\n".join(lines) + "\n"
