"""Unit tests of the pure pieces: typed values, policy decisions, template filters, snapshot."""

from __future__ import annotations

import doctest
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rsgen.values
from rsgen.model import IrrData, MaxPrefixes, Member, PeeringDbNet, PolicySettings, Session
from rsgen.policy import choose_as_sets, max_prefixes, protocol_name
from rsgen.render import bird_int_set, bird_prefix_set, bird_string
from rsgen.snapshot import SnapshotMeta, read_snapshot, write_member, write_meta
from rsgen.values import (
    AsSetName,
    PrefixRange,
    bogon_asn_reason,
    parse_as_set,
    parse_as_set_list,
    safe_comment,
)


def _member(**changes: object) -> Member:
    base: dict[str, object] = {"asn": 3333, "name": "RIPE NCC",
                               "sessions": (Session(ipaddress.ip_address("192.0.2.33")),)}
    base.update(changes)
    return Member(**base)  # type: ignore[arg-type]


def _net(irr_as_set: str = "", p4: int | None = None, p6: int | None = None) -> PeeringDbNet:
    return PeeringDbNet(3333, "RIPE NCC", irr_as_set, p4, p6, False)


def test_value_doctests() -> None:
    """The examples in rsgen/values.py docstrings hold."""
    result = doctest.testmod(rsgen.values)
    assert result.attempted > 5 and result.failed == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("AS-FOO", "AS-FOO"), ("as-foo", "AS-FOO"), ("RIPE::AS-FOO", "RIPE::AS-FOO"),
    ("AS-FOO@RIPE", "RIPE::AS-FOO"), ("AS3333:AS-FOO:AS-BAR", "AS3333:AS-FOO:AS-BAR"),
    ("AS3333", "AS3333"), ("AS-FOO_BAR-2", "AS-FOO_BAR-2"),
])
def test_as_set_forms_peeringdb_holds_are_accepted(text: str, expected: str) -> None:
    """Every AS-SET notation found in PeeringDB parses to one canonical name."""
    assert str(parse_as_set(text)) == expected


@pytest.mark.parametrize("text", [
    "-oops", "AS-", "AS-FOO;rm", "AS FOO", "FOO", "AS-FOO@", "::AS-FOO", "AS-FOO@RI PE",
    "AS99999999999", "AS-$(id)", "AS-FOO\nAS-BAR", "AS-FOO/24", "x" * 200, "",
])
def test_malformed_as_sets_are_rejected(text: str) -> None:
    """Anything that is not an RPSL AS-SET name is refused before it can reach bgpq4."""
    with pytest.raises(ValueError):
        parse_as_set(text)


@given(st.text(max_size=60))
def test_parsed_as_sets_never_look_like_options(text: str) -> None:
    """Whatever PeeringDB holds, a parsed AS-SET is safe as a bgpq4 argument."""
    try:
        parsed = parse_as_set_list(text)
    except ValueError:
        return
    for name in parsed:
        rendered = str(name)
        assert not rendered.startswith("-")
        assert rendered.replace(":", "").replace("-", "").replace("_", "").isalnum()


@given(st.text(max_size=300))
def test_safe_comment_never_breaks_out(text: str) -> None:
    """Scrubbed text has no quote, backslash, brace, semicolon or line break."""
    cleaned = safe_comment(text)
    assert not set(cleaned) & set("\"\\{};\n\r")
    assert len(cleaned) <= 120


def test_bogon_asns() -> None:
    """Reserved, private and documentation ASNs are bogons; public ones are not."""
    for asn in (0, 23456, 64496, 64512, 65535, 65551, 100000, 4200000000, 4294967295):
        assert bogon_asn_reason(asn), asn
    for asn in (1, 3333, 17557, 58453, 131072, 399999, 4199999999):
        assert bogon_asn_reason(asn) is None, asn


def test_as_set_choice_order_and_fallback() -> None:
    """Member file beats PeeringDB; a malformed PeeringDB value falls back to the ASN."""
    own = choose_as_sets(_member(as_sets=(AsSetName("AS-MINE"),)), _net("AS-PDB"))
    assert own.objects == (AsSetName("AS-MINE"),) and own.origin == "member file"
    pdb = choose_as_sets(_member(), _net("RIPE::AS-PDB AS-TWO"))
    assert [str(o) for o in pdb.objects] == ["RIPE::AS-PDB", "AS-TWO"]
    bad = choose_as_sets(_member(), _net("AS-EVIL; drop"))
    assert bad.objects == (AsSetName("AS3333"),) and bad.warning
    assert choose_as_sets(_member(), None).objects == (AsSetName("AS3333"),)


def test_max_prefix_sources() -> None:
    """Limits come from the member file, else PeeringDB plus headroom, else the default."""
    policy = PolicySettings(default_max_prefixes_ipv4=7, max_prefix_headroom_percent=10)
    assert max_prefixes(_member(max_prefixes=MaxPrefixes(ipv4=5)), _net(p4=100), policy, 4) \
        == (5, "member file")
    assert max_prefixes(_member(), _net(p4=100), policy, 4) == (110, "PeeringDB 100 + 10%")
    assert max_prefixes(_member(), _net(p4=0), policy, 4) == (7, "exchange default")
    assert max_prefixes(_member(), None, policy, 6) == (50, "exchange default")


def test_protocol_names_are_stable_bird_symbols() -> None:
    """Protocol names come from ASN and address, fit BIRD's 64 characters, and are unique."""
    longest = Session(ipaddress.ip_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))
    name = protocol_name(_member(asn=4294967294), longest)
    assert len(name) <= 64 and name.replace("_", "").isalnum()
    a = protocol_name(_member(), Session(ipaddress.ip_address("2001:db8::1:0")))
    b = protocol_name(_member(), Session(ipaddress.ip_address("2001:db8::10")))
    assert a != b


def test_template_filters() -> None:
    """Sets render sorted, one prefix per line; strings are quoted and scrubbed."""
    prefixes = (PrefixRange.parse("192.0.2.0/24"), PrefixRange.parse("10.0.0.0/8{8,24}"))
    assert bird_prefix_set(sorted(prefixes)) == "[\n    10.0.0.0/8{8,24},\n    192.0.2.0/24\n]"
    assert bird_prefix_set(()) == "[]"
    assert bird_int_set([3, 1, 2, 1]) == "[\n    1, 2, 3\n]"
    assert bird_string('a"b\\c{') == '"a b c"'


def test_prefix_range_rejects_nonsense() -> None:
    """Prefix ranges must be network addresses with sane length bounds."""
    for text in ("192.0.2.1/24", "192.0.2.0/24{23,24}", "192.0.2.0/24{24,33}", "nope"):
        with pytest.raises(ValueError):
            PrefixRange.parse(text)


def test_snapshot_round_trip_is_sorted_and_stable(tmp_path: Path) -> None:
    """Snapshot files are sorted JSON; reading gives back what was written."""
    data = IrrData((AsSetName("AS-X"),), (3333, 2121),
                   (PrefixRange.parse("193.0.0.0/21"), PrefixRange.parse("10.0.0.0/8")),
                   (PrefixRange.parse("2001:67c:2e8::/48"),))
    write_meta(tmp_path, SnapshotMeta(example=True))
    changed = write_member(tmp_path, 3333, peeringdb=_net("AS-X", 30, 20), irr=data)
    assert len(changed) == 2
    assert write_member(tmp_path, 3333, peeringdb=_net("AS-X", 30, 20), irr=data) == []
    text = (tmp_path / "snapshot" / "irr" / "AS3333.json").read_text()
    assert text.index("10.0.0.0/8") < text.index("193.0.0.0/21")
    snapshot = read_snapshot(tmp_path)
    assert snapshot.example
    assert snapshot.irr[3333].origins == (2121, 3333)
    assert snapshot.peeringdb[3333].info_prefixes4 == 30


def test_default_max_shrink_matches_the_guard() -> None:
    """exchange.yml's default irr.max_shrink_percent is the guard's documented default."""
    from rsgen.guard import DEFAULT_MAX_SHRINK
    from rsgen.model import IrrSettings

    assert IrrSettings().max_shrink == DEFAULT_MAX_SHRINK
