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


def _strip_comments(text: str) -> str:
    """The config without `#` and `/* */` comments; strings are kept as they are."""
    out: list[str] = []
    i, length = 0, len(text)
    while i < length:
        char = text[i]
        if char == '"':
            end = text.find('"', i + 1)
            end = length - 1 if end < 0 else end
            out.append(text[i:end + 1])
            i = end + 1
        elif char == "#":
            end = text.find("\n", i)
            i = length if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = length if end < 0 else end + 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def statements(text: str) -> list[str]:
    """The top-level statements of a config, in order, comments removed, spaces collapsed.

    >>> statements('define A = 1; # one\\nfilter f { if net = 1.2.3.0/24 then accept; }\\n')
    ['define A = 1;', 'filter f { if net = 1.2.3.0/24 then accept; }']
    """
    found: list[str] = []
    current: list[str] = []
    depth = 0
    in_string = False
    for char in _strip_comments(text):
        current.append(char)
        if in_string:
            in_string = char != '"'
            continue
        if char == '"':
            in_string = True
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        if depth:
            continue
        words = "".join(current).split(None, 1)
        first = words[0] if words else ""
        if char == ";" or (char == "}" and first in _BLOCKS):
            found.append(" ".join("".join(current).split()))
            current = []
    rest = " ".join("".join(current).split())
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


def _uses(statement: Statement, definitions: Mapping[str, Statement]) -> set[str]:
    """The definitions a statement names, directly and through other definitions."""
    seen: set[str] = set()
    pending = [statement]
    while pending:
        current = pending.pop()
        body = current.text.split(None, 2)[-1] if current.kind != "protocol" else current.text
        for word in _WORD.findall(body):
            if word in definitions and word not in seen and word != current.name:
                seen.add(word)
                pending.append(definitions[word])
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
    new_uses = {name: _uses(new_bgp[name], new.definitions) for name in kept}
    old_uses = {name: _uses(old_bgp[name], old.definitions) for name in kept}
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
