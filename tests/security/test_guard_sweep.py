"""The shrink guard counts a hostile prefix list in one sweep (item 8 of the snapshot audit).

The attack: a snapshot edit of about 20,000 entries on the same few blocks. The old count kept
every entry in a chain of containing ranges and re-read that whole chain for each entry, so
the work grew with the square of the entries: a 300 KiB edit held the refresh lock for 91 s of
CPU. Entries on one block now merge into one bitmask of lengths, and the chain holds one level
per block, at most 33 (IPv4) or 129 (IPv6) deep. These tests count work, never time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rsgen.guard
from rsgen.guard import admitted_count
from rsgen.plausible import MAX_LIST_ENTRIES
from rsgen.values import PrefixRange


def hostile_same_block(count: int = 20_000) -> list[PrefixRange]:
    """`count` distinct entries on the nested blocks 2400::/12, /13, ... (each block with many
    length ranges): the shape that made the old chain grow with every entry."""
    entries: list[PrefixRange] = []
    for prefixlen in range(12, 129):
        network = ipaddress.IPv6Network((0x24 << 120, prefixlen))
        for ge in range(prefixlen, 129):
            for le in range(ge, 129):
                entries.append(PrefixRange.of(network, ge, le))
                if len(entries) == count:
                    return entries
    return entries


def expected_count(entries: Iterable[PrefixRange]) -> int:
    """For blocks that all start at the same address: each length l is admitted throughout
    the widest block whose ranges include l, so it contributes 2^(l - that block's length)."""
    widest: dict[int, int] = {}
    for entry in entries:
        for length in range(entry.ge, entry.le + 1):
            widest[length] = min(widest.get(length, 129), entry.prefixlen)
    return sum(1 << (length - block) for length, block in widest.items())


def reference_count(ranges: Iterable[PrefixRange]) -> int:
    """The old algorithm, verbatim apart from names: the semantics to keep."""
    ordered = sorted(set(ranges), key=lambda r: (r.version, r.network_int, r.prefixlen,
                                                 r.ge, r.le))
    chain: list[PrefixRange] = []
    total = 0
    for current in ordered:
        while chain and not rsgen.guard._contains(chain[-1], current):
            chain.pop()
        counted = {length for outer in chain for length in range(outer.ge, outer.le + 1)}
        total += sum(1 << (length - current.prefixlen)
                     for length in range(current.ge, current.le + 1) if length not in counted)
        chain.append(current)
    return total


def test_twenty_thousand_same_block_entries_take_linear_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entries = hostile_same_block()
    assert len(set(entries)) == 20_000
    blocks = {(e.network_int, e.prefixlen) for e in entries}
    calls = 0
    original = rsgen.guard._contains

    def counting(outer: PrefixRange, inner: PrefixRange) -> bool:
        nonlocal calls
        calls += 1
        return original(outer, inner)

    monkeypatch.setattr(rsgen.guard, "_contains", counting)
    assert admitted_count(entries) == expected_count(entries)
    # One containment test per block (plus one per pop): the old count made one per entry
    # and then walked the whole chain of up to 20,000 ranges for each.
    assert calls <= 2 * len(blocks)
    assert len(blocks) <= 129


def test_many_disjoint_blocks_also_count_right() -> None:
    entries = [PrefixRange.of(ipaddress.IPv4Network((0x0B000000 + (n << 8), 24)), 24, 24)
               for n in range(5_000)]
    entries += [PrefixRange.parse("11.0.0.0/8{16,16}")]
    assert admitted_count(entries) == 5_000 + 256


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(
    lambda index, length, ge_extra, le_extra: PrefixRange.of(
        ipaddress.IPv4Network((0x0A000000 + ((index % (1 << (length - 8))) << (32 - length)),
                               length)),
        min(32, length + ge_extra), min(32, length + ge_extra + le_extra)),
    st.integers(0, 1 << 20), st.integers(8, 30), st.integers(0, 3), st.integers(0, 3)),
    max_size=40))
def test_the_sweep_keeps_the_old_semantics(entries: list[PrefixRange]) -> None:
    assert admitted_count(entries) == reference_count(entries)


def test_lists_beyond_the_entry_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_LIST_ENTRIES == 2_000_000
    monkeypatch.setattr(rsgen.guard, "MAX_LIST_ENTRIES", 10)
    with pytest.raises(ValueError, match="11 prefix list entries, more than 10"):
        admitted_count(hostile_same_block(11))
    assert admitted_count(hostile_same_block(10)) == expected_count(hostile_same_block(10))
