"""The shrink guard (rsgen/guard.py): which new IRR answers refresh must refuse to apply.

The guard counts a prefix list by the distinct prefixes it admits, so bgpq4's aggregation
(-A) never looks like a shrink; the brute-force tests below enumerate admitted prefixes to
check that count, and one test runs the real bgpq4 with and without -A.
"""

from __future__ import annotations

import doctest
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rsgen.guard
from rsgen.guard import (
    DEFAULT_MAX_SHRINK,
    Shrink,
    accept_hint,
    admitted_count,
    check_max_shrink,
    describe,
    parse_asn_list,
    shrinkage,
)
from rsgen.model import IrrData
from rsgen.sources import irr, proc
from rsgen.values import IPNetwork, PrefixRange, parse_as_set
from tests.fixtures.irr_plugin import MakeIrrServer


def ranges(*texts: str) -> tuple[PrefixRange, ...]:
    return tuple(PrefixRange.parse(t) for t in texts)


def irr_data(ipv4: tuple[PrefixRange, ...] = (), ipv6: tuple[PrefixRange, ...] = (),
             origins: tuple[int, ...] = (3333,)) -> IrrData:
    return IrrData((parse_as_set("AS-GOOD"),), tuple(sorted(set(origins))),
                   tuple(sorted(set(ipv4))), tuple(sorted(set(ipv6))))


def brute_force(prefix_ranges: tuple[PrefixRange, ...]) -> int:
    """The admitted prefixes, enumerated one by one (only for small ranges)."""
    admitted: set[IPNetwork] = set()
    for entry in prefix_ranges:
        for length in range(entry.ge, entry.le + 1):
            admitted.update(entry.network.subnets(new_prefix=length))
    return len(admitted)


# Small IPv4 ranges inside 10.0.0.0/24, lengths up to /28: at most a few hundred prefixes
# each, so brute_force stays fast, and overlaps (nested blocks, shared lengths) are common.
@st.composite
def small_ranges(draw: st.DrawFn) -> PrefixRange:
    prefixlen = draw(st.integers(24, 28))
    index = draw(st.integers(0, 2 ** (prefixlen - 24) - 1))
    network = ipaddress.IPv4Network((0x0A000000 + (index << (32 - prefixlen)), prefixlen))
    ge = draw(st.integers(prefixlen, 28))
    le = draw(st.integers(ge, 28))
    return PrefixRange.of(network, ge, le)


range_lists = st.lists(small_ranges(), max_size=8).map(lambda found: tuple(sorted(set(found))))
origin_lists = st.lists(st.integers(1, 4_199_999_999), max_size=6).map(
    lambda found: tuple(sorted(set(found))))
shares = st.floats(0.0, 1.0)


@st.composite
def irr_datas(draw: st.DrawFn) -> IrrData:
    return irr_data(draw(range_lists), (), draw(origin_lists))


# --- counting ---------------------------------------------------------------------------


def test_guard_doctests() -> None:
    """The examples in rsgen/guard.py docstrings hold."""
    result = doctest.testmod(rsgen.guard)
    assert result.attempted >= 3 and result.failed == 0


def test_aggregated_list_counts_as_the_prefixes_it_replaced() -> None:
    """bgpq4 -A turning a /23 and its two /24s into 193.0.10.0/23{23,24} is no shrink."""
    old = irr_data(ranges("193.0.0.0/21", "193.0.10.0/23", "193.0.10.0/24", "193.0.11.0/24"))
    new = irr_data(ranges("193.0.0.0/21", "193.0.10.0/23{23,24}"))
    assert admitted_count(old.ipv4) == admitted_count(new.ipv4) == 4
    assert shrinkage(3333, old, new, max_shrink=0.0) == []  # even the strictest setting


def test_regrouped_ranges_are_no_shrink() -> None:
    """The same /24s aggregated differently (one /22 range or two /23 ranges) count the same."""
    one = irr_data(ranges("192.0.0.0/22{24,24}"))
    two = irr_data(ranges("192.0.0.0/23{24,24}", "192.0.2.0/23{24,24}"))
    assert shrinkage(3333, one, two, max_shrink=0.0) == []
    assert shrinkage(3333, two, one, max_shrink=0.0) == []


def test_overlapping_ranges_count_each_prefix_once() -> None:
    """A prefix admitted by two nested ranges counts once, so an overlap is no hidden growth."""
    assert admitted_count(ranges("10.0.0.0/23{23,24}", "10.0.0.0/24", "10.0.1.0/24")) == 3
    assert admitted_count(ranges("10.0.0.0/22{23,24}", "10.0.0.0/23{24,25}")) == 6 + 4


def test_ipv6_ranges_are_counted_too() -> None:
    """IPv6 ranges count the /48s they admit, like IPv4 ranges."""
    assert admitted_count(ranges("2001:db8::/47{48,48}", "2001:db8:2::/48")) == 3
    assert admitted_count(ranges("2001:db8::/32{32,48}")) == 2 ** 17 - 1


def test_dropping_more_specifics_under_an_aggregate_is_a_shrink() -> None:
    """Losing the /24s under a kept /16 is a shrink, though the address space is the same."""
    old = irr_data(ranges("10.0.0.0/16", "10.0.0.0/22{24,24}"))
    new = irr_data(ranges("10.0.0.0/16"))
    assert [(s.kind, s.before, s.after) for s in shrinkage(3333, old, new)] == [("ipv4", 5, 1)]


@given(range_lists)
def test_admitted_count_matches_enumeration(prefix_ranges: tuple[PrefixRange, ...]) -> None:
    """The counted size of any list is the number of prefixes BIRD's `net ~ list` matches."""
    assert admitted_count(prefix_ranges) == brute_force(prefix_ranges)


def test_real_bgpq4_aggregation_keeps_the_count(make_irr_server: MakeIrrServer) -> None:
    """What bgpq4 -A emits admits exactly as many prefixes as the unaggregated list."""
    routes = ["10.0.0.0/22", "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24",  # 3 of 4 /24s
              "10.1.0.0/23", "10.1.0.0/24", "10.1.1.0/24",  # all of them
              "10.2.0.0/24", "10.2.1.0/24", "10.2.2.0/24", "10.2.3.0/24",  # no covering route
              "10.3.0.0/16", "10.3.0.0/17", "10.3.128.0/17", "10.3.0.0/18",
              "10.4.0.0/25"]  # longer than -m 24: bgpq4 leaves it out
    server = make_irr_server("".join(f"route: {r}\norigin: AS3333\nsource: RIPE\n\n"
                                     for r in routes))
    argv = irr.bgpq4_argv([parse_as_set("AS3333")], query="ipv4", host=server.host,
                          sources=["RIPE"], max_length=24)
    aggregated = irr.parse_prefixes(proc.run(argv, timeout=10).stdout, 4)
    plain = irr.parse_prefixes(proc.run([a for a in argv if a != "-A"], timeout=10).stdout, 4)
    assert len(aggregated) < len(plain) == 15  # bgpq4 did aggregate
    assert admitted_count(aggregated) == admitted_count(plain) == 15


# --- the guard ---------------------------------------------------------------------------


def test_new_member_is_never_refused() -> None:
    """A member without snapshot data (first refresh) gets whatever the IRR says."""
    assert shrinkage(3333, None, irr_data(ranges("192.0.2.0/24"))) == []


def test_share_at_the_limit_passes_and_beyond_it_is_refused() -> None:
    """Losing exactly the allowed share is accepted; losing more is refused."""
    old = irr_data(ranges("10.0.0.0/22{24,24}"))  # four /24s
    half = irr_data(ranges("10.0.0.0/23{24,24}"))
    quarter = irr_data(ranges("10.0.0.0/24"))
    assert shrinkage(3333, old, half, max_shrink=0.5) == []
    assert shrinkage(3333, old, quarter, max_shrink=0.5) == [
        Shrink(3333, "ipv4", 4, 1, 0.75)]
    assert shrinkage(3333, old, quarter, max_shrink=0.75) == []


def test_default_limit_is_half() -> None:
    """Without a setting, a list may lose half of its prefixes but not more."""
    assert DEFAULT_MAX_SHRINK == 0.5
    old = irr_data(ranges("10.0.0.0/22{24,24}"))
    assert shrinkage(3333, old, irr_data(ranges("10.0.0.0/23{24,24}"))) == []
    assert shrinkage(3333, old, irr_data(ranges("10.0.0.0/24"))) != []


def test_collapsing_as_set_is_caught_by_its_origins() -> None:
    """An AS-SET losing most of its origin ASNs is refused even if the prefixes stayed."""
    old = irr_data(ranges("193.0.0.0/21"), origins=(3333, 2121, 10745, 64))
    new = irr_data(ranges("193.0.0.0/21"), origins=(3333,))
    assert shrinkage(3333, old, new) == [Shrink(3333, "origins", 4, 1, 0.75)]


def test_each_family_is_judged_separately() -> None:
    """An IPv6 list emptied is refused even when the IPv4 list grew."""
    old = irr_data(ranges("10.0.0.0/24"), ranges("2001:db8::/48"))
    new = irr_data(ranges("10.0.0.0/24", "10.0.1.0/24"), ())
    assert [s.kind for s in shrinkage(3333, old, new)] == ["ipv6"]


def test_strictest_and_loosest_settings() -> None:
    """max_shrink 0 refuses any shrink; max_shrink 1 refuses only an emptied list."""
    old = irr_data(ranges("10.0.0.0/22{24,24}"))
    one_less = irr_data(ranges("10.0.0.0/23{24,24}", "10.0.2.0/24"))
    assert [s.after for s in shrinkage(3333, old, one_less, max_shrink=0.0)] == [3]
    assert shrinkage(3333, old, irr_data(ranges("10.0.0.0/24")), max_shrink=1.0) == []
    assert [s.after for s in shrinkage(3333, old, irr_data(), max_shrink=1.0)] == [0]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_max_shrink_outside_zero_to_one_is_refused(bad: float) -> None:
    """A share that is not between 0 and 1 is a programming or settings error, said so."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        shrinkage(3333, irr_data(), irr_data(), max_shrink=bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_max_shrink(bad)


@given(irr_datas(), shares)
def test_unchanged_data_never_shrinks(data: IrrData, max_shrink: float) -> None:
    """Refreshing to the very same IRR data is never refused, at any setting."""
    assert shrinkage(3333, data, data, max_shrink=max_shrink) == []


@given(irr_datas(), range_lists, origin_lists, shares)
def test_growth_never_triggers(old: IrrData, more: tuple[PrefixRange, ...],
                               more_origins: tuple[int, ...], max_shrink: float) -> None:
    """A list that only gains prefixes or origins is never refused, at any setting."""
    new = irr_data((*old.ipv4, *more), (), old.origins + more_origins)
    assert shrinkage(3333, old, new, max_shrink=max_shrink) == []


@given(irr_datas(), shares)
def test_emptied_list_always_triggers(old: IrrData, max_shrink: float) -> None:
    """A list that had prefixes (or origins) and now has none is refused at any setting."""
    new = irr_data((), (), ())
    kinds = {s.kind for s in shrinkage(3333, old, new, max_shrink=max_shrink)}
    assert ("ipv4" in kinds) == bool(old.ipv4)
    assert ("origins" in kinds) == bool(old.origins)
    assert "ipv6" not in kinds  # it had none to lose


# --- what the report says ----------------------------------------------------------------


def test_report_wording() -> None:
    """Each refused list says what shrank, by how much, from and to what size."""
    shrinks = [Shrink(3333, "ipv4", 120, 3, 117 / 120), Shrink(3333, "ipv6", 1, 0, 1.0),
               Shrink(3333, "origins", 10, 2, 0.8)]
    assert describe(shrinks) == (
        "IPv4 prefix list would shrink by 98% (from 120 to 3 prefixes); "
        "IRR now returns no IPv6 prefixes (had 1); "
        "origin ASN list would shrink by 80% (from 10 to 2 ASNs)")
    assert str(Shrink(3333, "origins", 3, 0, 1.0)) == "IRR now returns no origin ASNs (had 3)"


def test_accept_hint_names_the_command() -> None:
    """The hint is a command to copy, naming each member once, in ASN order."""
    assert accept_hint([10745, 3333, 10745]) == (
        "if the IRR data really changed, accept it: "
        "rsgen refresh --accept-shrink AS3333,AS10745")


@pytest.mark.parametrize(("text", "expected"), [
    ("AS3333", {3333}), ("as3333,AS10745", {3333, 10745}), ("3333 10745", {3333, 10745}),
    (" AS3333 , AS3333 ", {3333}), ("AS4200000000", {4200000000}),
])
def test_accept_shrink_list_forms(text: str, expected: set[int]) -> None:
    """--accept-shrink takes ASNs with or without "AS", separated by commas or spaces."""
    assert parse_asn_list(text) == expected


@pytest.mark.parametrize("text", ["", " , ", "AS-FOO", "AS0", "AS4294967296", "AS33x", "-1"])
def test_accept_shrink_list_errors(text: str) -> None:
    """Anything but AS numbers is refused with a message, never silently ignored."""
    with pytest.raises(ValueError, match="AS number"):
        parse_asn_list(text)
