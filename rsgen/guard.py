"""The shrink guard: a new IRR answer that takes away too much of a member's filter is refused.

An AS-SET that loses a nested set, a route object cleanup gone wrong, or an IRR mirror that is
half synchronised looks like an ordinary answer to bgpq4, and would silently reject most of a
member's routes. So `refresh` compares each member's new expansion with its snapshot and keeps
the old data when a list shrinks by more than `max_shrink` (a share, default one half) or to
nothing, unless the operator accepts it for that member (`--accept-shrink AS...`).

Pure functions over IrrData; no I/O.

How big is a prefix list? bgpq4 -A aggregates, so the number of entries says little: the
route objects 192.0.2.0/23, 192.0.2.0/24 and 192.0.3.0/24 become one entry,
192.0.2.0/23{23,24}, and a new route object elsewhere can split an entry in two. Counting
entries would make an aggregation change look like a shrink (or hide one). The address space
covered is no better: it cannot see 50 more-specifics disappear under an aggregate, yet
those are 50 routes the member can no longer announce. What a member loses is routes, so the
size is the number of distinct prefixes the list admits, exactly what BIRD's `net ~ [list]`
matches: a range P/n{a,b} admits 2^(a-n) + ... + 2^(b-n) prefixes, and a prefix admitted by
two overlapping ranges counts once. bgpq4's aggregation is lossless (without -R it merges only
prefixes that are all registered), so this count equals the number of distinct registered
prefixes within the length limits, whichever way bgpq4 happened to aggregate them. There is
no cap on the count: Python integers do not overflow, a cap would make the same prefixes count
differently depending on how they were grouped, and a loose range that admits many prefixes
(hand-made, or a future -R) does admit them all, so losing it is a real shrink. (What caps
there are, on the number of entries a list may have and on how much one entry may admit, are
in rsgen.plausible; the count itself is one sweep, linear in the entries.)

Origin ASNs are guarded the same way (counted as distinct ASNs): rule 8 rejects a route whose
origin left the expansion, so a collapsing AS-SET hurts through its origins as much as through
its prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from rsgen.model import IrrData
from rsgen.plausible import MAX_LIST_ENTRIES
from rsgen.values import MAX_ASN, PrefixRange

DEFAULT_MAX_SHRINK = 0.5  # a list may lose up to half of what it admitted, not more

ListKind = Literal["ipv4", "ipv6", "origins"]
_WHAT: dict[ListKind, tuple[str, str]] = {  # kind -> (what the list is, what it counts)
    "ipv4": ("IPv4 prefix list", "prefixes"),
    "ipv6": ("IPv6 prefix list", "prefixes"),
    "origins": ("origin ASN list", "ASNs"),
}
_ASN_ITEM_RE = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE)  # fullmatch: no "\n"


@dataclass(frozen=True)
class Shrink:
    """One of a member's lists that the new IRR answer would shrink too much."""

    asn: int
    kind: ListKind
    before: int  # admitted prefixes (or origin ASNs) in the snapshot
    after: int  # ... in the new answer
    share: float  # the part lost, 0 < share <= 1

    def __str__(self) -> str:
        what, unit = _WHAT[self.kind]
        if self.after == 0:
            if self.kind == "origins":
                return f"IRR now returns no origin ASNs (had {self.before})"
            family = "IPv4" if self.kind == "ipv4" else "IPv6"
            # Same words as refresh's older empty-list check, so logs and tests stay readable.
            return f"IRR now returns no {family} prefixes (had {self.before})"
        return (f"{what} would shrink by {self.share:.0%} "
                f"(from {self.before} to {self.after} {unit})")


def check_max_shrink(max_shrink: float) -> float:
    """max_shrink itself, or ValueError when it is not a share between 0 and 1."""
    if not 0.0 <= max_shrink <= 1.0:
        raise ValueError(f"max_shrink must be between 0 and 1, not {max_shrink!r}")
    return max_shrink


def admitted_count(ranges: Iterable[PrefixRange]) -> int:
    """How many distinct prefixes a BIRD prefix set made of these ranges matches.

    >>> admitted_count([PrefixRange.parse("192.0.2.0/23{23,24}")])
    3
    >>> admitted_count(PrefixRange.parse(p) for p in ("192.0.2.0/23", "192.0.2.0/24",
    ...                                               "192.0.3.0/24"))
    3

    One sweep, linear in the entries after sorting (a hostile list of many entries on one
    block must not hold the refresh lock for minutes): ValueError beyond MAX_LIST_ENTRIES.
    """
    distinct = set(ranges)
    if len(distinct) > MAX_LIST_ENTRIES:
        raise ValueError(f"{len(distinct)} prefix list entries, more than {MAX_LIST_ENTRIES}")
    # Entries on the same block merge into one bitmask of the lengths they admit (bit l set:
    # every prefix of length l in the block is admitted).
    blocks: dict[tuple[int, int, int], int] = {}
    for entry in distinct:
        key = (entry.version, entry.network_int, entry.prefixlen)
        lengths = ((1 << (entry.le + 1)) - 1) ^ ((1 << entry.ge) - 1)
        blocks[key] = blocks.get(key, 0) | lengths
    # CIDR blocks are nested or disjoint. Sorted by start, shorter first, every block comes
    # after the blocks that contain it; `chain` holds those, each with the union of the length
    # masks from the outermost block down to it. A prefix of length l inside this block is
    # already counted when a containing block admits length l (it admits every prefix of that
    # length there), so only the other lengths add to the count. Each level of `chain` has a
    # longer prefix than the one before: it is at most 33 (IPv4) or 129 (IPv6) deep.
    chain: list[tuple[PrefixRange, int]] = []
    total = 0
    for (version, network, prefixlen), lengths in sorted(blocks.items()):
        block = PrefixRange(version, network, prefixlen, prefixlen, prefixlen)
        while chain and not _contains(chain[-1][0], block):
            chain.pop()
        counted = chain[-1][1] if chain else 0
        new = lengths & ~counted
        while new:
            low = new & -new
            total += 1 << (low.bit_length() - 1 - prefixlen)
            new ^= low
        chain.append((block, counted | lengths))
    return total


def _contains(outer: PrefixRange, inner: PrefixRange) -> bool:
    """Whether inner's block lies inside outer's block (lengths aside)."""
    if outer.version != inner.version or outer.prefixlen > inner.prefixlen:
        return False
    bits = 32 if outer.version == 4 else 128
    shift = bits - outer.prefixlen
    return outer.network_int >> shift == inner.network_int >> shift


def shrinkage(asn: int, old: IrrData | None, new: IrrData, *,
              max_shrink: float = DEFAULT_MAX_SHRINK) -> list[Shrink]:
    """The lists of a member that `new` would shrink by more than max_shrink, or to empty.

    Empty when there is no old data (a new member) or nothing shrank too much. A list that was
    empty before (a member without IPv6) cannot shrink.
    """
    limit = Fraction(check_max_shrink(max_shrink))
    if old is None:
        return []
    sizes: list[tuple[ListKind, int, int]] = [
        ("ipv4", admitted_count(old.ipv4), admitted_count(new.ipv4)),
        ("ipv6", admitted_count(old.ipv6), admitted_count(new.ipv6)),
        ("origins", len(set(old.origins)), len(set(new.origins))),
    ]
    found = []
    for kind, before, after in sizes:
        if after >= before:
            continue
        lost = Fraction(before - after, before)
        if after == 0 or lost > limit:
            found.append(Shrink(asn, kind, before, after, float(lost)))
    return found


def describe(shrinks: Iterable[Shrink]) -> str:
    """One member's shrinks as one report line (without the ASN, which the report adds)."""
    return "; ".join(str(s) for s in shrinks)


def accept_hint(asns: Iterable[int]) -> str:
    """What to run after checking the shrinks are real, e.g. for a summary line's hint."""
    listed = ",".join(f"AS{a}" for a in sorted(set(asns)))
    return f"if the IRR data really changed, accept it: rsgen refresh --accept-shrink {listed}"


def list_shrinkage(old: int, new: int, max_shrink: float) -> str | None:
    """Why a list of `old` entries must not become one of `new`, or None when it may: it
    would lose more than max_shrink of its entries, or become empty.

    >>> list_shrinkage(10, 4, 0.5)
    'would shrink from 10 to 4 entries (60%, more than 50%)'
    >>> list_shrinkage(10, 6, 0.5) is None, list_shrinkage(0, 0, 0.5) is None
    (True, True)
    """
    if old == 0 or new >= old:
        return None
    lost = (old - new) / old
    if new == 0:
        return f"would become empty (from {old} entries)"
    if lost > max_shrink:
        return (f"would shrink from {old} to {new} entries ({lost:.0%}, more than "
                f"{max_shrink:.0%})")
    return None


def parse_asn_list(text: str) -> frozenset[int]:
    """ASNs from a command-line list: "AS3333,AS10745", "3333 10745"; ValueError otherwise.

    >>> sorted(parse_asn_list("AS3333, as10745"))
    [3333, 10745]
    """
    asns = set()
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        match = _ASN_ITEM_RE.fullmatch(item)
        if not match or not 0 < int(match.group(1)) <= MAX_ASN:
            raise ValueError(f"{item!r} is not an AS number (want AS3333 or 3333)")
        asns.add(int(match.group(1)))
    if not asns:
        raise ValueError("no AS numbers given")
    return frozenset(asns)
