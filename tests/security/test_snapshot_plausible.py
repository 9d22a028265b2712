"""Hand-edited snapshot data outside what any IRR answer holds is refused (item 3, bounds).

The attack: a pull request edits snapshot/irr/AS17557.json to `0.0.0.0/0{8,24}` plus foreign
origins. It passed build, `bird -p` and verify. Now build refuses, when it reads the snapshot,
any range shorter than the policy's minimum length or longer than its maximum, any entry that
admits more than 2**16 prefixes, non-public origin ASNs, and lists too long to be real; and
refresh drops (or fails on) what build would refuse, so it never writes such data itself.
"""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rsgen.plausible
import rsgen.snapshot
import rsgen.values
from rsgen.builder import build
from rsgen.errors import ExitCode, NoSnapshot
from rsgen.model import IrrData, PolicySettings
from rsgen.plausible import (
    MAX_ENTRY_PREFIXES,
    MAX_LIST_ENTRIES,
    MAX_ORIGINS,
    entry_prefixes,
    screen,
)
from rsgen.snapshot import read_snapshot
from rsgen.values import MAX_ASN, PrefixRange, parse_as_set
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.security.snapshot_world import (
    RPSL,
    edit_irr,
    make_exchange,
    read_json,
    rsgen_cli,
    start_sources,
    unvouched_example,
)


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return unvouched_example(tmp_path / "ix")


def test_the_reported_edit_is_refused_with_file_and_entry(exchange: Path) -> None:
    """0.0.0.0/0{8,24} plus foreign origins: exit 6 naming file and entry; nothing written."""
    path = edit_irr(exchange, ipv4=["0.0.0.0/0{8,24}"], origins=[17557, 3356, 174])
    result = rsgen_cli("build", "-C", str(exchange), "--offline")
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert (f"{path}: implausible IRR data: ipv4 entry 0.0.0.0/0{{8,24}}: prefix length 0 is "
            "shorter than policy.ipv4_min_length 8") in result.stderr
    assert not (exchange / "out").exists()


@pytest.mark.parametrize(("changes", "why"), [
    ({"ipv4": ["0.0.0.0/0{8,24}"]}, "ipv4 entry 0.0.0.0/0{8,24}: prefix length 0 is shorter"),
    ({"ipv4": ["4.0.0.0/6"]}, "ipv4 entry 4.0.0.0/6: prefix length 6 is shorter than "
                              "policy.ipv4_min_length 8"),
    ({"ipv4": ["39.32.0.0/11{11,25}"]}, "length 25 is longer than policy.ipv4_max_length 24"),
    ({"ipv4": ["39.0.0.0/8{23,24}"]}, "admits 98304 prefixes, more than the 65536"),
    ({"ipv6": ["2000::/3{12,48}"]}, "prefix length 3 is shorter than policy.ipv6_min_length"),
    ({"ipv6": ["2400::/12{12,48}"]}, "ipv6 entry 2400::/12{12,48}: admits"),
    ({"ipv6": ["2400:fc00::/32{32,49}"]}, "length 49 is longer than policy.ipv6_max_length 48"),
    ({"origins": [17557, 64512]}, "origin 64512: AS64512 is not a public ASN (private use"),
    ({"origins": [17557, 23456]}, "AS23456 is not a public ASN (AS_TRANS"),
    ({"origins": [4200000001]}, "AS4200000001 is not a public ASN"),
])
def test_implausible_entries_are_refused_when_the_snapshot_is_read_for_build(
        exchange: Path, tmp_path: Path, changes: dict[str, Any], why: str) -> None:
    path = edit_irr(exchange, **changes)
    with pytest.raises(NoSnapshot) as caught:
        build(exchange, tmp_path / "out", offline=True)
    assert caught.value.message.startswith(f"{path}: implausible IRR data: ")
    assert why in caught.value.message
    assert caught.value.hint and "restore the file from git" in caught.value.hint
    assert not (tmp_path / "out").exists()


def test_length_bounds_follow_the_exchange_policy(exchange: Path, tmp_path: Path) -> None:
    """An exchange accepting /25s accepts them in the snapshot too; /7 stays refused at 8."""
    exchange_yml = exchange / "exchange.yml"
    text = exchange_yml.read_text()
    assert "  ipv4_max_length: 24\n" in text
    exchange_yml.write_text(text.replace("  ipv4_max_length: 24\n", "  ipv4_max_length: 25\n"))
    edit_irr(exchange, ipv4=["39.32.0.0/11{11,25}"])
    assert build(exchange, tmp_path / "out", offline=True).written
    edit_irr(exchange, ipv4=["38.0.0.0/7"])
    with pytest.raises(NoSnapshot, match="prefix length 7 is shorter"):
        build(exchange, tmp_path / "out", offline=True)


def test_the_widest_plausible_entry_is_accepted(exchange: Path, tmp_path: Path) -> None:
    """/8{24,24}: 65,536 route objects, what bgpq4 -A can still honestly produce."""
    assert MAX_ENTRY_PREFIXES == 2**16
    assert entry_prefixes(PrefixRange.parse("39.0.0.0/8{24,24}")) == MAX_ENTRY_PREFIXES
    edit_irr(exchange, ipv4=["39.0.0.0/8{24,24}"])
    assert 17557 in read_snapshot(exchange, policy=PolicySettings()).irr


def test_too_many_origins_are_refused(exchange: Path) -> None:
    assert MAX_ORIGINS == 100_000
    edit_irr(exchange, origins=list(range(200_000, 200_000 + MAX_ORIGINS + 1)))
    with pytest.raises(NoSnapshot, match="100001 origin ASNs, more than 100000"):
        read_snapshot(exchange)


def test_too_many_entries_are_refused(exchange: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_LIST_ENTRIES == 2_000_000
    monkeypatch.setattr(rsgen.plausible, "MAX_LIST_ENTRIES", 3)
    edit_irr(exchange, ipv4=[f"39.32.{n}.0/24" for n in range(4)])
    with pytest.raises(NoSnapshot, match="4 ipv4 entries, more than 3"):
        read_snapshot(exchange)


def test_screen_drops_what_build_refuses_and_keeps_the_rest() -> None:
    data = IrrData((parse_as_set("AS-X"),), (3333, 64512, 65551),
                   tuple(PrefixRange.parse(p) for p in ("4.0.0.0/6", "193.0.0.0/21")),
                   tuple(PrefixRange.parse(p) for p in ("2000::/8", "2001:67c:2e8::/48")))
    screened = screen(data, PolicySettings())
    assert screened.failure is None
    assert screened.data.origins == (3333,)
    assert [p.bird() for p in screened.data.ipv4] == ["193.0.0.0/21"]
    assert [p.bird() for p in screened.data.ipv6] == ["2001:67c:2e8::/48"]
    assert screened.dropped == (
        "origin AS64512 (AS64512 is not a public ASN (private use (RFC 6996)))",
        "origin AS65551 (AS65551 is not a public ASN (documentation (RFC 5398)))",
        "4.0.0.0/6 (prefix length 6 is shorter than policy.ipv4_min_length 8)",
        "2000::/8 (prefix length 8 is shorter than policy.ipv6_min_length 12)")
    only_private = IrrData(data.objects, (64512,), data.ipv4, data.ipv6)
    assert screen(only_private, PolicySettings()).failure == (
        "IRR returns no public origin ASNs: origin AS64512 (AS64512 is not a public ASN "
        "(private use (RFC 6996)))")


def test_refresh_drops_short_route_objects_and_bogon_origins_with_a_warning(
        tmp_path: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """bgpq4 passes a /7 route object and a private origin through; refresh must not write
    them (build would refuse its own snapshot), and says so for that member."""
    # bgpq4 itself leaves out private ASNs (64512-65534, 4200000000-): not AS_TRANS.
    odd = RPSL.replace("members: AS2121\n", "members: AS2121, AS23456\n") + (
        "\nroute: 24.0.0.0/7\norigin: AS3333\nsource: RIPE\n"
        "\nroute6: 2a00::/11\norigin: AS3333\nsource: RIPE\n")
    assert odd != RPSL
    sources = start_sources(make_irr_server, make_peeringdb_server, odd)
    exchange = make_exchange(tmp_path / "ix")
    report = sources.refresh(exchange)
    assert sorted(report.updated) == [3333, 10745]
    warning = report.warnings[3333]
    assert "dropped 3 IRR entries build would refuse: origin AS23456 (AS23456 is not a " \
        "public ASN (AS_TRANS (RFC 6793)))" in warning
    assert "24.0.0.0/7 (prefix length 7 is shorter than policy.ipv4_min_length 8)" in warning
    assert "2a00::/11 (prefix length 11 is shorter than policy.ipv6_min_length 12)" in warning
    irr = read_json(exchange / "snapshot" / "irr" / "AS3333.json")
    assert irr["origins"] == [2121, 3333]
    assert not any(p.startswith(("24.0.0.0", "2a00::/11")) for p in irr["ipv4"] + irr["ipv6"])
    assert build(exchange, tmp_path / "out", offline=True).written  # its own data: accepted


def test_doctests_of_the_bounds_and_the_file_names() -> None:
    for module in (rsgen.plausible, rsgen.snapshot):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# Each bogon range's edges, the ends of the ASN space, and ordinary ASNs.
_ORIGIN_EDGES = sorted({n for low, high, _why in rsgen.values.BOGON_ASN_RANGES
                        for n in (low - 1, low, high, high + 1)} | {-1, 1, 3333, MAX_ASN,
                                                                   MAX_ASN + 1})


@settings(deadline=None, max_examples=500)
@given(st.lists(st.one_of(st.sampled_from(_ORIGIN_EDGES), st.integers(-2, 2**33)), max_size=8),
       st.booleans())
def test_the_first_implausible_origin_is_found_as_by_testing_each(origins: list[int],
                                                                  ordered: bool) -> None:
    """The binary search over sorted origins names the origin a scan of each would."""
    if ordered:
        origins = sorted(set(origins))
    scanned = next((asn for asn in origins if rsgen.plausible.origin_problem(asn)), None)
    assert rsgen.plausible._first_implausible_origin(origins) == scanned
