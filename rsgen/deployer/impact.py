"""What loading a new config will do to the member sessions, read from the two config texts.

BIRD 2 compares each channel's old and new filter when it reconfigures (filter_same, which
walks the filter's code, including the functions it calls and the constants `define` put into
it): a channel whose filter differs re-runs its import filter over the routes it holds (from
its `import table`, or with a route refresh), and its export filter over the table. A change to
a shared function such as import_checks_v4() therefore reloads every member channel at once,
which is worth scheduling. A protocol whose own block changed may be restarted instead.

This module works the same answer out from the text: top-level definitions (`define`,
`function`, `filter`) and protocol blocks, each with the definitions it names, followed
transitively. It is a text comparison, so comments and blank lines do not count as changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFINITION = re.compile(r"(define|function|filter)\s+([A-Za-z_][A-Za-z0-9_]*)")
_PROTOCOL = re.compile(r"protocol\s+([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z_][A-Za-z0-9_]*)")
_NEIGHBOR = re.compile(r"\bneighbor\s+\S+(?:\s+port\s+[0-9]+)?\s+as\s+([0-9]+)")
# Statements that end with their closing brace rather than a semicolon.
_BLOCKS = frozenset({"function", "filter", "protocol", "template"})


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a BIRD config, comments removed, spaces collapsed."""

    kind: str  # "define", "function", "filter", "protocol" or "other"
    name: str  # the defined name or protocol name; the text itself for "other"
    protocol_type: str  # "bgp", "rpki", ... for protocols; "" otherwise
    text: str


@dataclass(frozen=True)
class Parsed:
    definitions: Mapping[str, Statement]
    protocols: Mapping[str, Statement]


@dataclass(frozen=True)
class ReloadImpact:
    """What a new config changes for the BGP sessions of the old one."""

    changed_shared: tuple[str, ...]  # changed definitions that several members' filters use
    filters_reloaded: tuple[str, ...]  # sessions whose import or export filter changes
    sessions_changed: tuple[str, ...]  # sessions whose own protocol block changes (may restart)
    sessions_added: tuple[str, ...]
    sessions_removed: tuple[str, ...]
    sessions_total: int  # BGP sessions in both configs

    @property
    def shared_policy_changed(self) -> bool:
        """A definition that several sessions' filters use changed (the shared policy
        functions, the bogon lists): BIRD reloads all those channels at once, so the change
        is worth scheduling."""
        return bool(self.changed_shared)

    def summary(self) -> str:
        parts = [f"{len(self.filters_reloaded)} of {self.sessions_total} BGP sessions have "
                 f"their filters reloaded"]
        if self.sessions_changed:
            parts.append(f"{len(self.sessions_changed)} change their session settings "
                         "(BIRD may restart them)")
        if self.sessions_added:
            parts.append(f"{len(self.sessions_added)} are new")
        if self.sessions_removed:
            parts.append(f"{len(self.sessions_removed)} are removed")
        return ", ".join(parts)


# What matters for finding statement ends: strings (whose contents never count), comments
# (dropped), brackets and semicolons. Everything between them is copied in bulk.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|#[^\n]*|/\*.*?(?:\*/|\Z)|[{}\[\]();]', re.DOTALL)


def statements(text: str) -> list[str]:
    """The top-level statements of a config, in order, comments removed, spaces collapsed.

    >>> statements('define A = 1; # one\\nfilter f { if net = 1.2.3.0/24 then accept; }\\n')
    ['define A = 1;', 'filter f { if net = 1.2.3.0/24 then accept; }']
    """
    found: list[str] = []
    pieces: list[str] = []
    depth, copied = 0, 0
    for match in _TOKEN.finditer(text):
        mark = match.group()
        if mark[0] == "#" or mark.startswith("/*"):
            pieces.append(text[copied:match.start()] + " ")
            copied = match.end()
            continue
        if mark[0] == '"':
            continue
        if mark in "{[(":
            depth += 1
            continue
        if mark in "}])":
            depth -= 1
        if depth or mark not in ";}":
            continue
        pieces.append(text[copied:match.end()])
        copied = match.end()
        statement = " ".join("".join(pieces).split())
        first = statement.split(None, 1)[0] if statement else ""
        if mark == ";" or first in _BLOCKS:
            found.append(statement)
            pieces = []
    rest = " ".join(("".join(pieces) + text[copied:]).split())
    if rest:
        found.append(rest)
    return found


def parse(text: str) -> Parsed:
    definitions: dict[str, Statement] = {}
    protocols: dict[str, Statement] = {}
    for statement in statements(text):
        if match := _DEFINITION.match(statement):
            definitions[match[2]] = Statement(match[1], match[2], "", statement)
        elif match := _PROTOCOL.match(statement):
            protocols[match[2]] = Statement("protocol", match[2], match[1], statement)
    return Parsed(definitions, protocols)


def _references(parsed: Parsed) -> dict[str, frozenset[str]]:
    """Each definition and protocol -> the definitions its text names directly."""
    defined = set(parsed.definitions)

    def named(statement: Statement) -> frozenset[str]:
        body = statement.text if statement.kind == "protocol" else \
            statement.text.split(None, 2)[-1]  # without "filter NAME" itself
        return frozenset(set(_WORD.findall(body)) & defined - {statement.name})

    return {**{name: named(s) for name, s in parsed.definitions.items()},
            **{f"protocol {name}": named(s) for name, s in parsed.protocols.items()}}


def _uses(protocol: str, references: dict[str, frozenset[str]]) -> set[str]:
    """The definitions a protocol uses, directly and through other definitions."""
    seen: set[str] = set()
    pending = list(references[f"protocol {protocol}"])
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(references.get(name, ()))
    return seen


def _neighbor_as(protocol: Statement) -> str:
    """The neighbour AS of a BGP protocol ("" when it names none, e.g. in a template)."""
    match = _NEIGHBOR.search(protocol.text)
    return match[1] if match else ""


def _bgp(parsed: Parsed) -> dict[str, Statement]:
    return {name: s for name, s in parsed.protocols.items() if s.protocol_type == "bgp"}


def reload_impact(old_text: str, new_text: str) -> ReloadImpact:
    """Compare two configs: which BGP sessions get their filters reloaded, and which shared
    definitions (used by the sessions of more than one member) changed."""
    old, new = parse(old_text), parse(new_text)
    changed = {name for name in set(old.definitions) | set(new.definitions)
               if (old.definitions.get(name) or _absent).text
               != (new.definitions.get(name) or _absent).text}
    old_bgp, new_bgp = _bgp(old), _bgp(new)
    kept = sorted(set(old_bgp) & set(new_bgp))
    new_references, old_references = _references(new), _references(old)
    new_uses = {name: _uses(name, new_references) for name in kept}
    old_uses = {name: _uses(name, old_references) for name in kept}
    reloaded = [name for name in kept
                if (new_uses[name] | old_uses[name]) & changed]
    # Shared: used by the sessions of more than one member (neighbour AS), as the policy
    # functions and bogon lists are; a member's own prefix list serves its sessions only.
    users: dict[str, set[str]] = {}
    for session, used in new_uses.items():
        for name in used:
            users.setdefault(name, set()).add(_neighbor_as(new_bgp[session]))
    shared = sorted(name for name in changed if len(users.get(name, ())) > 1)
    return ReloadImpact(
        changed_shared=tuple(shared),
        filters_reloaded=tuple(reloaded),
        sessions_changed=tuple(n for n in kept if old_bgp[n].text != new_bgp[n].text),
        sessions_added=tuple(sorted(set(new_bgp) - set(old_bgp))),
        sessions_removed=tuple(sorted(set(old_bgp) - set(new_bgp))),
        sessions_total=len(set(old_bgp) | set(new_bgp)))


_absent = Statement("none", "", "", "")


def names(items: Iterable[str], limit: int = 8) -> str:
    """A short list for a message: the first few names and how many more."""
    listed = list(items)
    shown = ", ".join(listed[:limit])
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")
