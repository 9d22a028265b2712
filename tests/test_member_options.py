"""Member-file options: extra next hops (next_hops) and more-specifics of registered prefixes
(irr.more_specifics): what load accepts, and what the plan makes of them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import IrrData, Member, PolicySettings, Session
from rsgen.policy import accepted_prefixes
from rsgen.values import PrefixRange
from tests.helpers import build_tree
from tests.test_refresh import EXCHANGE


def _exchange(tmp_path: Path, extra: str, other: str = "") -> Path:
    return build_tree(tmp_path / "ix", {
        "exchange.yml": EXCHANGE,
        "members/AS3333.yml": f"asn: 3333\nname: A\n{extra}sessions:\n  - ip: 198.51.100.33\n",
        "members/AS10745.yml": f"asn: 10745\nname: B\n{other}sessions:\n  - ip: 198.51.100.45\n",
    })


@pytest.mark.parametrize(("extra", "message"), [
    ("next_hops: [203.0.113.9]\n", "next_hops: 203.0.113.9 is outside the peering LAN"),
    ("next_hops: [198.51.100.1]\n", "next_hops: 198.51.100.1 belongs to route server rs1"),
    ("next_hops: [198.51.100.33]\n", "already a session address of this member"),
    ("next_hops: [198.51.100.45]\n", "is a router of another member (members/AS10745.yml)"),
    ("next_hops: [not-an-address]\n", "is 'not-an-address', not an IP address"),
    ("irr: {more_specifics: yes please}\n", "more_specifics"),
    ("irr: {mode: lenient}\n", "mode"),
])
def test_bad_member_options_are_refused_where_they_are(tmp_path: Path, extra: str,
                                                        message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_checked(_exchange(tmp_path, extra))
    problems = [str(p) for p in caught.value.problems]
    assert any(message in p and "members/AS3333.yml" in p for p in problems), problems


def test_two_members_cannot_share_a_next_hop(tmp_path: Path) -> None:
    hop = "next_hops: [198.51.100.50]\n"
    with pytest.raises(InvalidInput) as caught:
        load_checked(_exchange(tmp_path, hop, hop))
    assert any("198.51.100.50 is a router of another member" in str(p)
               for p in caught.value.problems)


def test_options_reach_the_model(tmp_path: Path) -> None:
    config = load_checked(_exchange(tmp_path, "next_hops: ['2001:db8::50', 198.51.100.50]\n"
                                              "irr: {more_specifics: true, mode: tag}\n"))
    member = next(m for m in config.members if m.asn == 3333)
    assert member.irr_tag
    assert not next(m for m in config.members if m.asn == 10745).irr_tag
    assert member.extra_next_hops == (ipaddress.ip_address("198.51.100.50"),
                                      ipaddress.ip_address("2001:db8::50"))
    assert member.irr_more_specifics


def test_more_specifics_widen_but_never_narrow() -> None:
    irr = IrrData((), (3333,), tuple(PrefixRange.parse(p) for p in (
        "192.0.2.0/23", "198.51.100.0/24", "10.0.0.0/8{8,26}")), ())
    policy = PolicySettings(ipv4_max_length=24)
    plain = Member(3333, "A", (Session(ipaddress.ip_address("198.51.100.33")),))
    assert accepted_prefixes(plain, irr, policy, 4) == irr.ipv4
    wide = Member(3333, "A", plain.sessions, irr_more_specifics=True)
    assert [p.bird() for p in accepted_prefixes(wide, irr, policy, 4)] == [
        "10.0.0.0/8{8,26}", "192.0.2.0/23{23,24}", "198.51.100.0/24"]
