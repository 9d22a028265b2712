"""BLACKHOLE (RFC 7999): what load accepts for `blackhole:`, the space a member may blackhole,
and what the configs say with the setting on, off, or on for one family only. What BIRD does
with it is verify's (tests/test_mutation.py breaks each part in turn)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import IrrData
from rsgen.policy import blackhole_prefixes
from rsgen.values import PrefixRange
from tests.helpers import build_tree, copy_example, filter_bodies, source_settings
from tests.test_refresh import EXCHANGE


def _exchange(tmp_path: Path, blackhole: str, member: str = "") -> Path:
    return build_tree(tmp_path / "ix", {
        "exchange.yml": EXCHANGE + blackhole,
        "members/AS3333.yml": f"asn: 3333\nname: A\n{member}sessions:\n  - ip: 198.51.100.33\n"
                              "  - ip: '2001:db8::33'\n",
    })


@pytest.mark.parametrize(("blackhole", "message"), [
    ("blackhole: {ipv4: 203.0.113.66}\n", "not a host address on the peering LAN"),
    ("blackhole: {ipv4: 198.51.100.0}\n", "not a host address on the peering LAN"),
    ("blackhole: {ipv4: 198.51.100.255}\n", "not a host address on the peering LAN"),
    ("blackhole: {ipv4: 198.51.100.1}\n", "the address of route server rs1"),
    ("blackhole: {ipv6: '2001:db8:1::66'}\n", "not a host address on the peering LAN"),
    ("blackhole: {ipv4: '2001:db8::66'}\n", "not an IPv4 address"),
    ("blackhole: {}\n", "blackhole"),
    ("blackhole: {ipv4: 198.51.100.66, colour: red}\n", "colour"),
])
def test_bad_blackhole_settings_are_refused_where_they_are(tmp_path: Path, blackhole: str,
                                                           message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_checked(_exchange(tmp_path, blackhole))
    problems = [str(p) for p in caught.value.problems]
    assert any(message in p and "exchange.yml:" in p for p in problems), problems


def test_a_blackhole_next_hop_is_no_members_router(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_checked(_exchange(tmp_path, "blackhole: {ipv4: 198.51.100.33}\n"))
    assert any("blackhole next hop 198.51.100.33 is a router of a member "
               "(members/AS3333.yml)" in str(p) for p in caught.value.problems)


def test_the_settings_reach_the_model(tmp_path: Path) -> None:
    config = load_checked(_exchange(tmp_path, "blackhole: {ipv6: '2001:db8::66'}\n",
                                    "blackhole: {receive: false}\n"))
    assert config.exchange.blackhole is not None
    assert config.exchange.blackhole.next_hop(4) is None
    assert config.exchange.blackhole.next_hop(6) == ipaddress.ip_address("2001:db8::66")
    assert not config.members[0].receives_blackholes
    with pytest.raises(InvalidInput):
        load_checked(_exchange(tmp_path / "b", "", "blackhole: {receive: maybe}\n"))


def test_a_member_may_blackhole_its_registered_space_down_to_host_routes() -> None:
    irr = IrrData((), (3333,), tuple(PrefixRange.parse(p) for p in (
        "10.0.0.0/8{16,16}", "10.1.0.0/16", "10.2.0.0/16{20,24}", "10.3.0.0/16",
        "192.0.2.0/24", "192.0.2.128/25")), (PrefixRange.parse("2001:db8::/32"),))
    assert [p.bird() for p in blackhole_prefixes(irr, 4)] == [
        # 10.1.0.0/16 and 10.3.0.0/16 are inside 10.0.0.0/8{16,32}; 10.2.0.0/16{20,24}
        # too (it admits nothing shorter than /16); so is 192.0.2.128/25 in 192.0.2.0/24.
        "10.0.0.0/8{16,32}", "192.0.2.0/24{24,32}"]
    assert [p.bird() for p in blackhole_prefixes(irr, 6)] == ["2001:db8::/32{32,128}"]
    # A wider registration that admits shorter lengths is never dropped for a narrower one.
    nested = IrrData((), (3333,), tuple(PrefixRange.parse(p) for p in (
        "10.0.0.0/8{24,24}", "10.0.0.0/16")), ())
    assert [p.bird() for p in blackhole_prefixes(nested, 4)] == [
        "10.0.0.0/8{24,32}", "10.0.0.0/16{16,32}"]


def _built(tmp_path: Path, blackhole: str | None) -> str:
    directory = copy_example(tmp_path / "ix")
    exchange = directory / "exchange.yml"
    text = exchange.read_text(encoding="utf-8")
    start = text.index("# BLACKHOLE (RFC 7999)")
    text = text[:start] + (blackhole or "")
    exchange.write_text(text, encoding="utf-8")
    build(directory, offline=True, settings=source_settings())
    return (directory / "out" / "rs1.conf").read_text(encoding="utf-8")


def test_without_the_setting_65535_666_is_an_ordinary_community(tmp_path: Path) -> None:
    config = _built(tmp_path, None)
    assert "blackhole" not in config.lower().replace("route 0.0.0.0/0 blackhole", "")
    assert re.search(r"if net.len < 8 \|\| net.len > 24 then", config)


def test_one_family_only(tmp_path: Path) -> None:
    """blackhole.ipv4 alone: IPv4 requests are taken, IPv6 ones meet the ordinary checks;
    bird -p accepts the result (build checks it)."""
    config = _built(tmp_path, "blackhole: {ipv4: 192.0.2.66}\n")
    assert "function blackhole_v4()" in config and "function blackhole_v6()" not in config
    assert "(net.len > 24 && !blackhole_request())" in config
    assert "net.len < 12 || net.len > 48 then" in config
    assert "AS23674_BLACKHOLE_V4" in config and "AS23674_BLACKHOLE_V6" not in config
    assert "    if blackhole_request() then blackhole_v4();\n" in config
    assert "blackhole_v6();" not in config


def test_the_example_takes_requests_and_one_member_refuses_them(tmp_path: Path) -> None:
    config = _built(tmp_path, "blackhole: {ipv4: 192.0.2.66, ipv6: '2001:db8:ffff::66'}\n")
    assert "    bgp_next_hop = 192.0.2.66;\n" in config
    assert "    bgp_next_hop = 2001:db8:ffff::66;\n" in config
    exports = filter_bodies(config, r"export_AS(\d+)")
    refusing = {asn for asn, body in exports.items()
                if "if blackhole_request() then reject;" in body}
    assert refusing == {"58453"}  # blackhole: {receive: false} in its member file
