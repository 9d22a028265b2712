"""Plausibility bounds for IRR data: what no honest bgpq4 answer (or snapshot file) contains.

The snapshot is committed, so a pull request can edit it by hand: `0.0.0.0/0{8,24}` and a
foreign origin ASN pass JSON validation, BIRD's parser and `rsgen verify` alike, and would
open a member's filter to the whole Internet. Build therefore refuses snapshot data outside
these bounds (rsgen.snapshot, exit code 6), and refresh, which must never write what build
refuses, drops the few odd entries real IRRs hold and fails a member whose answer is
implausible as a whole (rsgen.refresher).

Pure functions; no I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rsgen.model import IrrData, PolicySettings
from rsgen.values import BOGON_ASN_RANGES, MAX_ASN, PrefixList, PrefixRange, bogon_asn_reason

# bgpq4 -A without -R only merges prefixes that are all registered: an entry P/n{a,b} stands
# for route objects of every length a..b inside P. So the widest plausible single entry is
# about a /8 split into /24s, `/8{24,24}`: 65,536 route objects. An entry admitting more is
# made by hand (or by an aggregation rsgen does not ask for), never by refresh.
MAX_ENTRY_PREFIXES = 2**16
# Far beyond the largest real AS-SET expansions (a few tens of thousands of ASNs).
MAX_ORIGINS = 100_000
# Per prefix list (IPv4 or IPv6) of one member; the biggest transit AS-SETs stay well below.
MAX_LIST_ENTRIES = 2_000_000


def entry_prefixes(entry: PrefixRange) -> int:
    """How many prefixes one entry admits: 2^(ge-n) + ... + 2^(le-n).

    >>> entry_prefixes(PrefixRange.parse("10.0.0.0/8{24,24}"))
    65536
    >>> entry_prefixes(PrefixRange.parse("192.0.2.0/23{23,24}"))
    3
    """
    return (1 << (entry.le - entry.prefixlen + 1)) - (1 << (entry.ge - entry.prefixlen))


def entry_problem(entry: PrefixRange, bounds: PolicySettings | None) -> str | None:
    """Why this prefix-list entry is implausible, or None; `bounds` gives the policy's prefix
    lengths (None: only the size bounds apply).

    >>> entry_problem(PrefixRange.parse("0.0.0.0/0{8,24}"), PolicySettings())
    'prefix length 0 is shorter than policy.ipv4_min_length 8'
    >>> entry_problem(PrefixRange.parse("10.0.0.0/8{23,24}"), None)
    'admits 98304 prefixes, more than the 65536 one entry can stand for'
    """
    family = "ipv4" if entry.version == 4 else "ipv6"
    if bounds is not None:
        low, high = bounds.min_length(entry.version), bounds.max_length(entry.version)
        if entry.prefixlen < low:
            return (f"prefix length {entry.prefixlen} is shorter than "
                    f"policy.{family}_min_length {low}")
        if entry.le > high:
            return f"length {entry.le} is longer than policy.{family}_max_length {high}"
    admitted = entry_prefixes(entry)
    if admitted > MAX_ENTRY_PREFIXES:
        return (f"admits {admitted} prefixes, more than the {MAX_ENTRY_PREFIXES} one entry can "
                "stand for")
    return None


def origin_problem(asn: int) -> str | None:
    """Why this origin ASN cannot be in an IRR expansion, or None.

    >>> origin_problem(64512)
    'AS64512 is not a public ASN (private use (RFC 6996))'
    """
    if not 0 < asn <= MAX_ASN:
        return f"{asn} is not an ASN"
    why = bogon_asn_reason(asn)
    return None if why is None else f"AS{asn} is not a public ASN ({why})"


def list_problems(data: IrrData) -> list[str]:
    """Implausible sizes of a whole answer (too many origins or entries)."""
    found = []
    if len(data.origins) > MAX_ORIGINS:
        found.append(f"{len(data.origins)} origin ASNs, more than {MAX_ORIGINS}")
    for family, entries in (("ipv4", data.ipv4), ("ipv6", data.ipv6)):
        if len(entries) > MAX_LIST_ENTRIES:
            found.append(f"{len(entries)} {family} entries, more than {MAX_LIST_ENTRIES}")
    return found


def first_problem(data: IrrData, bounds: PolicySettings | None) -> str | None:
    """The first reason (in file order: origins, ipv4, ipv6) this data is implausible."""
    sizes = list_problems(data)
    if sizes:
        return sizes[0]
    asn = _first_implausible_origin(data.origins)
    if asn is not None:
        return f"origin {asn}: {origin_problem(asn)}"
    for family, entries in (("ipv4", data.ipv4), ("ipv6", data.ipv6)):
        if not _may_hold_problem(entries, bounds):
            continue  # the whole list is within bounds: no entry to look at
        for entry in entries:
            why = entry_problem(entry, bounds)
            if why:
                return f"{family} entry {entry.bird()}: {why}"
    return None


def _first_implausible_origin(origins: Sequence[int]) -> int | None:
    """The first origin that origin_problem refuses, or None. Sorted origins (the snapshot's
    are) need one binary search per bogon range, not a test of each of tens of thousands."""
    if list(origins) != sorted(origins):
        return next((asn for asn in origins if origin_problem(asn)), None)
    if not origins:
        return None
    # The first refused in sorted order is the smallest: below 1, in a range, or above MAX_ASN.
    candidates = [origins[0]] if origins[0] < 1 else []
    for low, high, _why in BOGON_ASN_RANGES:
        at = bisect_left(origins, low)
        if at < len(origins) and origins[at] <= high:
            candidates.append(origins[at])
    above = bisect_right(origins, MAX_ASN)
    if above < len(origins):
        candidates.append(origins[above])
    return min(candidates, default=None)


def _may_hold_problem(entries: PrefixList, bounds: PolicySettings | None) -> bool:
    """Whether any entry can be implausible, from the list's length summary alone (a list
    read from the snapshot has it without making its entries)."""
    lengths, version = entries.lengths(), entries.version
    if lengths is None or version is None:
        return False
    if not entries.all_of_version(version):
        return True  # bounds differ by family: look at each entry
    if bounds is not None and (lengths.shortest < bounds.min_length(version)
                               or lengths.longest > bounds.max_length(version)):
        return True
    return lengths.widest > MAX_ENTRY_PREFIXES


@dataclass(frozen=True)
class Screened:
    """A fresh IRR answer with the implausible entries taken out."""

    data: IrrData
    dropped: tuple[str, ...]  # one "entry: why" per dropped entry or origin
    failure: str | None  # set when the answer as a whole is implausible (keep the old data)


def screen(data: IrrData, bounds: PolicySettings) -> Screened:
    """Drop what build would refuse from a fresh bgpq4 answer.

    bgpq4 does not filter route objects shorter than the minimum length, and real IRRs hold
    such oddities (and private origin ASNs): those entries are dropped and reported, so the
    member's filter stays as narrow as the policy allows. An answer too big to be real fails.
    """
    sizes = list_problems(data)
    if sizes:
        return Screened(data, (), "implausible IRR answer: " + "; ".join(sizes))
    dropped: list[str] = []
    origins = _keep(data.origins, origin_problem, lambda asn: f"origin AS{asn}", dropped)
    private = list(dropped)
    ipv4 = _keep(data.ipv4, lambda e: entry_problem(e, bounds), PrefixRange.bird, dropped)
    ipv6 = _keep(data.ipv6, lambda e: entry_problem(e, bounds), PrefixRange.bird, dropped)
    screened = IrrData(data.objects, tuple(origins), PrefixList(ipv4), PrefixList(ipv6))
    if data.origins and not origins:  # as bgpq4 answering no origins at all: a failure
        return Screened(screened, tuple(dropped),
                        "IRR returns no public origin ASNs: " + ", ".join(private[:5]))
    return Screened(screened, tuple(dropped), None)


_T = TypeVar("_T")


def _keep(items: Iterable[_T], problem: Callable[[_T], str | None], name: Callable[[_T], str],
          dropped: list[str]) -> list[_T]:
    kept: list[_T] = []
    for item in items:
        why = problem(item)
        if why is None:
            kept.append(item)
        else:
            dropped.append(f"{name(item)} ({why})")
    return kept
