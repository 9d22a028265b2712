"""Member-file options: extra next hops (next_hops), more-specifics of registered prefixes
(irr.more_specifics), IRR tag mode (irr.mode) and ADD-PATH (add_path): what load accepts, and
what the plan and the configs make of them."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import IrrData, Member, PolicySettings, Session
from rsgen.policy import accepted_prefixes
from rsgen.values import PrefixRange
from tests.helpers import REPO, build_tree, copy_example, source_settings
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
    ("add_path: sometimes\n", "add_path"),
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
                                              "irr: {more_specifics: true, mode: tag}\n"
                                              "add_path: true\n"))
    member = next(m for m in config.members if m.asn == 3333)
    assert member.irr_tag and member.add_path
    other = next(m for m in config.members if m.asn == 10745)
    assert not other.irr_tag and not other.add_path
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


def test_add_path_only_on_the_sessions_of_members_that_ask(tmp_path: Path) -> None:
    """AS38193 of the example sets add_path: each of its channels sends every path, nobody
    else's does (bird -p accepts the config: build runs it)."""
    directory = copy_example(tmp_path / "ix")
    build(directory, offline=True, settings=source_settings())
    config = (directory / "out" / "rs1.conf").read_text(encoding="utf-8")
    sessions = re.findall(r"protocol bgp (\S+) \{\n(.*?)\n\}", config, re.S)
    adding = {name for name, body in sessions if "        add paths tx;\n" in body}
    assert adding == {"AS38193_192_0_2_31", "AS38193_2001_db8_ffff__31"}
    assert all("add paths" not in body for name, body in sessions if name not in adding)


def test_the_speaker_never_plays_a_member_with_add_path() -> None:
    """rsgen's speaker cannot receive several paths: a member with add_path is simulated by
    BIRD (with `add paths rx`), even where it would otherwise be the speaker's choice."""
    from rsgen.verification.run import speaking_members

    members = {m.asn: m for m in load_checked(REPO).members}
    assert members[38193].add_path
    assert speaking_members([members[38193], members[45669]]) == {45669}
    assert speaking_members([members[38193]]) == set()
